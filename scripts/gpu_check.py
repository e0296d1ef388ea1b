"""Check a CUDA GPU: every torch method's ``paper`` preset trains a few steps on it, and
its embedding matches the CPU's.

For each registered method that uses torch (`_torch_methods`), on the tiny synthetic
spike recordings of `neuronbench.testing` (the recordings of one animal):

1. fit the ``paper`` preset on CUDA for a few optimiser steps (`few_steps_config`: only
   the keys that set the number of steps or epochs change), under the bf16 autocast the
   methods use on CUDA (`neuronbench.device.autocast`); count the optimiser steps and
   time each one (`StepClock`), measure the peak CUDA memory of the fit;
2. compute a forward pass of the fitted model on CUDA, move the model to the CPU
   (`move_fitted`) and compute it again, both in float32 without autocast or TF32
   (`neuronbench.device.full_precision`); the largest difference, relative to the
   largest value (`relative_difference`), must be at most `RTOL`.

``RTOL`` = 1e-4: CUDA and the CPU sum in different orders (cuBLAS / cuDNN against
oneDNN / MKL kernels). In float32 that moves a product of 256-term sums by 3e-7 of its
scale (a few layers: expected well under 1e-5); the same product with TF32 inputs is off
by 3e-4 and in bf16 by 3e-3 (tests/test_cuda.py). So TF32 or bf16 left on anywhere in
the forward pass, or a wrong kernel, exceeds the tolerance; reordering alone should not.

The forward pass is the method's ``embed`` on the fit recordings, except for NeuPRINT,
whose ``embed`` optimises fresh embeddings with dropout on (random draws that differ
between the devices): there it is the dynamics model's reconstruction of one fixed
masked batch with the fitted embeddings, in evaluation mode (`_neuprint_forward`).

Steps/s is one over the median time between consecutive optimiser steps (setup, data
preparation and the first step's CUDA warm-up do not count; NeurPIR's steps include its
CEBRA encoder's). Peak memory is ``torch.cuda.max_memory_allocated`` during the fit, on
the tiny data: a lower bound for real datasets, where batches fill up.

    python scripts/gpu_check.py                       # every torch method
    python scripts/gpu_check.py --methods nuclr,nemo --steps 20

Without CUDA it prints one line saying so and exits 0 (nothing to check). Exit status 1
if a method fails or its CPU and CUDA outputs differ by more than ``RTOL``. The same
checks run as tests: ``python -m pytest -m cuda`` (skipped, "no CUDA device", without one).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from neuronbench.plugin import MethodInfo
from neuronbench.registry import all_methods

PRESET = "paper"
STEPS = 10
RTOL = 1e-4
SEED = 0


def _torch_methods() -> list[str]:
    """Names of the registered methods that declare torch (`MethodInfo.uses_torch`), in
    registry order. Listing them does not import torch."""
    return [name for name, info in all_methods().items() if info.uses_torch]


def few_steps_overrides(preset: Mapping[str, Any], steps: int) -> dict[str, Any]:
    """The config keys that make a fit of ``preset`` train ``steps`` optimiser steps on the
    tiny data, told apart by the keys each torch method's presets have; an error for a
    config this does not know. An epoch there is one batch (fewer units, or window pairs,
    than any preset's batch)."""
    if "epochs_spikes" in preset:  # nuclr
        return {"epochs_spikes": steps, "epochs_calcium": steps}
    if "cebra_iterations" in preset:  # neurpir: CEBRA's 2 steps, then the encoder's
        return {"steps": steps, "cebra_iterations": 2}
    if "steps_per_epoch" in preset:  # neuprint: one epoch, no validation batches between steps
        return {"epochs": 1, "steps_per_epoch": steps, "val_steps": 0}
    if "epochs" in preset:  # nemo, lolcat
        return {"epochs": steps}
    raise ValueError(f"no known key sets the training length of the config with keys {sorted(preset)}: "
                     "add its method to few_steps_overrides")


def few_steps_config(info: MethodInfo, steps: int = STEPS, preset: str = PRESET,
                     device: str = "cuda") -> dict[str, Any]:
    """The config of ``preset`` on ``device``, changed only to train ``steps`` steps."""
    return info.config(preset, device=device, **few_steps_overrides(info.presets[preset], steps))


class StepClock:
    """Counts optimiser steps (every torch optimiser, through a global post-step hook)
    and the time of each, after synchronising CUDA so that a step's time is its own."""

    def __init__(self) -> None:
        self.times: list[float] = []

    @property
    def steps(self) -> int:
        return len(self.times)

    def steps_per_s(self) -> float:
        """One over the median time between consecutive steps; NaN below two steps."""
        gaps = np.diff(self.times)
        return 1.0 / statistics.median(gaps) if len(gaps) else float("nan")

    @contextmanager
    def running(self) -> Iterator[StepClock]:
        import torch
        from torch.optim.optimizer import register_optimizer_step_post_hook

        def tick(*_: Any) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())

        handle = register_optimizer_step_post_hook(tick)
        try:
            yield self
        finally:
            handle.remove()


