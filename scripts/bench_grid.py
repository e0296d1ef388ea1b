"""Benchmark (not a test): the default grid in-process and on a local Dask cluster.

Runs methods x every task x every setting x seeds on the default synthetic dataset,
once with the in-process executor (``--jobs 1``) and once per worker count with a
local Dask cluster, each into a fresh results folder (no cache shared), and prints wall
time, runs per hour and peak memory per worker. Also checks that every executor wrote
the same numbers.

    python scripts/bench_grid.py [--methods features,random] [--workers 2] [--probes linear]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from neuronbench.data.catalog import load_dataset
from neuronbench.executors import InProcessExecutor, local_dask
from neuronbench.protocol.record import iter_records
from neuronbench.protocol.settings import SETTINGS
from neuronbench.runner import GridOptions, run_grid


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="features,random")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", default="2", help="Dask worker counts to try, comma-separated")
    p.add_argument("--probes", default="linear")
    args = p.parse_args()
    methods = args.methods.split(",")
    load_dataset(args.dataset)  # generate once, outside the timings
    numbers = {}
    print(f"grid: {methods} x {args.dataset} tasks x {len(SETTINGS)} settings x {args.seeds} seeds, probes {args.probes}")
    print("| executor | runs | wall (s) | runs/hour | peak RSS per worker (MB) |\n|---|---|---|---|---|")
    for workers in [1] + [int(w) for w in args.workers.split(",")]:
        results = Path(tempfile.mkdtemp(prefix=f"bench-grid-{workers}-"))
        options = GridOptions(results=results, progress=False, probes=tuple(args.probes.split(",")))
        executor = InProcessExecutor() if workers == 1 else local_dask(workers)
        t0 = time.perf_counter()
        paths = run_grid(methods, args.dataset, list(SETTINGS), list(range(args.seeds)), options=options,
                         executor=executor)
        wall = time.perf_counter() - t0
        if workers == 1:
            rss = [_rss_mb()]
        else:
            rss = list(executor.client.run(_rss_mb).values())
            executor.close()
        name = "in-process" if workers == 1 else f"dask x{workers}"
        print(f"| {name} | {len(paths)} | {wall:.1f} | {3600 * len(paths) / wall:.0f} | "
              f"{', '.join(f'{r:.0f}' for r in rss)} |")
        numbers[name] = {str(q.relative_to(results)): r.probes for q, r in iter_records(results)}
    first = next(iter(numbers.values()))
    print("same numbers on every executor:", all(n == first for n in numbers.values()))


if __name__ == "__main__":
    main()
