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

import sys
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points

from neuronbench.errors import NeuronbenchError
from neuronbench.plugin import DISTRIBUTION, KINDS, MethodInfo

ENTRY_POINT_GROUP = "neuronbench.methods"


def is_builtin(ep: EntryPoint) -> bool:
    """Whether an entry point is declared by neuronbench itself."""
    return ep.dist is not None and ep.dist.name == DISTRIBUTION


@lru_cache(maxsize=1)
def all_methods() -> dict[str, MethodInfo]:
    """Every registered method by name, ordered by kind (`KINDS`: methods, baselines,
    controls), then name.

    A built-in that fails to load is a bug of ours: it raises. A plug-in that fails to load,
    is not a `MethodInfo` or takes a name already registered is skipped with a warning on
    stderr naming its entry point: one broken package must not break every command."""
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    builtins = [ep for ep in eps if is_builtin(ep)]
    if not builtins:
        raise NeuronbenchError(
            f"no built-in method is registered: the installed metadata of {DISTRIBUTION!r} has no entry "
            f"points of group {ENTRY_POINT_GROUP!r} (an install older than its pyproject.toml?); "
            "reinstall it: pip install -e ."
        )
    found: dict[str, MethodInfo] = {}
    for ep in builtins:
        info = ep.load()
        if not isinstance(info, MethodInfo) or info.name in found or info.name != ep.name:
            raise NeuronbenchError(f"{_source(ep)}: expected a new MethodInfo named {ep.name!r}, got {info!r}")
        found[info.name] = info
    for ep in sorted((ep for ep in eps if not is_builtin(ep)), key=lambda e: e.name):
        try:
            info = ep.load()
        except Exception as e:  # any error of third-party code: skip it, go on
            _skip(ep, f"failed to load: {type(e).__name__}: {e}")
            continue
        if not isinstance(info, MethodInfo):
            _skip(ep, f"expected a neuronbench.plugin.MethodInfo, got {type(info).__name__}")
        elif info.name in found:
            _skip(ep, f"a method named {info.name!r} is already registered")
        else:
            found[info.name] = info
    return dict(sorted(found.items(), key=lambda item: (KINDS.index(item[1].kind), item[0])))


def _source(ep: EntryPoint) -> str:
    return f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP!r}"


def _skip(ep: EntryPoint, why: str) -> None:
    print(f"neuronbench: warning: skipping the plug-in method of {_source(ep)}: {why}", file=sys.stderr)


def get_method(name: str) -> MethodInfo:
    """The method called ``name``; an unknown name lists the valid ones."""
    methods = all_methods()
    if name not in methods:
        raise NeuronbenchError(f"unknown method {name!r}; choose from: {', '.join(sorted(methods))}")
    return methods[name]