def fit_recordings() -> list:
    """The tiny synthetic spike recordings (with waveforms and behaviour) of the animal
    `neuronbench.testing` fits on."""
    from neuronbench.testing import FIT_ANIMALS, recordings

    return [r for r in recordings("spikes") if r.animal in FIT_ANIMALS]


def fit(info: MethodInfo, config: Mapping[str, Any], recs: Sequence, seed: int = SEED):
    """A model built from ``config`` and fitted as the harness does (labels removed; a
    supervised method gets the probe-train labels)."""
    from neuronbench.testing import probe_train_labels

    model = info.build(config)
    bare = [r.without_labels() for r in recs]
    if info.supervised:
        return model.fit(bare, seed=seed, labels=probe_train_labels(recs))
    return model.fit(bare, seed=seed)


def move_fitted(model: Any, device: str) -> Any:
    """Move a fitted model to ``device`` in place: its fitted modules and tensors (the
    attributes ending in ``_``), its ``device_`` and any fitted ``torch.device``.
    Other fitted objects (NeurPIR's CEBRA encoder of the surround) stay where they are."""
    import torch

    target = torch.device(device)
    for name, value in list(vars(model).items()):
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, (torch.nn.Module, torch.Tensor)):
            setattr(model, name, value.to(target))
        elif isinstance(value, torch.device):
            setattr(model, name, target)
    if isinstance(getattr(model, "device_", None), str):
        model.device_ = str(target)
    return model


def _neuprint_forward(model: Any, recs: Sequence) -> np.ndarray:
    """NeuPRINT's dynamics model, in evaluation mode, on one masked batch of the first
    recording (drawn with a fixed seed) with the fitted embeddings: the predicted activity."""
    import torch

    from neuronbench_baselines.neuprint.data import make_batch

    device = torch.device(model.device_)
    session = model._sessions([recs[0].without_labels()])[0]
    rows = np.array([model.keys_[k] for k in session.keys])
    batch = make_batch(session, rows, np.random.default_rng(SEED), part="train", window_len=model.window_len,
                       n_windows=model.n_windows, n_neurons=model.batch_neurons, mask_ratio=model.mask_ratio,
                       forced_mask=model.forced_mask, population_stats=model.population_stats, device=device)
    model.model_.eval()
    with torch.no_grad():
        pred = model.model_(model.table_[batch.rows], batch.x, batch.x_prev, batch.ctx, batch.ctx_prev, batch.t)
    return pred.float().cpu().numpy()


FORWARDS: dict[str, Callable[[Any, Sequence], np.ndarray]] = {"neuprint": _neuprint_forward}


def forward(name: str, model: Any, recs: Sequence) -> np.ndarray:
    """The forward pass compared across devices (see the module docstring), as float64."""
    if name in FORWARDS:
        return np.asarray(FORWARDS[name](model, recs), dtype=np.float64)
    table = model.embed([r.without_labels() for r in recs])
    return table.sort_index().to_numpy(dtype=np.float64)


