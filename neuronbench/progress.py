"""Signs of life while a grid runs: one bar for the runs, and one bar per phase below it.

The runner turns reporting on (`reporting`) for the grid it runs in this process; a
method, a simulation or a loader then wraps its long loops in `steps`::

    from neuronbench import progress

    for epoch in progress.steps(self.epochs, "mymethod: fit epochs", unit="epoch"):
        ...

`steps` shows a bar with rate and ETA below the runs bar while the loop runs (and
removes it when done), or returns the iterable unchanged when reporting is off: under
``--no-progress``, when stderr is not a terminal, in Dask workers, and whenever a method
is used outside the runner. `status` names the phase in progress on the runs bar (for
phases without a loop of their own: loading data, probing). Plug-ins need to know
nothing about tqdm.

The switch is a context variable, so it holds for the code the runner calls and for
nothing else.
"""

from __future__ import annotations

import contextlib
import contextvars
import operator
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

T = TypeVar("T")


@dataclass
class Reporter:
    """Where bars go: ``stream`` (stderr by default) and ``always`` (draw even when the
    stream is not a terminal; the tests use it). ``top`` is the runs bar, if any."""

    stream: IO[str] | None = None
    always: bool = False
    top: Any = None

    def bar(self, **kwargs: Any) -> Any:
        from tqdm import tqdm

        # tqdm's disable=None turns the bar off when the stream is not a terminal
        return tqdm(file=self.stream or sys.stderr, disable=False if self.always else None,
                    dynamic_ncols=True, **kwargs)


_REPORTER: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("neuronbench_progress", default=None)


@contextlib.contextmanager
def reporting(enabled: bool = True, reporter: Reporter | None = None) -> Iterator[Reporter | None]:
    """Within this block, `steps`, `status` and `runs_bar` draw (when ``enabled``: with
    ``reporter``, else the one already in force, else a new one on stderr)."""
    token = _REPORTER.set((reporter or _REPORTER.get() or Reporter()) if enabled else None)
    try:
        yield _REPORTER.get()
    finally:
        _REPORTER.reset(token)


def current() -> Reporter | None:
    """The reporter in force, or None when reporting is off."""
    return _REPORTER.get()


def steps(iterable_or_total: Iterable[T] | int, desc: str, *, total: int | None = None,
          unit: str = "step") -> Iterable[T]:
    """``iterable_or_total`` (an int ``n`` means ``range(n)``) with a bar while reporting
    is on; unchanged otherwise. ``total`` is for iterables without a length."""
    iterable: Iterable[Any] = (iterable_or_total if hasattr(iterable_or_total, "__iter__")
                               else range(operator.index(iterable_or_total)))  # int or numpy integer
    reporter = _REPORTER.get()
    if reporter is None:
        return iterable
    return reporter.bar(iterable=iterable, desc=desc, total=total, unit=unit, leave=False)


def status(text: str) -> None:
    """Name the phase in progress on the runs bar (nothing when reporting is off)."""
    reporter = _REPORTER.get()
    if reporter is not None and reporter.top is not None:
        reporter.top.set_postfix_str(text, refresh=True)


@contextlib.contextmanager
def runs_bar(total: int, desc: str) -> Iterator[Any]:
    """The top bar (one step per run), closed however the block ends; a disabled bar
    when reporting is off."""
    reporter = _REPORTER.get()
    if reporter is None:
        from tqdm import tqdm

        bar = tqdm(total=total, disable=True)
    else:
        bar = reporter.bar(total=total, desc=desc, unit="run")
        reporter.top = bar
    try:
        yield bar
    finally:
        bar.close()
        if reporter is not None:
            reporter.top = None
