"""Where methods are found: the built-in ones and third-party plug-ins.

Built-in methods list their `MethodInfo` in ``methods.METHODS`` and ``baselines.METHODS``
(light modules: importing them never imports torch). A third-party package adds a method
without editing neuronbench by declaring an entry point in the group
``neuronbench.methods`` that resolves to a `MethodInfo`::

    [project.entry-points."neuronbench.methods"]
    mymethod = "my_package.meta:INFO"
"""

from __future__ import annotations

import importlib
import sys
from functools import lru_cache
from importlib.metadata import entry_points

from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import MethodInfo

ENTRY_POINT_GROUP = "neuronbench.methods"
BUILTIN_PACKAGES = ("methods", "baselines")


@lru_cache(maxsize=1)
def all_methods() -> dict[str, MethodInfo]:
    """Every registered method by name: built-ins first, then entry points. A plug-in that
    fails to load, is not a `MethodInfo` or takes a name already registered is skipped
    with a warning on stderr naming its entry point: one broken package must not break
    every command."""
    found: dict[str, MethodInfo] = {}
    for package in BUILTIN_PACKAGES:
        for info in importlib.import_module(package).METHODS:
            if not isinstance(info, MethodInfo) or info.name in found:  # a bug of ours: fail loudly
                raise NeuronbenchError(f"{package}.METHODS: {info!r} is not a new MethodInfo")
            found[info.name] = info
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        source = f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP!r}"
        try:
            info = ep.load()
        except Exception as e:  # any error of third-party code: skip it, go on
            _skip(source, f"failed to load: {type(e).__name__}: {e}")
            continue
        if not isinstance(info, MethodInfo):
            _skip(source, f"expected a neuronbench.plugin.MethodInfo, got {type(info).__name__}")
        elif info.name in found:
            _skip(source, f"a method named {info.name!r} is already registered")
        else:
            found[info.name] = info
    return found


def _skip(source: str, why: str) -> None:
    print(f"neuronbench: warning: skipping the plug-in method of {source}: {why}", file=sys.stderr)


def get_method(name: str) -> MethodInfo:
    """The method called ``name``; an unknown name lists the valid ones."""
    methods = all_methods()
    if name not in methods:
        raise NeuronbenchError(f"unknown method {name!r}; choose from: {', '.join(sorted(methods))}")
    return methods[name]
