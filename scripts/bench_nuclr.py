"""Training throughput of NuCLR (methods/nuclr) on this machine: tokens/s, window pairs/s,
achieved FLOP/s of forward + backward against a measured matmul peak, and peak memory,
for the ``cpu`` and ``paper`` presets at several population sizes.

Each (preset, units) runs in a fresh subprocess on simulated Poisson recordings (two
recordings of ``--units`` units, 120 s, rates log-normal around 5 Hz), with about the same
number of tokens per step at every population size (`TOKENS_PER_STEP`; the published
batch is 128 pairs, ~200 k tokens, out of reach of a CPU step), through the same
code as `NuCLR.fit`: view sampling and batch assembly (`neuronbench_methods.nuclr.data`), forward,
loss, backward, clipping and the AdamW step. FLOPs are counted analytically from the
batch actually drawn (matmuls only: read-in, attention projections, attention scores and
mixing over the real units of each window, GEGLU, projector; backward = 2 x forward), so
"achieved" is useful work per second; padding of the spatial attention is reported
separately. Peak memory: max resident set size of the subprocess (CPU) or
``torch.cuda.max_memory_allocated`` (CUDA).

    python scripts/bench_nuclr.py                       # default: ~2-3 minutes on 2 cores
    python scripts/bench_nuclr.py --units 32 128 --presets cpu --steps 5
    python scripts/bench_nuclr.py --profile cpu 128     # the top operators of one step
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import torch

from neuronbench_methods.nuclr import INFO
from neuronbench_methods.nuclr.data import Batch, build_store, epoch_pairs, pair_batch, sampling_periods
from neuronbench_methods.nuclr.method import NuCLR, parameter_groups
from neuronbench.data.recording import Recording, neuron_id
from neuronbench.device import resolve_device

TOKENS_PER_STEP = {"cpu": 16_000, "paper": 8_000}  # about; pairs per step = budget / tokens of a pair


def poisson_recording(n_units: int, seed: int, duration: float = 120.0) -> Recording:
    rng = np.random.default_rng(seed)
    rates = np.exp(rng.normal(np.log(5.0), 0.8, n_units))
    trains = [np.sort(rng.uniform(0, duration, rng.poisson(r * duration))) for r in rates]
    units = [f"u{i}" for i in range(n_units)]
    rec = f"r{seed}"
    return Recording(
        dataset="bench", animal="a0", recording=rec, modality="spikes",
        neurons=pd.DataFrame({"neuron_id": [neuron_id("bench", rec, u) for u in units], "unit": units,
                              "track_id": None, "x": np.nan, "y": np.nan, "z": np.nan}),
        t_start=0.0, t_stop=duration, epochs=pd.DataFrame(columns=["start", "stop", "stimulus"]),
        spike_times=np.concatenate(trains), spike_offsets=np.concatenate([[0], np.cumsum([len(t) for t in trains])]),
    )


def step_flops(model: NuCLR, batch: Batch) -> float:
    """Useful matmul FLOPs of forward + backward (3 x forward) for a batch."""
    d, inner, m = model.dim, model.heads * model.dim_head, model.ffn_mult
    n_rows, n_tok, p = batch.tokens.shape
    tokens = n_rows * n_tok
    units_per_window = batch.mask.sum(1).double()
    spatial_pairs = float((units_per_window**2).sum()) * n_tok  # (query, key) pairs over all time steps
    proj_mm = 2 * d * 3 * inner + 2 * inner * d  # qkv and output projections, per token
    ffn = 2 * d * 2 * m * d + 2 * m * d * d
    temporal = model.temporal_layers + model.spatiotemporal_layers
    fwd = tokens * 2 * p * d  # read-in
    fwd += temporal * (tokens * (proj_mm + ffn) + n_rows * n_tok * n_tok * 4 * inner)
    fwd += model.spatiotemporal_layers * (tokens * (proj_mm + ffn) + spatial_pairs * 4 * inner)
    fwd += n_rows * 2 * (2 * d * d)  # projector
    return 3.0 * fwd


def matmul_peak(device: torch.device, n: int = 2048, reps: int = 5) -> float:
    """Best FLOP/s of an n x n float32 matmul."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def run_one(preset: str, n_units: int, steps: int, device_name: str, profile: bool = False) -> dict:
    """Time ``steps`` training steps (after one warm-up step) of a preset."""
    device = resolve_device(device_name)
    torch.manual_seed(0)
    model = INFO.build(INFO.config(preset, device=device_name))
    store = build_store([poisson_recording(n_units, s) for s in range(2)], bin_s=model.bin_s,
                        bins_per_token=model.bins_per_token, frames_per_token=model.frames_per_token, device=device)
    window = model.tokens_spikes * model.bins_per_token
    pairs = epoch_pairs(sampling_periods(store, window), window,
                        np.full(store.n_recordings, round(model.max_distance_s_spikes / model.bin_s)),
                        np.random.default_rng(0))
    encoder, proj = model.build_modules("spikes", device)
    optimizer = torch.optim.AdamW(parameter_groups([encoder, proj], model.weight_decay), lr=1e-4, fused=True)
    rng = np.random.default_rng(1)
    tokens_per_pair = 2 * 0.75 * n_units * model.tokens_spikes  # 75 %: unit dropout keeps 50-100 %
    size = max(1, round(TOKENS_PER_STEP[preset] / tokens_per_pair))

    def step(i: int) -> Batch:
        batch = pair_batch(store, pairs[np.arange(i * size, (i + 1) * size) % len(pairs)], window,
                           keep_min=model.keep_min, unit_dropout=True, min_matched=model.min_matched, rng=rng)
        model.train_step(encoder, proj, optimizer, batch, device)
        return batch

    step(0)  # warm-up (allocations, lazy imports)
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            step(1)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
        return {}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    flops, tokens, n_pairs, slots, rows = 0.0, 0, 0, 0, 0
    t = time.perf_counter()
    for i in range(1, steps + 1):
        batch = step(i)
        flops += step_flops(model, batch)
        tokens += batch.tokens.shape[0] * batch.tokens.shape[1]
        n_pairs += batch.n_windows // 2
        slots += batch.mask.numel()
        rows += batch.tokens.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t
    peak_mb = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {
        "preset": preset, "units": n_units, "pairs_per_step": size, "device": str(device),
        "threads": torch.get_num_threads(), "step_s": elapsed / steps, "pairs_per_s": n_pairs / elapsed,
        "tokens_per_s": tokens / elapsed, "gflop_per_s": flops / elapsed / 1e9,
        "peak_gflop_per_s": matmul_peak(device) / 1e9, "padding": 1 - rows / slots,
        "peak_mb": peak_mb, "rss_before_mb": rss_before / 1024,
        "params_m": sum(p.numel() for m in (encoder, proj) for p in m.parameters()) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["cpu", "paper"])
    parser.add_argument("--units", nargs="+", type=int, default=[32, 128, 512])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (after a warm-up)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--profile", nargs=2, metavar=("PRESET", "UNITS"), help="profile one step instead")
    parser.add_argument("--one", nargs=2, metavar=("PRESET", "UNITS"), help=argparse.SUPPRESS)  # subprocess mode
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.one or args.profile:
        preset, units = args.one or args.profile
        out = run_one(preset, int(units), args.steps, args.device, profile=bool(args.profile))
        if args.one:
            print(json.dumps(out))
        return

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; torch {torch.__version__}; "
          f"{args.steps} timed steps per row; FLOP/s = useful matmul work of forward + backward")
    header = (f"{'preset':>6} {'units':>5} {'pairs/step':>10} {'step s':>7} {'pairs/s':>8} {'tokens/s':>9} "
              f"{'GFLOP/s':>8} {'peak':>7} {'of peak':>7} {'padding':>7} {'peak MB':>8}")
    print(header)
    for preset in args.presets:
        for units in args.units:
            cmd = [sys.executable, __file__, "--one", preset, str(units), "--steps", str(args.steps),
                   "--device", args.device] + (["--threads", str(args.threads)] if args.threads else [])
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{preset:>6} {units:>5} failed: {out.stderr.strip().splitlines()[-1]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{preset:>6} {units:>5} {r['pairs_per_step']:>10} {r['step_s']:>7.2f} {r['pairs_per_s']:>8.2f} "
                  f"{r['tokens_per_s']:>9.0f} {r['gflop_per_s']:>8.1f} {r['peak_gflop_per_s']:>7.1f} "
                  f"{r['gflop_per_s'] / r['peak_gflop_per_s']:>7.0%} {r['padding']:>7.0%} {r['peak_mb']:>8.0f}",
                  flush=True)
    print(f"device {r['device']}, {r['threads']} thread(s); peak = best 2048 x 2048 float32 matmul, measured in "
          f"each subprocess; peak MB = max RSS of the subprocess (CPU) or max allocated (CUDA)")


if __name__ == "__main__":
    main()
