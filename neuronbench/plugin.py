"""The method plug-in contract, all of it: a metadata record plus a small fit/embed protocol.

Following MTEB, a method is described by a light `MethodInfo` (importing it never
imports torch) that names a factory ``"module:attribute"``; the model code is imported
only when the method is built. The harness calls, for each (config, pretraining set, seed)::

    model = info.build(info.config(preset, device=device))
    model = model.fit(pretraining_recordings, seed=seed)       # labels removed
    table = model.embed(recordings)                            # neuron_id x dims

The model follows scikit-learn's rules: the constructor stores its keyword config and
does no work; ``fit`` returns self (the harness refuses anything else); fitted state ends
in ``_``. Supervised methods (``info.supervised``) also get ``labels=``: a Series indexed
by neuron_id holding the labels of the probe-train neurons only.

Torch is declared, never inferred: a method with ``uses_torch=True`` has a ``device`` key
in every preset, which the harness sets from ``--device`` (``"auto"``, ``"cpu"``,
``"cuda"``), and its fitted model exposes ``device_``, the device it ran on (``"cpu"``,
``"cuda:0"``), written into the record. Any other method runs on the CPU: the harness
never sets its config (a key of its own named ``device`` included) and records ``"cpu"``.
The ``device`` key is never part of a config's identity (`config_hash`).

The training budget is declared, too: ``budget_keys`` names the config keys that count
training (epochs, steps, iterations, the epochs of a step schedule, test-time
optimisation steps). ``neuronbench run --budget B`` multiplies each by B
(`MethodInfo.scale_budget`), rounded to a whole count, or, for the keys it names in
``fractional_keys``, exactly (NuCLR's epochs: a fraction of an epoch trains a prefix of its
batches); budget 1 is the preset itself. A method without ``budget_keys`` (a control) has
no training budget and runs at budget 1 only.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from neuronbench.entry_points import DISTRIBUTION
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
    ) -> Method:
        """Learn from ``recordings`` (labels removed); return self."""
        ...

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
        uses_torch: runs on PyTorch: every preset has a ``device`` key, set by the harness,
            and the fitted model exposes ``device_`` (the module docstring).
        extras: extras of neuronbench it needs (``"torch"``), checked before a grid starts.
        budget_keys: the config keys that count its training (``("epochs",)``): each is a
            positive integer, or a tuple of them (the epochs of a step schedule), in every
            preset; `scale_budget` multiplies them by the budget. Empty: no training
            budget (controls).
        fractional_keys: the budget keys that train a fraction of their unit too (a
            fraction of an epoch: a prefix of its batches), scaled without rounding to a
            whole count.
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
    uses_torch: bool = False
    extras: tuple[str, ...] = ()
    budget_keys: tuple[str, ...] = ()
    fractional_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise NeuronbenchError(f"method {self.name!r}: field 'kind': expected one of {KINDS}, got {self.kind!r}")
        if "cpu" not in self.presets:
            raise NeuronbenchError(f"method {self.name!r}: field 'presets': a 'cpu' preset is required")
        unknown = set(self.settings) - set(SETTINGS)
        if unknown:
            raise NeuronbenchError(f"method {self.name!r}: field 'settings': unknown {sorted(unknown)}")
        no_device = [k for k, preset in self.presets.items() if "device" not in preset]
        if self.uses_torch and no_device:
            raise NeuronbenchError(f"method {self.name!r}: field 'presets': a method with uses_torch=True needs a "
                                   f"'device' key in every preset; {no_device} have none")
        for key in self.budget_keys:
            for preset_name, preset in self.presets.items():
                if key not in preset or not _is_count(preset[key]):
                    raise NeuronbenchError(
                        f"method {self.name!r}: field 'budget_keys': {key!r} must be a positive integer (or a tuple "
                        f"of them) in every preset; preset {preset_name!r} has {preset.get(key, 'no such key')!r}")
        not_budget = set(self.fractional_keys) - set(self.budget_keys)
        if not_budget:
            raise NeuronbenchError(f"method {self.name!r}: field 'fractional_keys': {sorted(not_budget)} are not "
                                   f"in budget_keys {self.budget_keys}")

    def config(self, preset: str = "cpu", device: str | None = None, **overrides: Any) -> dict[str, Any]:
        """The config of a preset, with overrides. ``device`` is set for methods that
        use torch only (``uses_torch``); the others run on the CPU."""
        if preset not in self.presets:
            raise NeuronbenchError(
                f"method {self.name!r} has no preset {preset!r}; choose from {sorted(self.presets)}"
            )
        cfg = dict(self.presets[preset])
        unknown = set(overrides) - set(cfg)
        if unknown:
            raise NeuronbenchError(f"method {self.name!r}: unknown config keys {sorted(unknown)}; known: {sorted(cfg)}")
        cfg.update(overrides)
        if device is not None and self.uses_torch:
            cfg["device"] = device
        return cfg

    def scale_budget(self, config: Mapping[str, Any], budget: float) -> dict[str, Any]:
        """``config`` at ``budget`` times its training: each of `budget_keys` multiplied by
        ``budget`` and rounded to the nearest integer (halves up), at least 1, or, for
        `fractional_keys`, not rounded; a tuple element by element. Budget 1 returns
        ``config`` unchanged (the same hash); a method without `budget_keys` accepts budget
        1 only."""
        check_budget(budget)
        if budget == 1:
            return dict(config)
        if not self.budget_keys:
            raise NeuronbenchError(f"--budget {budget:g}: {self.name} ({self.kind}) declares no training budget "
                                   "(budget_keys): it runs at budget 1 only; leave it out of a --budget run")
        out = dict(config)
        for key in self.budget_keys:
            value, scale = config[key], scale_fraction if key in self.fractional_keys else scale_count
            out[key] = (type(value)(scale(v, budget) for v in value) if isinstance(value, (tuple, list))
                        else scale(value, budget))
        return out

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

    def missing_extras(self) -> dict[str, list[str]]:
        """Each of its `extras` with requirements not installed: those requirements, as
        neuronbench's package metadata states them (``{"torch": ["torch<3,>=2.4"]}``)."""
        missing = {extra: [r for r in extra_requirements(extra) if not _installed(r)] for extra in self.extras}
        return {extra: reqs for extra, reqs in missing.items() if reqs}

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