def relative_difference(reference: np.ndarray, other: np.ndarray) -> float:
    """The largest absolute difference of two outputs, relative to the largest absolute
    value of ``reference`` (0 if both are all zeros); an error if the shapes differ."""
    reference, other = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if reference.shape != other.shape:
        raise ValueError(f"outputs of different shapes: {reference.shape} and {other.shape}")
    if not (np.isfinite(reference).all() and np.isfinite(other).all()):
        return float("inf")
    diff = float(np.max(np.abs(reference - other), initial=0.0))
    scale = float(np.max(np.abs(reference), initial=0.0))
    return diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


@dataclasses.dataclass
class Row:
    """One method's line of the report: optimiser steps of the fit, their rate, the fit's
    peak CUDA memory (MiB), the relative CPU-CUDA difference, or the error that stopped it."""

    method: str
    steps: int = 0
    steps_per_s: float = float("nan")
    peak_mib: float = float("nan")
    rel_diff: float = float("nan")
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.steps > 0 and self.rel_diff <= RTOL


def check_method(name: str, *, steps: int = STEPS, preset: str = PRESET, device: str = "cuda",
                 reference: str = "cpu") -> Row:
    """Fit ``name``'s ``preset`` for ``steps`` steps on ``device``, then compare its
    forward pass there and on ``reference`` (the model moved) in full precision."""
    import torch

    from neuronbench.device import full_precision

    info = all_methods()[name]
    recs = fit_recordings()
    row = Row(name)
    on_cuda = torch.device(device).type == "cuda"
    if on_cuda:  # the peak of this fit alone: what the previous method left is freed first
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    clock = StepClock()
    with clock.running():
        model = fit(info, few_steps_config(info, steps, preset, device), recs)
    row.steps, row.steps_per_s = clock.steps, clock.steps_per_s()
    if on_cuda:
        row.peak_mib = torch.cuda.max_memory_allocated() / 2**20
    with full_precision():
        out = forward(name, model, recs)
        ref = forward(name, move_fitted(model, reference), recs)
    row.rel_diff = relative_difference(ref, out)
    return row


def format_table(rows: Sequence[Row], rtol: float = RTOL) -> str:
    """The report: one line per method, then a line saying what the columns are."""
    header = f"{'method':<18} {'steps':>5} {'steps/s':>9} {'peak MiB':>9} {'rel. diff':>10}  result"
    lines = [header, "-" * len(header)]
    for r in rows:
        if r.error is not None:
            lines.append(f"{r.method:<18} {'':>5} {'':>9} {'':>9} {'':>10}  ERROR {r.error}")
            continue
        verdict = "ok" if r.ok else ("FAIL: no step" if r.steps == 0 else f"FAIL: > {rtol:g}")
        lines.append(f"{r.method:<18} {r.steps:>5d} {r.steps_per_s:>9.2f} {r.peak_mib:>9.1f} {r.rel_diff:>10.2e}  "
                     f"{verdict}")
    lines.append(f"rel. diff: CUDA vs CPU forward pass of the same fitted model in float32 (no autocast, no TF32), "
                 f"largest |difference| / largest |value|; tolerance {rtol:g}")
    return "\n".join(lines)


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device."""
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=None, help="comma-separated (default: every torch method)")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps per method (default {STEPS})")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error(f"--steps: at least 2 (steps/s is measured between steps), got {args.steps}")
    if not cuda_available():
        print("gpu_check: no CUDA device (torch.cuda.is_available() is False or torch is not installed): "
              "nothing to check")
        return 0
    import torch

    names = _torch_methods() if args.methods is None else args.methods.split(",")
    unknown = sorted(set(names) - set(_torch_methods()))
    if unknown:
        parser.error(f"not a torch method: {', '.join(unknown)}; choose from {', '.join(_torch_methods())}")
    print(f"gpu_check: {torch.cuda.get_device_name()}, torch {torch.__version__}, preset {PRESET!r}, "
          f"{args.steps} steps under bf16 autocast on the tiny synthetic spike recordings", flush=True)
    rows = []
    for name in names:
        try:
            rows.append(check_method(name, steps=args.steps))
        except Exception as e:  # report the method's failure and go on with the others
            traceback.print_exc()
            rows.append(Row(name, error=f"{type(e).__name__}: {e}"))
    print(format_table(rows))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
