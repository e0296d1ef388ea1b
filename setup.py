"""Package discovery (everything else is in pyproject.toml).

The folders ``methods/`` and ``baselines/`` install under the import names
``neuronbench_methods`` and ``neuronbench_baselines``: top-level packages named
``methods`` or ``baselines`` would collide with any other project that ships one.
pyproject.toml cannot express a renamed folder together with automatic discovery of its
subpackages, hence this file.
"""

from setuptools import find_packages, setup

RENAMED = {"neuronbench_methods": "methods", "neuronbench_baselines": "baselines"}

packages = find_packages(include=["neuronbench", "neuronbench.*"])
for name, folder in RENAMED.items():
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=RENAMED)
