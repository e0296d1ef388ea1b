"""Benchmark (not a test): a grid's wall time per executor, and where its time goes.

Runs methods x every task x every setting x seeds on one dataset, once per executor
(``1`` = in-process, ``N`` = a local Dask cluster of N workers), each into a fresh results
folder (no record or cache shared), and prints the wall time, runs per hour and peak
memory per worker, then per method: encoder fits (one per cached embedding), their fit +
embed seconds, the probes' seconds and the method's share of all of it. Also checks that
every executor wrote the same numbers.

    python scripts/bench_grid.py [--methods features,random] [--workers 1,2] [--probes linear]
    python scripts/bench_grid.py --methods all --workers 2       # the whole default leaderboard
"""

from __future__ import annotations

import argparse
import collections
import resource
import tempfile
import time
from pathlib import Path

from neuronbench.protocol.datasets import load_dataset
from neuronbench.embeddings import read_embeddings
from neuronbench.executors import InProcessExecutor, local_dask
from neuronbench.protocol.constants import ENCODER_SEEDS, HEADLINE_PROBE
from neuronbench.protocol.record import iter_records
from neuronbench.protocol.settings import SETTINGS
from neuronbench.registry import all_methods
from neuronbench.runner import GridOptions, run_grid


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cost_table(results: Path) -> list[str]:
    """Per method: fits, fit + embed seconds (from the cached embeddings, one per fit),
    probe seconds (from the records), and the share of the total, largest first."""
    fits: dict[str, list[float]] = collections.defaultdict(list)
    for path in (results / "cache" / "embeddings").glob("*/*.parquet"):
        timings = read_embeddings(path)[1]["timings"]
        fits[path.parent.name.rsplit("-", 1)[0]].append(timings["fit_s"] + timings["embed_s"])
    probes: dict[str, float] = collections.defaultdict(float)
    for _, record in iter_records(results):
        probes[record.method.name] += (record.timings or {}).get("probe_s", 0.0)
    cost = {m: (len(fits[m]), sum(fits[m]), probes[m]) for m in set(fits) | set(probes)}
    total = sum(f + p for _, f, p in cost.values()) or 1.0
    lines = ["| method | fits | fit + embed (s) | probes (s) | share |", "|---|---|---|---|---|"]
    for m, (n, f, p) in sorted(cost.items(), key=lambda kv: -(kv[1][1] + kv[1][2])):
        lines.append(f"| {m} | {n} | {f:.0f} | {p:.0f} | {100 * (f + p) / total:.0f} % |")
    lines.append(f"| all | {sum(n for n, _, _ in cost.values())} | {sum(f for _, f, _ in cost.values()):.0f} | "
                 f"{sum(p for _, _, p in cost.values()):.0f} | 100 % |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="features,random", help="comma-separated, or all (every registered method)")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--seeds", type=int, default=len(ENCODER_SEEDS), help="number of encoder seeds (0, 1, ...)")
    p.add_argument("--workers", default="1,2", help="executors to try, comma-separated: 1 = in-process, N = N Dask workers")
    p.add_argument("--probes", default=HEADLINE_PROBE)
    args = p.parse_args()
    methods = sorted(all_methods()) if args.methods == "all" else args.methods.split(",")
    load_dataset(args.dataset)  # generate once, outside the timings
    numbers, costs = {}, {}
    print(f"grid: {methods} x {args.dataset} tasks x {len(SETTINGS)} settings x {args.seeds} seeds, probes {args.probes}")
    print("| executor | runs | wall (s) | runs/hour | peak RSS per worker (MB) |\n|---|---|---|---|---|")
    for workers in [int(w) for w in args.workers.split(",")]:
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
              f"{', '.join(f'{r:.0f}' for r in rss)} |", flush=True)
        numbers[name] = {str(q.relative_to(results)): r.probes for q, r in iter_records(results)}
        costs[name] = cost_table(results)
    for name, lines in costs.items():
        print(f"\nwhere the time went ({name}; seconds of one core, summed over workers):")
        print("\n".join(lines))
    if len(numbers) > 1:
        first = next(iter(numbers.values()))
        print("same numbers on every executor:", all(n == first for n in numbers.values()))


if __name__ == "__main__":
    main()
