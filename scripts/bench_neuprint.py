"""Seconds per NeuPRINT training step (and per frozen-model embedding step).

- ``paper``: the published architecture (d_model 76, 2 heads, FFN 2048) on the
  published batch: one session, 2 windows x 512 neurons x 200 steps (target <= 4 s on
  a 2-core CPU; the original code takes ~40 s).
- ``cpu``: the cpu preset on a session the size of the default ``synthetic`` dataset's
  recordings (120 neurons).
Steps include batch sampling and masking. Usage:
    python scripts/bench_neuprint.py [--steps 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
import torch

from neuronbench_baselines.neuprint import INFO
from neuronbench.data.recording import EPOCH_COLUMNS, Recording, neuron_id


def calcium_session(n_neurons: int, n_frames: int, seed: int = 0) -> Recording:
    """Random AR(1) dF/F traces with behaviour, at ~4.3 Hz."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_frames, n_neurons)).astype(np.float32)
    traces = np.empty_like(noise)
    traces[0] = noise[0]
    for i in range(1, n_frames):
        traces[i] = 0.8 * traces[i - 1] + noise[i]
    times = np.arange(n_frames) * 0.233
    units = [f"u{i}" for i in range(n_neurons)]
    return Recording(
        dataset="bench", animal="a0", recording="r0", modality="calcium",
        neurons=pd.DataFrame({"neuron_id": [neuron_id("bench", "r0", u) for u in units], "unit": units,
                              "track_id": None, "x": np.nan, "y": np.nan, "z": np.nan}),
        t_start=0.0, t_stop=float(times[-1] + 0.233), epochs=pd.DataFrame(columns=list(EPOCH_COLUMNS)),
        traces=traces, frame_times=times,
        behaviour=pd.DataFrame({"time": times, "running_speed": rng.random(n_frames), "pupil": rng.random(n_frames)}),
    )


def seconds_per_step(preset: str, rec: Recording, steps: int, embed: bool) -> tuple[float, float]:
    """(wall, CPU) seconds per step of fit (or of embed, with the model frozen). On a
    loaded machine the wall time grows; CPU seconds / threads estimates an idle one."""
    cfg = INFO.config(preset, device="cpu", epochs=1, steps_per_epoch=1, val_steps=0, embed_steps=1)
    model = INFO.build(cfg).fit([rec], seed=0)  # warm-up
    if embed:
        model.embed_steps = steps
        t0, c0 = time.perf_counter(), time.process_time()
        model.embed([rec])
    else:
        model = INFO.build({**cfg, "steps_per_epoch": steps})
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit([rec], seed=0)
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f}")
    for preset, n_neurons in (("paper", 600), ("cpu", 120)):
        rec = calcium_session(n_neurons, 1300)
        cfg = INFO.config(preset)
        batch = f"{cfg['n_windows']} x {min(cfg['batch_neurons'], n_neurons)} x {cfg['window_len']}"
        for embed in (False, True):
            wall, cpu = seconds_per_step(preset, rec, args.steps, embed)
            what = "embed step (frozen model)" if embed else "training step"
            print(f"{preset:>5} preset, batch {batch}, ffn {cfg['ffn_dim']}: {wall:.3f} s per {what} "
                  f"({cpu:.3f} CPU s; load average now {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