def fitted(info: MethodInfo, model: Method, returned: object) -> Method:
    """``model`` after ``returned = model.fit(...)``: ``fit`` returns self, and a torch
    method's fitted model says where it ran (``device_``, a str); else an error."""
    if returned is not model:
        raise NeuronbenchError(f"method {info.name!r}: fit returned {type(returned).__name__}, expected the "
                               "model itself (fit ends with `return self`)")
    if info.uses_torch and not isinstance(getattr(model, "device_", None), str):
        raise NeuronbenchError(f"method {info.name!r} declares uses_torch=True, but its fitted model has no "
                               "device_ (the device it ran on, a str such as 'cpu' or 'cuda:0')")
    return model


def check_environment(infos: Sequence[MethodInfo], device: str) -> None:
    """Refuse, before any record is written, a grid that cannot run as asked here: a
    method whose extra is not installed; ``--device cuda`` without CUDA, or for methods
    none of which uses torch (torch is imported only then). In a grid of torch and other
    methods, ``--device cuda`` applies to the torch ones; a note on stderr says so."""
    for info in infos:
        missing = info.missing_extras()
        if missing:
            reqs = [r for rs in missing.values() for r in rs]
            torch = [r for r in reqs if re.match(r"torch\b(?![.-])", r)]
            raise NeuronbenchError(
                f"method {info.name!r} needs {', '.join(reqs)}, which is not installed: "
                f"pip install 'neuronbench[{','.join(missing)}]'"
                + (f" (on a machine without a GPU, install the CPU build of {torch[0]} first, from "
                   "https://download.pytorch.org/whl/cpu: PyPI's torch is the multi-GB CUDA build)" if torch else ""))
    if not device.startswith("cuda"):
        return
    on_torch = [i.name for i in infos if i.uses_torch]
    others = [i.name for i in infos if not i.uses_torch]
    if not on_torch:
        raise NeuronbenchError(f"--device {device}: {_cpu_only(others)}; --device places torch methods only "
                               "(`neuronbench list methods` says which): leave it out, or use auto or cpu")
    try:
        import torch
    except ImportError:  # a plug-in that declares uses_torch without the torch extra
        raise NeuronbenchError(f"--device {device}: torch is not installed (needed by {', '.join(on_torch)}): "
                               "pip install 'neuronbench[torch]'") from None
    if not torch.cuda.is_available():
        raise NeuronbenchError(f"--device {device}: CUDA is not available on this machine "
                               f"(needed by {', '.join(on_torch)}); use --device auto or cpu")
    if others:
        print(f"neuronbench: note: --device {device} places the torch methods ({', '.join(on_torch)}); "
              f"{_cpu_only(others)}", file=sys.stderr)


def _cpu_only(names: Sequence[str]) -> str:
    one = len(names) == 1
    return f"{', '.join(names)} {'does' if one else 'do'} not use torch and {'runs' if one else 'run'} on the CPU"


def device_of(info: MethodInfo, model: Method) -> str:
    """Where a fitted model ran: its ``device_`` for a torch method, else ``"cpu"``."""
    return str(model.device_) if info.uses_torch else "cpu"  # type: ignore[attr-defined]


def extra_requirements(extra: str) -> list[str]:
    """The requirements of neuronbench's pip ``extra`` (``"torch>=2.4,<3"``), read from
    its installed metadata; without metadata, a package named like the extra."""
    import importlib.metadata

    try:
        requires = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    found = [r.split(";")[0].strip() for r in requires if marker.search(r)]
    return found or [extra]


def _installed(requirement: str) -> bool:
    """Whether the package of ``requirement`` is installed (importable or a distribution)."""
    import importlib.metadata
    import importlib.util

    name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)  # type: ignore[union-attr]
    if importlib.util.find_spec(name.lower().replace("-", "_")) is not None:
        return True
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def check_budget(budget: float) -> None:
    """Refuse a budget that is not a positive, finite number."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget < math.inf:
        raise NeuronbenchError(f"budget: expected a positive number (a multiple of the preset's training, "
                               f"such as 0.25, 1 or 4), got {budget!r}")


def scale_count(count: int, budget: float) -> int:
    """A training count (epochs, steps) at ``budget`` times: rounded to the nearest integer,
    halves up, and at least 1."""
    return max(1, math.floor(count * budget + 0.5))


def scale_fraction(count: int, budget: float) -> int | float:
    """A training count that may be fractional (epochs of which a prefix can be trained)
    at ``budget`` times: exact, an integer when whole (so 2 x 4 is the config value 8)."""
    scaled = count * budget
    return int(scaled) if float(scaled).is_integer() else scaled


def _is_count(value: Any) -> bool:
    def one(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1
    return one(value) or (isinstance(value, (tuple, list)) and len(value) > 0 and all(one(v) for v in value))


def config_hash(config: Mapping[str, Any]) -> str:
    """A short, stable hash of a config (the device is not part of a method's identity)."""
    ident = {k: v for k, v in config.items() if k != "device"}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]
