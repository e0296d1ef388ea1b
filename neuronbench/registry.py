"""Where methods are found: entry points of the group ``neuronbench.methods``.

Every method, built-in or third-party, is an entry point that resolves to a `MethodInfo`
(a light object: loading it never imports torch). The built-in ones are declared in
neuronbench's own ``pyproject.toml``; a third-party package adds a method without editing
neuronbench the same way::

    [project.entry-points."neuronbench.methods"]
    mymethod = "my_package.meta:INFO"

The harness never imports a method package by name.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

from neuronbench.entry_points import declared_by_neuronbench, load_registered
from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import KINDS, MethodInfo

ENTRY_POINT_GROUP = "neuronbench.methods"


def is_builtin(ep: EntryPoint) -> bool:
    """Whether an entry point is declared by neuronbench itself."""
    return declared_by_neuronbench(ep)


@lru_cache(maxsize=1)
def all_methods() -> dict[str, MethodInfo]:
    """Every registered method by name, ordered by kind (`KINDS`: methods, baselines,
    controls), then name; a broken plug-in is skipped with a warning
    (`neuronbench.entry_points.load_registered`)."""
    return load_registered(list(entry_points(group=ENTRY_POINT_GROUP)), group=ENTRY_POINT_GROUP, cls=MethodInfo,
                           what="method", is_builtin=is_builtin, kinds=KINDS)


def get_method(name: str) -> MethodInfo:
    """The method called ``name``; an unknown name lists the valid ones."""
    methods = all_methods()
    if name not in methods:
        raise NeuronbenchError(f"unknown method {name!r}; choose from: {', '.join(sorted(methods))}")
    return methods[name]
