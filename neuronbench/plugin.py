"""The method plug-in interface: a metadata record plus a small fit/embed protocol.

Following MTEB, a method is described by a light `MethodInfo` (importing it never
imports torch) that names a factory ``"module:attribute"``; the model code is imported
only when the method is built. The model follows scikit-learn's rules: the constructor
stores its keyword config and does no work, ``fit`` returns self, fitted state ends in
``_``.

The harness calls, for each (method config, pretraining set, seed)::

    model = info.build(info.config("cpu", device="auto"))
    model.fit(pretraining_recordings, seed=seed)               # labels removed
    table = model.embed(recordings)                            # neuron_id x dims

Supervised methods (``info.supervised``) also get ``labels=``: a Series indexed by
neuron_id holding the labels of the probe-train neurons only.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping, Sequence
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.settings import SETTINGS

if TYPE_CHECKING:  # pandas/Recording only for type hints: listing methods stays light
    import pandas as pd

    from neuronbench.data.recording import Recording

KINDS: tuple[str, ...] = ("method", "baseline", "control")


@runtime_checkable
class Method(Protocol):
    """What the harness calls. See the module docstring for the contract."""

    def fit(
        self, recordings: Sequence[Recording], *, seed: int, labels: pd.Series | None = None
    ) -> Method: ...

    def embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        """One row per unit of ``recordings``: index ``neuron_id``, float columns."""
        ...


@dataclass(frozen=True)
class MethodInfo:
    """Metadata of a method; everything the harness and the leaderboard need to know
    without importing the model.

    Attributes:
        name: registry key, lower case (``"nuclr"``).
        kind: ``"method"`` (new methods), ``"baseline"`` (published) or ``"control"``.
        summary: one line.
        paper: citation, or None for controls.
        factory: ``"module:attribute"`` of a class (or function) called with the config.
        presets: named configs; ``"cpu"`` is required (a laptop-sized budget),
            ``"paper"`` where published, ``"tiny"`` optional (a seconds-long smoke run,
            used by the tests).
        modalities: input modalities it runs on (``"spikes"``, ``"calcium"``).
        requires: extra fields it needs (``"waveforms"``).
        settings: the settings of `SETTINGS` it supports.
        na_reasons: why, for each unsupported setting (shown in the leaderboard).
        supervised: receives probe-train labels in ``fit``.
        extras: pip extras it needs (``"torch"``).
    """

    name: str
    kind: str
    summary: str
    factory: str
    presets: Mapping[str, Mapping[str, Any]]
    paper: str | None = None
    modalities: tuple[str, ...] = ("spikes", "calcium")
    requires: tuple[str, ...] = ()
    settings: tuple[str, ...] = SETTINGS
    na_reasons: Mapping[str, str] = field(default_factory=dict)
    supervised: bool = False
    extras: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise NeuronbenchError(f"method {self.name!r}: field 'kind': expected one of {KINDS}, got {self.kind!r}")
        if "cpu" not in self.presets:
            raise NeuronbenchError(f"method {self.name!r}: field 'presets': a 'cpu' preset is required")
        unknown = set(self.settings) - set(SETTINGS)
        if unknown:
            raise NeuronbenchError(f"method {self.name!r}: field 'settings': unknown {sorted(unknown)}")

    def config(self, preset: str = "cpu", device: str | None = None, **overrides: Any) -> dict[str, Any]:
        """The config of a preset, with overrides. ``device`` is set only for methods
        whose presets have a ``device`` key (the ones that use torch)."""
        if preset not in self.presets:
            raise NeuronbenchError(
                f"method {self.name!r} has no preset {preset!r}; choose from {sorted(self.presets)}"
            )
        cfg = dict(self.presets[preset])
        unknown = set(overrides) - set(cfg)
        if unknown:
            raise NeuronbenchError(f"method {self.name!r}: unknown config keys {sorted(unknown)}; known: {sorted(cfg)}")
        cfg.update(overrides)
        if device is not None and "device" in cfg:
            cfg["device"] = device
        return cfg

    def ablation(self, name: str, summary: str, **changes: Any) -> MethodInfo:
        """The same method under another name with ``changes`` applied to every preset
        (an ablation on the leaderboard, e.g. ``nuclr-nospatial``)."""
        presets = {k: {**preset, **changes} for k, preset in self.presets.items()}
        return dataclasses.replace(self, name=name, summary=summary, presets=presets)

    def build(self, config: Mapping[str, Any] | None = None) -> Method:
        """Import the factory and construct the method with ``config`` (default: the
        ``cpu`` preset); make configs with `config`."""
        module_name, _, attr = self.factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except ImportError as e:
            hint = f" (install the extra: pip install 'neuronbench[{','.join(self.extras)}]')" if self.extras else ""
            raise NeuronbenchError(f"method {self.name!r} could not be imported: {e}{hint}") from None
        return factory(**(self.config("cpu") if config is None else config))

    def why_not(self, setting: str, modality: str, available: Sequence[str] = ()) -> str | None:
        """None if the method can run; else the reason it cannot (for "N/A")."""
        if setting not in self.settings:
            return self.na_reasons.get(setting, f"{self.name} does not support the {setting} setting")
        if modality not in self.modalities:
            return f"{self.name} needs {' or '.join(self.modalities)} data, not {modality}"
        missing = [r for r in self.requires if r not in available]
        if missing:
            return f"{self.name} needs {', '.join(missing)}, which this dataset does not have"
        return None


def config_hash(config: Mapping[str, Any]) -> str:
    """A short, stable hash of a config (the device is not part of a method's identity)."""
    ident = {k: v for k, v in config.items() if k != "device"}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]
