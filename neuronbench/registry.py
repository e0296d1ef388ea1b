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
from functools import lru_cache
from importlib.metadata import entry_points

from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import MethodInfo

ENTRY_POINT_GROUP = "neuronbench.methods"
BUILTIN_PACKAGES = ("methods", "baselines")


@lru_cache(maxsize=1)
def all_methods() -> dict[str, MethodInfo]:
    """Every registered method by name: built-ins first, then entry points."""
    found: dict[str, MethodInfo] = {}

    def add(info: object, source: str) -> None:
        if not isinstance(info, MethodInfo):
            raise NeuronbenchError(f"{source}: expected a neuronbench.plugin.MethodInfo, got {type(info).__name__}")
        if info.name in found:
            raise NeuronbenchError(f"{source}: a method named {info.name!r} is already registered")
        found[info.name] = info

    for package in BUILTIN_PACKAGES:
        for info in importlib.import_module(package).METHODS:
            add(info, f"{package}.METHODS")
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            info = ep.load()
        except Exception as e:  # a broken plug-in must not break the harness
            raise NeuronbenchError(f"entry point {ep.name!r} ({ep.value}) failed to load: {e}") from None
        add(info, f"entry point {ep.name!r} ({ep.value})")
    return found


def get_method(name: str) -> MethodInfo:
    """The method called ``name``; an unknown name lists the valid ones."""
    methods = all_methods()
    if name not in methods:
        raise NeuronbenchError(f"unknown method {name!r}; choose from: {', '.join(sorted(methods))}")
    return methods[name]
