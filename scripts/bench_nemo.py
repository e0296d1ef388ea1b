"""NEMO's costs: the 3D ACG per unit and the training step at batch 1024.

- ACG: seconds per unit of 10,000 spikes (Poisson, at 33 Hz over 300 s, the busiest
  units of the default ``synthetic`` dataset, and at 100 Hz), best of ``--repeats``
  (target <= 0.03 s; npyx takes 0.3-0.4 s); with ``--dataset``, also every unit of a
  dataset (e.g. ``synthetic``).
- Training step: one Adam step of the published model (the ``paper`` and ``cpu`` presets
  share it) on a batch of 1024 units, augmentation (batched tensors) timed separately (the
  original's per-item loader adds ~0.5 s per batch).
Wall-clock and process CPU seconds are both printed (the CPU time is the fairer number on a
shared machine). Usage:
    python scripts/bench_nemo.py [--repeats 5] [--threads 2] [--dataset synthetic]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from neuronbench_baselines.nemo import INFO
from neuronbench_baselines.nemo.acg import acg_3d
from neuronbench_baselines.nemo.augment import augment_acg, augment_waveforms
from neuronbench_baselines.nemo.loss import clip_loss


def best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds) of ``repeats`` calls, after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def bench_acg(repeats: int) -> None:
    rng = np.random.default_rng(0)
    for rate in (33.3, 100.0):
        n = 10_000
        duration = n / rate
        times = np.sort(rng.uniform(0.0, duration, n))
        wall, cpu = best_of(repeats, lambda: acg_3d(times, np.array([0, n]), 0.0, duration))
        print(f"3D ACG, 1 unit of {n} spikes at {rate:.0f} Hz: {wall:.4f} s wall, {cpu:.4f} s CPU (target <= 0.03 s)")


def bench_dataset(name: str) -> None:
    from neuronbench.protocol.datasets import load_dataset

    recordings = load_dataset(name).load()
    n_units = sum(r.n_units for r in recordings)
    n_spikes = sum(len(r.spike_times) for r in recordings)
    w, c = time.perf_counter(), time.process_time()
    for r in recordings:
        acg_3d(r.spike_times, r.spike_offsets, r.t_start, r.t_stop)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    print(f"3D ACG, all {n_units} units of {name!r} ({n_spikes} spikes): {wall:.2f} s wall, {cpu:.2f} s CPU "
          f"({1e4 * cpu / n_spikes:.4f} s CPU per 10,000 spikes)")


def bench_step(preset: str, repeats: int) -> None:
    config = INFO.config(preset, device="cpu")
    method = INFO.build(config)
    model = method.build_model().train()
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
    gen = torch.Generator().manual_seed(0)
    wf = torch.randn(1024, 90)
    acg = torch.rand(1024, 10, 101)

    def augment() -> None:
        augment_waveforms(wf, gen)
        augment_acg(acg, gen)

    def step() -> None:
        zw, za = model(wf, acg)
        loss = clip_loss(zw, za, config["temperature"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    n_params = sum(p.numel() for p in model.parameters())
    aw, ac = best_of(repeats, augment)
    sw, sc = best_of(repeats, step)
    print(f"training step, {preset} preset ({n_params} parameters), batch 1024: {sw:.3f} s wall, {sc:.3f} s CPU; "
          f"augmentation {aw:.3f} s wall, {ac:.3f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--dataset", default=None, help="also time the ACG of every unit of this dataset")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    bench_acg(args.repeats)
    if args.dataset:
        bench_dataset(args.dataset)
    bench_step("paper", args.repeats)


if __name__ == "__main__":
    main()
