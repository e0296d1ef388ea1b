"""A method's parameters, declared once: the constructor, `get_params` and ``repr``
derive from the declaration (scikit-learn's convention, without an ``__init__``
signature to keep in step with the presets).

The parameters of a `Params` subclass are its public annotated class attributes, each
documented by the comment beside it. They carry no values: the presets of the method's
`neuronbench.plugin.MethodInfo` are the one place a value is given, and the constructor
requires every parameter by keyword::

    class MyMethod(Params):
        dim: int      # embedding width
        lr: float     # Adam learning rate

    model = INFO.build(INFO.config("cpu"))     # or MyMethod(dim=32, lr=1e-3)

A default (``flag: bool = True``) is only for a parameter added after configs were
recorded: it is the behaviour before the parameter existed, and `get_params` leaves the
parameter out while it holds that value, so the recorded configs keep their hash.

Fitted state ends in ``_``, is set in ``fit`` only and is not a parameter; the
constructor does no work. The harness does not require this base: any class with a
keyword constructor, ``fit`` and ``embed`` is a method.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from neuronbench.errors import NeuronbenchError


class Params:
    """Base of a method whose parameters are its annotated class attributes."""

    _names: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: list[str] = []
        defaults: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):  # base classes first: their parameters lead
            for name in inspect.get_annotations(klass):
                if name.startswith("_") or name.endswith("_"):
                    continue
                if name not in names:
                    names.append(name)
                if name in vars(klass):
                    defaults[name] = vars(klass)[name]
                else:
                    defaults.pop(name, None)
        cls._names, cls._defaults = tuple(names), defaults

    def __init__(self, **params: Any) -> None:
        cls = type(self)
        unknown = sorted(set(params) - set(cls._names))
        if unknown:
            raise NeuronbenchError(f"{cls.__name__}: unknown parameter(s) {unknown}; "
                                   f"its parameters are {sorted(cls._names)}")
        missing = [n for n in cls._names if n not in params and n not in cls._defaults]
        if missing:
            raise NeuronbenchError(f"{cls.__name__}: missing parameter(s) {missing}; give every parameter "
                                   f"(build it from a preset: INFO.build(INFO.config(preset)))")
        for name in cls._names:
            setattr(self, name, params[name] if name in params else cls._defaults[name])

    def get_params(self) -> dict[str, Any]:
        """The config this model was built from: every parameter, except one left at its
        default (see the module docstring). ``type(m)(**m.get_params())`` is an unfitted copy."""
        out = {}
        for name in self._names:
            value = getattr(self, name)
            default = self._defaults.get(name, _NONE)
            if not (type(value) is type(default) and value == default):
                out[name] = value
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"


_NONE = object()  # no default
