"""Realism audit (`neuronbench.realism.audit`) of a synthetic simulation or a prepared
spikes dataset: prints a Markdown report, writes the full results as JSON.

By default it simulates the embedded default dataset (`synthetic.SyntheticConfig()`,
~1-3 min of CPU); ``--tiny`` the tiny one; ``--dataset-dir DIR`` reads a prepared dataset
folder (with its labels) instead. ``--placement NAME`` adds the information-placement
tables of scripts/population_ceiling.py for the registered dataset NAME (e.g.
``synthetic``; several minutes). Usage:

    python scripts/realism_audit.py [--tiny | --dataset-dir DIR] [--seed 0] [--json PATH]
                                    [--no-probes] [--ungrouped] [--placement synthetic]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path

from neuronbench import realism
from neuronbench.atomic import atomic_write_text
from neuronbench.errors import NeuronbenchError


def _jsonable(x: object) -> object:
    """NaN and infinities as null; numpy scalars as Python numbers."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _f(v: object, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def markdown(result: dict, source: str) -> str:
    """The report: one table per measure."""
    r = result
    out = [f"# Realism audit: {source}", "",
           f"{r['n_recordings']} recordings, {r['n_animals']} animals, {r['n_units']} units.", ""]
    rates, ref = r["rates"], r["refractory"]
    out += ["## 1-2. Rates and refractory violations", "",
            "| measure | value |", "|---|---|",
            f"| median rate (Hz) | {_f(rates['median_hz'], 2)} |",
            *(f"| median rate, {g} (Hz) | {_f(v, 2)} |" for g, v in rates["median_hz_by_region"].items()),
            f"| units with 0 spikes | {rates['n_silent']} |",
            f"| units below {realism.LOW_RATE_HZ} Hz | {rates['n_below_0_1hz']} |",
            f"| ISIs below 1.5 ms (% of all ISIs) | {_f(ref['pct_isi_lt_1_5ms'], 2)} |",
            f"| units with > 1 % of ISIs below 1.5 ms | {ref['n_units_over_1pct']} |",
            f"| ISIs below 1 ms | {ref['n_isi_lt_1ms']} |",
            f"| shortest ISI (ms) | {_f(ref['shortest_isi_ms'], 2)} |"]
    for column in ("subclass", "lab"):
        for k, v in ref.get(f"pct_isi_lt_1_5ms_by_{column}", {}).items():
            out.append(f"| ISIs below 1.5 ms, {column} {k} (%) | {_f(v, 2)} |")
    out += ["", "## 3. Spike-count correlation (pairs of units of the same recording)", "",
            "| bin | within region | across regions | ratio | pairs within / across |", "|---|---|---|---|---|"]
    out += [f"| {k} | {_f(c['within'])} | {_f(c['across'])} | {_f(c['ratio'], 1)} | "
            f"{c['n_within_pairs']} / {c['n_across_pairs']} |" for k, c in r["correlation"].items()]
    run = r["running_correlation"]
    if run["by_region"]:
        out += ["", f"Correlation of each region's summed rate with running speed ({run['bin_s']:g} s bins, mean over "
                "recordings): " + ", ".join(f"{g} {v:.2f}" for g, v in run["by_region"].items()) + "."]
    out += ["", "## 4. Rhythm visibility (phase from the region's other units)", "",
            (f"Vector length: median over units with >= {realism.MIN_STATE_SPIKES} spikes in the state; excess: "
             "median of a unit's vector length minus its mean vector length in the two flanking bands of the same "
             f"width (co-variation alone locks a unit to every band a little); locked: Rayleigh p < "
             f"{realism.RAYLEIGH_P}; power: band over flanking bands of the region's summed rate, in the state / in "
             f"the contrasting state. Running: speed > {realism.RUNNING_CM_S:g} cm/s."), "",
            ("| band (state vs contrast) | region | units | vector length | excess over flanks | locked | "
             "vector length, contrast | excess, contrast | locked, contrast | power in state | power in contrast | "
             "power ratio |"),
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, band in r["rhythms"].items():
        lo, hi = band["band_hz"]
        for g, v in band["by_region"].items():
            out.append(f"| {name} ({lo:g}-{hi:g} Hz, {band['state']} vs {band['contrast']}) | {g} | {v['n_units']} | "
                       f"{_f(v['median_vector_length'])} | {_f(v['median_excess_over_flanks'])} | "
                       f"{_f(v['fraction_locked'], 2)} | {_f(v['median_vector_length_contrast'])} | "
                       f"{_f(v['median_excess_over_flanks_contrast'])} | {_f(v['fraction_locked_contrast'], 2)} | "
                       f"{_f(v['power_ratio_inside'], 2)} | {_f(v['power_ratio_outside'], 2)} | "
                       f"{_f(v['power_inside_over_outside'], 2)} |")
    if "probes" in r:
        p = r["probes"]
        grouping = "grouped by animal" if p["grouped_by_animal"] else "not grouped"
        out += ["", f"## 5. Single-modality probes (macro-F1, {p['folds']}-fold stratified, {grouping})", "",
                "| probe | macro-F1 |", "|---|---|"]
        out += [f"| cell class, {k.replace('_', ' ')} | {_f(v)} |" for k, v in p.get("cell_class", {}).items()]
        reg = p["region"]
        out += [f"| region, best single feature ({reg['best_single_feature']}) | {_f(reg['best_single_feature_f1'])} |",
                f"| region, chance (uniform) | {_f(reg['chance_uniform'])} |"]
    out += ["", "## 6. Type mix per region", "", "| region | units | inhibitory share | subclass fractions |",
            "|---|---|---|---|"]
    for g, v in r["type_mix"].items():
        sub = ", ".join(f"{k} {x:.2f}" for k, x in v.get("subclass_fractions", {}).items())
        out.append(f"| {g} | {v['n_units']} | {_f(v.get('inhibitory_share'), 2)} | {sub} |")
    out += ["", "## 7. Lab effects", ""]
    if r["labs"]:
        out += [("| lab | recordings | units / recording | median rate (Hz) | trough depth (uV) | "
                "trough-to-peak (ms) | ISIs < 1.5 ms (%) |"), "|---|---|---|---|---|---|---|"]
        out += [f"| {lab} | {v['n_recordings']} | {_f(v['units_per_recording'], 1)} | {_f(v['median_rate_hz'], 2)} | "
                f"{_f(v['median_trough_depth_uv'], 1)} | {_f(v['median_trough_to_peak_ms'], 2)} | "
                f"{_f(v['pct_isi_lt_1_5ms'], 2)} |" for lab, v in r["labs"].items()]
    else:
        out.append("No `lab` label in these recordings.")
    return "\n".join(out)


def _population_ceiling():
    """scripts/population_ceiling.py as a module (scripts/ is not a package)."""
    path = Path(__file__).with_name("population_ceiling.py")
    spec = importlib.util.spec_from_file_location("population_ceiling", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(args: argparse.Namespace) -> tuple[list, str]:
    """The spike recordings to audit and a description of where they came from."""
    if args.dataset_dir:
        from neuronbench.data.store import Dataset

        ds = Dataset(args.dataset_dir)
        return ds.load(with_labels=True), f"dataset {ds.name} ({args.dataset_dir})"
    from neuronbench.data import synthetic

    config = synthetic.tiny_config(args.seed) if args.tiny else dataclasses.replace(synthetic.SyntheticConfig(),
                                                                                    seed=args.seed)
    size = "tiny" if args.tiny else "default"
    return synthetic.simulate(config)[0], f"synthetic v{synthetic.VERSION}, {size} config, seed {args.seed}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = p.add_mutually_exclusive_group()
    source.add_argument("--tiny", action="store_true", help="simulate synthetic.tiny_config() instead of the default")
    source.add_argument("--dataset-dir", default=None, help="a prepared spikes dataset folder to audit instead")
    p.add_argument("--seed", type=int, default=0, help="simulation seed (default 0, the embedded default's)")
    p.add_argument("--json", default=None, help="write the full results here (JSON, atomically)")
    p.add_argument("--no-probes", action="store_true", help="skip the cross-validated probes (item 5)")
    p.add_argument("--ungrouped", action="store_true", help="probe folds stratified only, not grouped by animal")
    p.add_argument("--placement", default=None, metavar="DATASET",
                   help="also the information-placement tables of scripts/population_ceiling.py for this "
                        "registered dataset (e.g. synthetic)")
    args = p.parse_args(argv)
    try:
        recordings, where = load(args)
        result = realism.audit(recordings, with_probes=not args.no_probes, group_by_animal=not args.ungrouped)
        result["source"] = where
        text = markdown(result, where)
        if args.placement:
            ceiling = _population_ceiling()
            result["placement"] = ceiling.placement(args.placement)
            text += "\n\n## 8. Information placement (scripts/population_ceiling.py)\n" + \
                ceiling.placement_markdown(result["placement"])
        if args.json:
            atomic_write_text(Path(args.json), json.dumps(_jsonable(result), indent=1, allow_nan=False) + "\n")
    except NeuronbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
