"""The `neuronbench` command line. Heavy modules are imported inside each command, so
``neuronbench list ...`` answers instantly and never imports torch."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import bwb
from neuronbench.protocol.constants import (ENCODER_SEEDS, HEADLINE_BUDGET, HEADLINE_PROBE, MAIN_METRIC,
                                            METRIC_SHORT, METRICS, SUMMARY_METRICS)
from neuronbench.protocol.settings import SETTINGS

if TYPE_CHECKING:
    from neuronbench.protocol.datasets import DatasetInfo

DESCRIPTION = """\
neuronbench: which method best recovers a neuron's identity (cell type, brain region)
from its recorded activity. It runs methods on a dataset's tasks in four settings,
scores their frozen embeddings with probes, writes one record per run and builds the
leaderboards from the records."""
EXAMPLES = """examples:
  neuronbench list methods
  neuronbench run --method features --setting inductive
  neuronbench leaderboard
  neuronbench <command> --help      (the options of one command)
"""
RUN_EXAMPLES = """examples:
  neuronbench run --method features --setting inductive
  neuronbench run --method features,random --setting transductive,inductive --seeds 0,5 --jobs 2
  neuronbench run --method nuclr --setting inductive --dataset synthetic-calcium --task subclass
  neuronbench run --method features --setting inductive-cross-lab --dataset ibl    (whole labs held out)
  neuronbench run --method lolcat --setting inductive --results /tmp/fresh    (recompute, ignoring ./results)
  neuronbench run --method nuclr --setting inductive --label-fractions 0.01,0.05,0.1,0.25,0.5,1
  neuronbench run --method nuclr --setting inductive --pretrain-animals all
  neuronbench run --method nuclr,nemo --setting inductive --budget 4    (4x each preset's training)

Runs whose record is already in --results (same split, data and config) are reused, not
redone: the command says how many. Ctrl-C stops within seconds; rerun the same command to
finish what is left. Exit status: 0 all runs ok, 1 some run failed (recorded as failed),
2 bad input (nothing run), 130 interrupted.
"""
LEADERBOARD_EXAMPLES = """examples:
  neuronbench leaderboard
  neuronbench leaderboard --results /tmp/fresh --out /tmp/fresh-leaderboards
"""


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _seeds(text: str) -> list[int]:
    """A number without a comma is a count (``3``: seeds 0, 1, 2); with a comma it is a
    list of seeds (``0,5``; a single seed: ``7,``). Negative or repeated seeds are refused."""
    try:
        values = [int(t) for t in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count (3) or a list of seeds (0,5 or 7,), got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected a count (3) or a list of seeds (0,5 or 7,), got {text!r}")
    negative = [v for v in values if v < 0]
    if negative:
        raise argparse.ArgumentTypeError(f"seeds must be >= 0 (a count, or a list of seeds such as 0,5), "
                                         f"got {negative[0]}")
    if "," not in text:
        if values[0] < 1:
            raise argparse.ArgumentTypeError(
                f"{text!r} is a count of seeds and must be at least 1; "
                f"for the single seed {values[0]} write {values[0]},")
        return list(range(values[0]))
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"seed {repeated[0]} is given more than once in {text!r}")
    return values


def _label_fractions(text: str) -> list[float]:
    """Fractions of the probe-training labels, comma-separated, each in (0, 1], none twice."""
    try:
        values = [float(t) for t in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected fractions in (0, 1] such as 0.01,0.1,1, got {text!r}") from None
    bad = [v for v in values if not 0 < v <= 1]  # NaN fails this too
    if not values or bad:
        raise argparse.ArgumentTypeError(f"expected fractions in (0, 1] such as 0.01,0.1,1, got {text!r}")
    from neuronbench.protocol.record import variant_suffix

    if len({variant_suffix(v) for v in values}) < len(values):  # one record file per fraction
        raise argparse.ArgumentTypeError(f"a fraction is given more than once in {text!r}")
    return values


def _budget(text: str) -> float:
    """A training budget: a positive number, a multiple of the preset's training."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):  # NaN fails this too
        raise argparse.ArgumentTypeError(f"expected a positive multiple of the preset's training such as "
                                         f"0.25, 1 or 4, got {text!r}")
    return value


def _jobs(text: str) -> int:
    """A number of worker processes: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes >= 1, got {value}")
    return value


def _pretrain_animals(text: str) -> list[int] | str:
    """``all`` (every count from 1 to all the pretraining animals) or counts >= 1,
    comma-separated, none twice."""
    if text.strip() == "all":
        return "all"
    try:
        values = [int(t) for t in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'all' or counts of animals such as 1,2,3, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected 'all' or counts of animals >= 1 such as 1,2,3, got {text!r}")
    if len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"a count is given more than once in {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="neuronbench", description=DESCRIPTION, epilog=EXAMPLES, formatter_class=raw)
    sub = p.add_subparsers(dest="command", required=True, metavar="<command>")

    run = sub.add_parser("run", help="run methods on a dataset's tasks in one or more settings",
                         description="Run methods x tasks x settings x folds x seeds on one dataset, write one\n"
                         "record per run to --results, and print the macro-F1 and accuracy tables.",
                         epilog=RUN_EXAMPLES, formatter_class=raw)
    run.add_argument("--method", metavar="M[,M...]", required=True, type=_csv, action="extend",
                     help="method name(s), comma-separated or repeated (see `neuronbench list methods`)")
    run.add_argument("--setting", "--split", dest="setting", metavar="S[,S...]", required=True, type=_csv,
                     action="extend", help=f"setting(s), comma-separated: {', '.join(SETTINGS)} "
                     "(--split is an alias; inductive-cross-lab needs a dataset with labs: `neuronbench list "
                     "datasets`)")
    run.add_argument("--dataset", metavar="NAME", default="synthetic",
                     help="dataset name (default synthetic; see `neuronbench list datasets`)")
    run.add_argument("--task", metavar="T[,T...]", type=_csv, action="extend", default=None,
                     help="task name(s) (default: all of the dataset's; see `neuronbench list tasks`)")
    run.add_argument("--seeds", metavar="N|S,S", type=_seeds, default=list(ENCODER_SEEDS),
                     help="encoder seeds: a count (3 = seeds 0,1,2; the default) or, with a comma, a list "
                     "(0,5; the single seed 0 is 0,)")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                     help="where torch methods train: auto (CUDA if available; default), cpu or cuda")
    run.add_argument("--preset", metavar="NAME", default="cpu",
                     help="method config preset: cpu (default), paper, or tiny (learned methods: "
                     "a seconds-long smoke test)")
    run.add_argument("--probes", metavar="P[,P...]", type=_csv, default=[HEADLINE_PROBE],
                     help="linear (default, the headline), mlp, xgboost; comma-separated")
    run.add_argument("--label-fractions", metavar="F[,F...]", type=_label_fractions, default=[1.0],
                     help="label-efficiency curve: train the probes (and a supervised encoder) on these "
                     "fractions of the probe-training neurons, e.g. 0.01,0.05,0.1,0.25,0.5,1 "
                     "(default 1: all, the headline)")
    run.add_argument("--pretrain-animals", metavar="K[,K...]|all", type=_pretrain_animals, default=(),
                     help="pretraining-scale curve (inductive settings only): pretrain on K of the training "
                     "animals, e.g. 1,2,3, or all (every K up to all of them, the headline)")
    run.add_argument("--budget", metavar="B", type=_budget, default=HEADLINE_BUDGET,
                     help="training budget: B times each method's preset training (its declared epochs, "
                     "steps, iterations), rounded to whole counts, at least 1 (default 1: the preset, the "
                     "headline); methods without a training budget (controls) run at 1 only")
    run.add_argument("--jobs", metavar="N", type=_jobs, default=None,
                     help="N > 1: run on a local Dask cluster of N worker processes; 1: in this process, "
                     "one task at a time; default: a pool of one worker process per available core")
    run.add_argument("--scheduler", metavar="ADDR", default=None,
                     help="run on an existing Dask scheduler (tcp://host:port)")
    run.add_argument("--cluster", metavar="FILE", type=Path, default=None,
                     help="run on a dask-jobqueue cluster (YAML config)")
    run.add_argument("--results", type=Path, metavar="DIR", default=Path("results"),
                     help="folder of the result records and the embedding cache (default ./results); runs "
                     "already recorded there are reused")
    run.add_argument("--no-progress", action="store_true",
                     help="no progress bars (they are shown only when stderr is a terminal)")

    lb = sub.add_parser("leaderboard", help="regenerate the leaderboards from the result records",
                        description="Build the leaderboard tables and figures from the records in --results\n"
                        "(deterministic: a second run changes no byte).",
                        epilog=LEADERBOARD_EXAMPLES, formatter_class=raw)
    lb.add_argument("--results", type=Path, metavar="DIR", default=Path("results"),
                    help="folder of the result records to read (default ./results)")
    lb.add_argument("--out", type=Path, metavar="DIR", default=Path("leaderboards"),
                    help="folder to write the leaderboards to (default ./leaderboards)")
    lb.add_argument("--records-url", metavar="URL", default=None,
                    help="base URL of the results folder on the web: the site's record links become URL/<path "
                         "in --results> (default: links to the record index inside the site)")

    ls = sub.add_parser("list", help="list methods, datasets or tasks")
    ls.add_argument("what", choices=("methods", "datasets", "tasks"))

    data = sub.add_parser("data", help="dataset commands")
    dsub = data.add_subparsers(dest="data_command", required=True)
    synth = dsub.add_parser("synth", help="generate the synthetic datasets into $NEURONBENCH_DATA")
    synth.add_argument("--size", choices=("default", "tiny"), default="default")
    synth.add_argument("--force", action="store_true", help="regenerate even if cached")
    dsub.add_parser("path", help="print the data folder")
    dl = dsub.add_parser("download", help="download a public dataset (resumable, checksums verified)")
    dl.add_argument("name", metavar="NAME", help="a dataset prepared from downloads (`neuronbench list datasets`)")
    dl.add_argument("--to", type=Path, default=None, help="raw folder (default $NEURONBENCH_DATA/raw/NAME)")
    dl.add_argument("--no-progress", action="store_true")
    prep = dsub.add_parser("prepare", help="turn a downloaded dataset into the canonical format")
    prep.add_argument("name", metavar="NAME", help="a dataset prepared from downloads (`neuronbench list datasets`)")
    prep.add_argument("--raw", type=Path, default=None, help="raw folder (default $NEURONBENCH_DATA/raw/NAME)")
    prep.add_argument("--force", action="store_true", help="replace a dataset already prepared")
    prep.add_argument("--format", choices=("native", "brainsets"), default="native",
                      help="native: the download's own layout (default); brainsets: temporaldata .h5 files")

    ver = sub.add_parser("verify", help="recompute a sample of records and report whether they agree")
    ver.add_argument("--results", type=Path, default=Path("results"))
    ver.add_argument("--sample", type=int, default=5, help="number of records to recompute (default 5)")
    ver.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    ver.add_argument("--record", metavar="FILE", type=Path, action="append", default=[],
                     help="recompute this record file instead of a sample (repeatable)")

    ex = sub.add_parser("export", help="write a benchmark submission from the result records",
                        description="Write the records of one method as another benchmark's submission files.\n"
                        "bwb-ts3: IBL BrainWideBench TS3 (unit_cosmos) prediction files from the records of\n"
                        "task ibl/region_bwb: <out>/<label>_<probe>_<scope>/ts3-unit_cosmos/seed_<seed>.safetensors",
                        epilog="example:\n  neuronbench export --format bwb-ts3 --results results --method nuclr "
                        "--out submissions", formatter_class=raw)
    ex.add_argument("--format", required=True, choices=(bwb.FORMAT,))
    ex.add_argument("--results", type=Path, metavar="DIR", default=Path("results"),
                    help="folder of the result records (default ./results)")
    ex.add_argument("--method", required=True, metavar="M", help="the method whose records are exported")
    ex.add_argument("--out", type=Path, metavar="DIR", required=True, help="folder of the submission")
    ex.add_argument("--label", default=None, help="submission label (default: the method's name)")
    ex.add_argument("--setting", default="inductive", choices=("inductive", "transductive-zero-shot"),
                    help="inductive (default; BWB's inductive zero-shot) or transductive-zero-shot")
    ex.add_argument("--probe", default=HEADLINE_PROBE,
                    help=f"probe whose probabilities are exported (default {HEADLINE_PROBE})")
    ex.add_argument("--seeds", metavar="S,S", type=_csv, default=None,
                    help="encoder seeds (default BWB's reported seeds 43,44,45,46,47)")
    ex.add_argument("--scope", metavar="S[,S]", type=_csv, default=["single", "multi"],
                    help="single, multi or both (default): each unit's own or multi-unit probabilities")
    ex.add_argument("--preset", default=None, help="the method's preset, when its records have several")
    ex.add_argument("--force", action="store_true", help="replace submission files already there")

    score = sub.add_parser("score", help="score precomputed embeddings from a Parquet file")
    score.add_argument("file", type=Path)
    score.add_argument("--label", required=True, help="label column")
    score.add_argument("--split-by", default="neuron",
                       help="'neuron', a grouping column (session, lab, ...: group k-fold) or inductive-cross-lab "
                       "(test on a hashed third of the labs of --lab-column, train on the others)")
    score.add_argument("--lab-column", default=None, help="with --split-by inductive-cross-lab: each neuron's lab")
    score.add_argument("--animal-column", default=None,
                       help="with --split-by inductive-cross-lab: each neuron's animal (refused in 2 labs)")
    score.add_argument("--id-column", default="neuron_id")
    score.add_argument("--prefix", default=None, help="embedding columns start with this (default: numeric columns)")
    score.add_argument("--probes", type=_csv, default=[HEADLINE_PROBE])

    mig = sub.add_parser("migrate", help="rewrite older result records at the current schema version",
                         description="Rewrite every record under --results whose schema version is older than "
                         "the current one\n(atomically, file by file: an interrupted call can be rerun). Older "
                         "records are also\nread without rewriting them; this makes the files current.",
                         formatter_class=raw)
    mig.add_argument("--results", type=Path, metavar="DIR", default=Path("results"),
                     help="folder of the result records (default ./results)")

    check = sub.add_parser("check-method", help="run the plug-in conformance checks on a method",
                           description="Fit and embed a method on small simulated recordings, on the CPU, and\n"
                           "report each conformance check of neuronbench.testing with pass or fail and why.\n"
                           "Exit status: 0 every check passes, 1 one fails, 2 unknown method or preset.",
                           epilog="example:\n  neuronbench check-method features", formatter_class=raw)
    check.add_argument("name", help="method name (see `neuronbench list methods`)")
    check.add_argument("--preset", default=None, help="config preset (default: tiny where the method has it, else cpu)")
    return p


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as lines, every column but the last padded to its widest cell."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)] if rows else []
    return ["  ".join([c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]) for r in rows]


def dataset_state(name: str, generated: bool, root: Path) -> str:
    """Whether a dataset is ready on this machine (its manifest is in ``root``)."""
    if (root / name / "manifest.json").is_file():
        return "cached" if generated else "prepared"
    return "generated on first use" if generated else "not prepared"


def unsupported_lines(infos: Iterable[DatasetInfo]) -> list[str]:
    """The settings some datasets do not support, one line per (setting, reason) with its
    datasets."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for info in infos:
        for setting, reason in info.na_reasons.items():
            grouped.setdefault((setting, reason), []).append(info.name)
    if not grouped:
        return []
    return [f"\nsettings: {', '.join(SETTINGS)}; not supported (N/A):"] + [
        f"  {setting} on {', '.join(names)}: {reason}" for (setting, reason), names in grouped.items()]


def cmd_list(what: str) -> None:
    notes: list[str] = []
    if what == "methods":
        from neuronbench.registry import all_methods

        rows = [(i.name, i.kind, "torch" if i.uses_torch else "cpu", i.summary) for i in all_methods().values()]
    elif what == "datasets":
        from neuronbench.data.root import data_root
        from neuronbench.protocol.datasets import all_datasets

        root = data_root()
        infos = all_datasets().values()
        rows = [(i.name, i.modality, dataset_state(i.name, i.generator is not None, root), i.summary) for i in infos]
        notes = unsupported_lines(infos)
        print(f"data folder: {root} ($NEURONBENCH_DATA)")
    else:
        from neuronbench.protocol.datasets import all_tasks

        rows = [(t.dataset, t.name, f"{len(t.classes)} classes", t.summary) for t in all_tasks().values()]
    print("\n".join(_columns(rows) + notes))


def cmd_run(args: argparse.Namespace) -> int:
    from neuronbench.executors import make_executor
    from neuronbench.reports.aggregate import aggregate, paired_rows
    from neuronbench.reports.markdown import RUN_NOTE, render_markdown
    from neuronbench.protocol.record import read_record
    from neuronbench.runner import GridOptions, run_grid

    options = GridOptions(preset=args.preset, device=args.device, probes=tuple(args.probes),
                          results=args.results, progress=not args.no_progress,
                          label_fractions=tuple(args.label_fractions),
                          pretrain_animals=args.pretrain_animals if args.pretrain_animals == "all"
                          else tuple(args.pretrain_animals), budget=args.budget)
    executor = make_executor(args.jobs, args.scheduler, args.cluster)
    try:
        paths = run_grid(args.method, args.dataset, args.setting, args.seeds, args.task, options, executor)
    except KeyboardInterrupt:
        executor.close(interrupted=True)
        raise
    executor.close()
    records = [read_record(p) for p in paths if p.is_file()]
    points = sorted({(r.label_fraction, r.pretrain_animals) for r in records},
                    key=lambda p: (p != (1.0, None), -p[0], p[1] or 0))  # the headline first
    for fraction, animals in points:
        point = [r for r in records if (r.label_fraction, r.pretrain_animals) == (fraction, animals)]
        what = ([f"{fraction * 100:g} % of the probe-training labels"] if fraction < 1 else []) + \
            ([f"pretraining on {animals} animal(s)"] if animals else []) + \
            ([f"training budget x{args.budget:g} of each preset"] if args.budget != HEADLINE_BUDGET else [])
        if what:
            print(f"## curve point: {', '.join(what)}\n")
        table = aggregate(point)
        paired = paired_rows(table, point)
        for metric in SUMMARY_METRICS if not what else (MAIN_METRIC,):
            print(render_markdown(table, args.dataset, probe=HEADLINE_PROBE, metric=metric, paired=paired, note=False))
    print(RUN_NOTE + "\n")
    from neuronbench.reports.context import committed_records, run_context

    print("\n".join(run_context(records, committed_records(records))))
    failed = [r for r in records if r.status == "failed"]
    for r in failed:
        print(f"failed: {r.method.name} {r.task.name} {r.setting} fold {r.fold} seed {r.encoder_seed}: {r.reason}",
              file=sys.stderr)
    print(f"{len(records)} record(s) in {args.results}", file=sys.stderr)
    return 1 if failed else 0


def cmd_score(args: argparse.Namespace) -> None:
    from neuronbench.score import column_list, score_file

    out = score_file(args.file, args.label, split_by=args.split_by, lab_column=args.lab_column,
                     animal_column=args.animal_column, id_column=args.id_column, prefix=args.prefix,
                     probes=args.probes)
    print(f"{args.file}: {out['n_neurons']} neurons x {out['n_dims']} dims, {len(out['classes'])} classes, "
          f"split by {out['split_by']} ({out['folds']} fold(s), predictions pooled)")
    if out["test_labs"]:
        print(f"held-out labs (tested; never trained on): {', '.join(out['test_labs'])}")
    print(f"embedding columns: {column_list(out['embedding_columns'])}")
    print(f"chance: uniform macro-F1 {out['chance']['uniform_macro_f1']:.4f}, "
          f"majority macro-F1 {out['chance']['majority_macro_f1']:.4f}")
    print("| probe | " + " | ".join(METRIC_SHORT[m] for m in METRICS) + " |\n" + "|---" * (len(METRICS) + 1) + "|")
    for name, m in out["probes"].items():
        print(f"| {name} | " + " | ".join(f"{m[k]:.4f}" for k in METRICS) + " |")


def cmd_export(args: argparse.Namespace) -> None:
    from neuronbench.export import export_bwb_ts3
    from neuronbench.registry import get_method

    get_method(args.method)  # an unknown name is named as such, before looking for its records
    try:
        seeds = tuple(int(s) for s in args.seeds) if args.seeds else bwb.EVAL_SEEDS
    except ValueError:
        raise NeuronbenchError(f"--seeds: expected integers, got {args.seeds}") from None
    done = export_bwb_ts3(args.results, args.method, args.out, label=args.label,
                          setting=args.setting, probe=args.probe, seeds=seeds, scopes=args.scope, preset=args.preset,
                          force=args.force)
    for s in done.seeds:
        multi = "N/A" if s.macro_f1["multi"] is None else f"{s.macro_f1['multi']:.4f}"
        print(f"seed {s.seed}: {s.n_units} units, macro-F1 single-unit {s.macro_f1['single']:.4f}, multi-unit {multi}")
    for scope in ("single", "multi"):
        values = [s.macro_f1[scope] for s in done.seeds if s.macro_f1[scope] is not None]
        if values:
            print(f"mean over {len(values)} seed(s), {scope}-unit macro-F1: {sum(values) / len(values):.4f}")
    for scope, reason in done.not_applicable.items():
        print(f"{scope}-unit: N/A ({reason})")
    for path in done.files:
        print(path)


def cmd_real_data(args: argparse.Namespace) -> None:
    """``data download NAME [--to DIR]`` and ``data prepare NAME [--raw DIR] [--force]``.
    A prepared dataset is replaced (``--force``) only once its rebuild is complete."""
    from neuronbench.data.prepare import loader_module, prepare
    from neuronbench.data.store import data_root, remove_stale
    from neuronbench.protocol.datasets import all_datasets, get_dataset_info

    info = get_dataset_info(args.name)
    if info.loader is None:
        loaded = [i.name for i in all_datasets().values() if i.loader]
        raise NeuronbenchError(f"dataset {args.name!r} is {info.kind}, not prepared from downloads "
                               f"(`neuronbench run` makes it on first use); those that are: {', '.join(loaded)}")
    if args.data_command == "download":
        to = args.to or data_root() / "raw" / args.name
        print(loader_module(info.loader).download(to, progress=not args.no_progress))
        print(f"next: neuronbench data prepare {args.name} --raw {to}", file=sys.stderr)
        return
    raw = args.raw or data_root() / "raw" / args.name
    out = data_root() / args.name
    remove_stale(out.parent)
    if out.exists() and not args.force:
        raise NeuronbenchError(
            f"{out}: dataset {args.name!r} is already prepared; rerun with --force to rebuild it "
            "(the current one is kept until the rebuild has succeeded)"
        )
    if args.format == "brainsets":
        from neuronbench.data import brainsets

        print(brainsets.prepare(raw, out, args.name, replace=args.force))
    else:
        print(prepare(info.loader, raw, out, replace=args.force))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except NeuronbenchError as e:
        print(f"neuronbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neuronbench: interrupted; finished runs are kept: rerun the same command to finish what is left",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`neuronbench ... | head`): stop quietly, as a Unix tool does;
        # stdout goes to devnull so that Python's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a tool killed by the broken pipe returns


def cmd_check_method(args: argparse.Namespace) -> int:
    """Each conformance check of one method, as it finishes; 0 if all pass, else 1."""
    from neuronbench.registry import get_method
    from neuronbench.testing import CHECKS, run_check

    info = get_method(args.name)
    preset = args.preset or ("tiny" if "tiny" in info.presets else "cpu")
    info.config(preset)  # an unknown preset: exit 2 before any check
    print(f"method {info.name!r}, preset {preset!r}: {len(CHECKS)} checks on the CPU", flush=True)
    failed = 0
    for check in CHECKS:
        why = run_check(check, info, preset)
        failed += why is not None
        print(f"{'pass' if why is None else 'FAIL'}  {check.__name__}"
              + ("" if why is None else "\n      " + why.replace("\n", "\n      ")), flush=True)
    print(f"{len(CHECKS) - failed} of {len(CHECKS)} checks passed")
    return 1 if failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Recompute a sample of records; 0 if every one agrees, else 1."""
    from neuronbench.verify import line, summary, verify

    checks = []
    for check in verify(args.results, args.sample, args.seed, paths=args.record):
        checks.append(check)
        print(line(check), flush=True)
    print(summary(checks))
    return 0 if all(c.status == "agree" for c in checks) else 1


def _dispatch(args: argparse.Namespace) -> int:
    status = 0
    if args.command == "list":
        cmd_list(args.what)
    elif args.command == "run":
        status = cmd_run(args)
    elif args.command == "leaderboard":
        from neuronbench.reports.build import build_leaderboard

        for path in build_leaderboard(args.results, args.out, args.records_url):
            print(path)
    elif args.command == "data":
        from neuronbench.data.store import data_root

        if args.data_command == "path":
            print(data_root())
        elif args.data_command in ("download", "prepare"):
            cmd_real_data(args)
        else:
            from neuronbench.data.simulated import build_synthetic

            for path in build_synthetic(force=args.force, size=args.size):
                print(path)
    elif args.command == "score":
        cmd_score(args)
    elif args.command == "export":
        cmd_export(args)
    elif args.command == "verify":
        status = cmd_verify(args)
    elif args.command == "migrate":
        from neuronbench.protocol.record import SCHEMA_VERSION, migrate_folder

        if not args.results.is_dir():
            raise NeuronbenchError(f"--results {args.results}: no such folder")
        done = migrate_folder(args.results)
        print(f"{len(done)} record(s) in {args.results} rewritten at schema version {SCHEMA_VERSION}")
    elif args.command == "check-method":
        status = cmd_check_method(args)
    sys.stdout.flush()  # a closed pipe shows here, inside main's handler
    return status


if __name__ == "__main__":
    sys.exit(main())
