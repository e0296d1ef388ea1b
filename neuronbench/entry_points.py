"""Loading plug-ins from entry points: the one rule for methods (`neuronbench.registry`)
and datasets (`neuronbench.protocol.datasets`).

A built-in entry point (declared by neuronbench itself) that fails to load is a bug of
ours and raises; a third-party one that fails to load, resolves to the wrong type or
takes a name already registered is skipped with a warning on stderr naming it: one
broken package must not break every command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint
from typing import Any

from neuronbench.errors import NeuronbenchError

DISTRIBUTION = "neuronbench"


def declared_by_neuronbench(ep: EntryPoint) -> bool:
    """Whether an entry point is declared by neuronbench itself."""
    return ep.dist is not None and ep.dist.name == DISTRIBUTION


def load_registered(eps: Sequence[EntryPoint], *, group: str, cls: type, what: str,
                    is_builtin: Callable[[EntryPoint], bool], kinds: Sequence[str]) -> dict[str, Any]:
    """The ``cls`` objects the entry points ``eps`` of ``group`` resolve to, by name,
    ordered by kind (``kinds``), then name; ``what`` ("method", "dataset") for messages."""
    def source(ep: EntryPoint) -> str:
        return f"entry point {ep.name!r} ({ep.value}) of group {group!r}"

    def skip(ep: EntryPoint, why: str) -> None:
        print(f"neuronbench: warning: skipping the plug-in {what} of {source(ep)}: {why}", file=sys.stderr)

    builtins = [ep for ep in eps if is_builtin(ep)]
    if not builtins:
        raise NeuronbenchError(
            f"no built-in {what} is registered: the installed metadata of {DISTRIBUTION!r} has no entry "
            f"points of group {group!r} (an install older than its pyproject.toml?); reinstall it: pip install -e ."
        )
    found: dict[str, Any] = {}
    for ep in builtins:
        info = ep.load()
        if not isinstance(info, cls) or info.name in found or info.name != ep.name:
            raise NeuronbenchError(f"{source(ep)}: expected a new {cls.__name__} named {ep.name!r}, got {info!r}")
        found[info.name] = info
    for ep in sorted((ep for ep in eps if not is_builtin(ep)), key=lambda e: e.name):
        try:
            info = ep.load()
        except Exception as e:  # any error of third-party code: skip it, go on
            skip(ep, f"failed to load: {type(e).__name__}: {e}")
            continue
        if not isinstance(info, cls):
            skip(ep, f"expected a {cls.__module__}.{cls.__name__}, got {type(info).__name__}")
        elif info.name in found:
            skip(ep, f"a {what} named {info.name!r} is already registered")
        else:
            found[info.name] = info
    return dict(sorted(found.items(), key=lambda item: (kinds.index(item[1].kind), item[0])))
