"""The `neuronbench` command line. Heavy modules are imported inside each command, so
``neuronbench list ...`` answers instantly and never imports torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuronbench.errors import NeuronbenchError

SPLIT_CHOICES = ("transductive", "transductive-zero-shot", "inductive")
REAL_DATASETS = {name: f"neuronbench.data.{name}" for name in ("bugeon", "steinmetz", "ibl", "allen")}
"""The datasets prepared from downloads: name -> module with ``download(to)`` and ``prepare(raw, out)``."""


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _seeds(text: str) -> list[int]:
    """``3`` means seeds 0, 1, 2; ``0,5`` means exactly those."""
    try:
        if "," in text:
            return [int(t) for t in _csv(text)]
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count (3) or a list (0,1,2), got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed")
    return list(range(n))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuronbench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run methods on a dataset's tasks in a setting")
    run.add_argument("--method", required=True, type=_csv, action="extend",
                     help="method name(s), comma-separated or repeated")
    run.add_argument("--split", required=True, type=_csv, action="extend",
                     help=f"setting(s): {', '.join(SPLIT_CHOICES)}")
    run.add_argument("--dataset", default="synthetic")
    run.add_argument("--task", type=_csv, action="extend", default=None,
                     help="task name(s) (default: all of the dataset's)")
    run.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="encoder seeds: a count or a list (default 3)")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    run.add_argument("--preset", default="cpu", help="method config preset: cpu (default) or paper")
    run.add_argument("--probes", type=_csv, default=["linear"],
                     help="linear (default, the headline), mlp, xgboost; comma-separated")
    run.add_argument("--jobs", type=int, default=1, help="run on a local Dask cluster of N worker processes")
    run.add_argument("--scheduler", default=None, help="run on an existing Dask scheduler (tcp://host:port)")
    run.add_argument("--cluster", type=Path, default=None, help="run on a dask-jobqueue cluster (YAML config)")
    run.add_argument("--results", type=Path, default=Path("results"), help="results folder (default ./results)")
    run.add_argument("--no-progress", action="store_true")

    lb = sub.add_parser("leaderboard", help="regenerate leaderboards/ from results/")
    lb.add_argument("--results", type=Path, default=Path("results"))
    lb.add_argument("--out", type=Path, default=Path("leaderboards"))

    ls = sub.add_parser("list", help="list methods, datasets or tasks")
    ls.add_argument("what", choices=("methods", "datasets", "tasks"))

    data = sub.add_parser("data", help="dataset commands")
    dsub = data.add_subparsers(dest="data_command", required=True)
    synth = dsub.add_parser("synth", help="generate the synthetic datasets into $NEURONBENCH_DATA")
    synth.add_argument("--size", choices=("default", "tiny"), default="default")
    synth.add_argument("--force", action="store_true", help="regenerate even if cached")
    dsub.add_parser("path", help="print the data folder")
    dl = dsub.add_parser("download", help="download a public dataset (resumable, checksums verified)")
    dl.add_argument("name", choices=tuple(REAL_DATASETS))
    dl.add_argument("--to", type=Path, default=None, help="raw folder (default $NEURONBENCH_DATA/raw/NAME)")
    dl.add_argument("--no-progress", action="store_true")
    prep = dsub.add_parser("prepare", help="turn a downloaded dataset into the canonical format")
    prep.add_argument("name", choices=tuple(REAL_DATASETS))
    prep.add_argument("--raw", type=Path, default=None, help="raw folder (default $NEURONBENCH_DATA/raw/NAME)")
    prep.add_argument("--force", action="store_true", help="replace a dataset already prepared")

    ver = sub.add_parser("verify", help="recompute a sample of records and report whether they agree")
    ver.add_argument("--results", type=Path, default=Path("results"))
    ver.add_argument("--sample", type=int, default=5, help="number of records to recompute (default 5)")
    ver.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")

    score = sub.add_parser("score", help="score precomputed embeddings from a Parquet file")
    score.add_argument("file", type=Path)
    score.add_argument("--label", required=True, help="label column")
    score.add_argument("--split-by", default="neuron", help="'neuron' or a grouping column (session, lab, ...)")
    score.add_argument("--id-column", default="neuron_id")
    score.add_argument("--prefix", default=None, help="embedding columns start with this (default: numeric columns)")
    score.add_argument("--probes", type=_csv, default=["linear"])
    return p


def cmd_list(what: str) -> None:
    if what == "methods":
        from neuronbench.registry import all_methods

        for info in all_methods().values():
            print(f"{info.name:12s} {info.kind:9s} {info.summary}")
    elif what == "datasets":
        from neuronbench.data.catalog import DATASETS

        for info in DATASETS.values():
            print(f"{info.name:24s} {info.modality:8s} {info.summary}")
    else:
        from neuronbench.tasks import TASKS

        for t in TASKS.values():
            print(f"{t.dataset:24s} {t.name:12s} {len(t.classes)} classes  {t.summary}")


def cmd_run(args: argparse.Namespace) -> int:
    from neuronbench.executors import make_executor
    from neuronbench.leaderboard import aggregate, render_markdown
    from neuronbench.results import read_record
    from neuronbench.runner import GridOptions, run_grid

    options = GridOptions(preset=args.preset, device=args.device, probes=tuple(args.probes),
                          results=args.results, progress=not args.no_progress)
    executor = make_executor(args.jobs, args.scheduler, args.cluster)
    try:
        paths = run_grid(args.method, args.dataset, args.split, args.seeds, args.task, options, executor)
    finally:
        executor.close()
    records = [read_record(p) for p in paths if p.is_file()]
    table = aggregate(records)
    for metric in ("macro_f1", "accuracy"):
        print(render_markdown(table, args.dataset, probe="linear", metric=metric))
    failed = [r for r in records if r["status"] == "failed"]
    for r in failed:
        print(f"failed: {r['method']['name']} {r['task']['name']} {r['setting']} fold {r['fold']} seed {r['seed']}: {r['reason']}",
              file=sys.stderr)
    print(f"{len(records)} record(s) in {args.results}", file=sys.stderr)
    return 1 if failed else 0


def cmd_score(args: argparse.Namespace) -> None:
    from neuronbench.score import score_file

    out = score_file(args.file, args.label, split_by=args.split_by, id_column=args.id_column,
                     prefix=args.prefix, probes=args.probes)
    print(f"{args.file}: {out['n_neurons']} neurons x {out['n_dims']} dims, {len(out['classes'])} classes, "
          f"split by {out['split_by']} ({out['folds']} fold(s), predictions pooled)")
    print(f"chance: uniform macro-F1 {out['chance']['uniform_macro_f1']:.4f}, "
          f"majority macro-F1 {out['chance']['majority_macro_f1']:.4f}")
    print("| probe | macro-F1 | accuracy | balanced accuracy |\n|---|---|---|---|")
    for name, m in out["probes"].items():
        print(f"| {name} | {m['macro_f1']:.4f} | {m['accuracy']:.4f} | {m['balanced_accuracy']:.4f} |")


def cmd_real_data(args: argparse.Namespace) -> None:
    """``data download NAME [--to DIR]`` and ``data prepare NAME [--raw DIR] [--force]``."""
    import importlib
    import shutil

    from neuronbench.data.store import data_root

    module = importlib.import_module(REAL_DATASETS[args.name])
    if args.data_command == "download":
        to = args.to or data_root() / "raw" / args.name
        print(module.download(to, progress=not args.no_progress))
        print(f"next: neuronbench data prepare {args.name} --raw {to}", file=sys.stderr)
        return
    raw = args.raw or data_root() / "raw" / args.name
    out = data_root() / args.name
    if out.exists() and args.force:
        shutil.rmtree(out)
    print(module.prepare(raw, out))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            cmd_list(args.what)
        elif args.command == "run":
            return cmd_run(args)
        elif args.command == "leaderboard":
            from neuronbench.leaderboard import build_leaderboard

            for path in build_leaderboard(args.results, args.out):
                print(path)
        elif args.command == "data":
            from neuronbench.data.store import data_root

            if args.data_command == "path":
                print(data_root())
            elif args.data_command in ("download", "prepare"):
                cmd_real_data(args)
            else:
                from neuronbench.data.catalog import build_synthetic

                for path in build_synthetic(force=args.force, size=args.size):
                    print(path)
        elif args.command == "score":
            cmd_score(args)
        elif args.command == "verify":
            from neuronbench.verify import line, summary, verify

            checks = []
            for check in verify(args.results, args.sample, args.seed):
                checks.append(check)
                print(line(check), flush=True)
            print(summary(checks))
            return 0 if all(c.status == "agree" for c in checks) else 1
    except NeuronbenchError as e:
        print(f"neuronbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuronbench: interrupted; rerun the same command to finish what is left", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
