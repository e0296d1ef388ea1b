"""Bugeon et al. 2022 (Nature): 2-photon calcium imaging of mouse V1 with coppaFISH
transcriptomic labels (docs/datasets.md).

Source: figshare article 19448531 (doi 10.6084/m9.figshare.19448531), one zip, file id
38046633 (pinned; verified against the md5 figshare publishes for it).

Native layout (inside the zip): top-level ``ttypes.names.txt`` ... and one folder per
session ``<MOUSE>/<YYYY-MM-DD>/`` holding per-neuron files (``neuron.ttype.txt`` one
label a line, ``neuron.UniqueID.npy`` NaN = not matched, ``neuron.stackPosCorrected.npy``
(x, y), ``neuron.depth.npy``) and stimulus blocks ``<stim>/<NN>/`` with
``frame.neuralActivity.npy`` (frames x neurons, dF/F), ``frame.times.npy``,
``running.speed/times.npy`` and ``eye.size/times.npy``. Most arrays are (N, 1) column
vectors and are squeezed.

Canonical form: one calcium `Recording` per session, id ``<mouse>_<yyyymmdd>`` in lower
case (NuCLR's session ids, e.g. ``sb025_20191004``), animal = the mouse (``SB025``).
- Units are the session's rows (``"0"``, ``"1"``, ...); ``track_id`` is the UniqueID
  (as an integer string) or None where it is NaN; x, y = stackPosCorrected, z = depth.
- The blocks of a session are concatenated in time order. Blocks already on one clock
  keep their times; a block whose times overlap the previous one (each block's clock
  starting near 0) is shifted to start ``BLOCK_GAP_S`` after it (NuCLR likewise offsets
  blocks, by 1 h). Each block is one epoch: Blank -> ``spontaneous``, Drifting Gratings
  -> ``drifting_gratings``, Natural Scenes -> ``natural_scenes``.
- A block whose activity does not have the session's neuron count (some ``/02/``
  blocks) is skipped and reported, not fatal. NaN gaps in a trace are filled by linear
  interpolation in time within their block; a neuron whose trace is NaN over a whole
  block is an error naming the file and the neuron (there is nothing to fill it from).
- Behaviour: running speed and pupil (eye.size) linearly interpolated at the frame
  times over their finite samples (NaN gaps bridged, as NeuPRINT does).
- Labels: ``ttype`` (as given), ``cell_class`` (``EC``, else ``IN``), ``subclass`` (the
  t-type's prefix before the first ``-``; ``unknown`` for EC and IN, as NuCLR sets it).
  The subclass task keeps Lamp5, Pvalb, Sncg, Sst, Vip (NuCLR drops Serpinf1).

Published splits (NuCLR; frozen in `neuronbench.catalog`): the
development sessions sb025_20191004, sb026_20191011, sb028_20191106, sb030_20200108 are
never tested; the inductive test mouse is SB028, absent from pretraining.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from neuronbench.data.download import download_all, figshare_sources
from neuronbench.data.native import load_npy, vector
from neuronbench.data.recording import Recording, neuron_id
from neuronbench.errors import NeuronbenchError

NAME = "bugeon"
FIGSHARE_ARTICLE = 19448531
FIGSHARE_FILE = 38046633
STIMULI: dict[str, str] = {
    "Blank": "spontaneous",
    "Drifting Gratings": "drifting_gratings",
    "Natural Scenes": "natural_scenes",
}
SUBCLASSES: tuple[str, ...] = ("Lamp5", "Pvalb", "Sncg", "Sst", "Vip")
LABEL_COLUMNS: tuple[str, ...] = ("cell_class", "subclass", "ttype")
BLOCK_GAP_S = 60.0
PARAMS = {"source": f"figshare:{FIGSHARE_ARTICLE}/files/{FIGSHARE_FILE}"}
DESCRIPTION = "Bugeon et al. 2022: V1 2-photon calcium with coppaFISH t-types"
_SESSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MOUSE = re.compile(r"^SB\d+$")


def download(to: Path, *, progress: bool = True) -> Path:
    """Fetch and unpack the pinned zip into ``to``."""
    pinned = {"figshare_article": FIGSHARE_ARTICLE, "files": [FIGSHARE_FILE]}
    download_all(to, pinned, lambda: figshare_sources(FIGSHARE_ARTICLE, file_ids=(FIGSHARE_FILE,)), progress=progress)
    return Path(to)


def find_root(raw_dir: Path) -> Path:
    """The folder holding the mouse folders (the zip may add one or two levels)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise NeuronbenchError(f"{raw_dir}: not a folder (expected the unpacked figshare {FIGSHARE_ARTICLE} release)")
    candidates = [
        raw_dir,
        *sorted(p for p in raw_dir.glob("*") if p.is_dir()),
        *sorted(p for p in raw_dir.glob("*/*") if p.is_dir()),
    ]
    for c in candidates:
        if any(p.is_dir() and _MOUSE.match(p.name) for p in c.iterdir()):
            return c
    raise NeuronbenchError(
        f"{raw_dir}: no mouse folder (SB025/, SB026/, ...) found here or below; expected the unpacked "
        f"figshare {FIGSHARE_ARTICLE} release (run `neuronbench data download bugeon`)"
    )


def session_dirs(root: Path) -> list[Path]:
    """Every ``<MOUSE>/<YYYY-MM-DD>/`` folder, sorted."""
    dirs = [
        d
        for m in sorted(root.iterdir())
        if m.is_dir() and _MOUSE.match(m.name)
        for d in sorted(m.iterdir())
        if d.is_dir() and _SESSION.match(d.name)
    ]
    if not dirs:
        raise NeuronbenchError(f"{root}: no session folder <MOUSE>/<YYYY-MM-DD>/ found")
    return dirs


def recording_id(session: Path) -> str:
    return f"{session.parent.name.lower()}_{session.name.replace('-', '')}"


def labels_from_ttypes(ttypes: list[str]) -> dict[str, list[str]]:
    """ttype -> cell_class (EC / IN) and subclass (prefix, or ``unknown`` for EC and IN)."""
    return {
        "cell_class": ["EC" if t == "EC" else "IN" for t in ttypes],
        "subclass": ["unknown" if t in ("EC", "IN") else t.split("-")[0] for t in ttypes],
        "ttype": list(ttypes),
    }


def _ttypes(path: Path) -> list[str]:
    if not path.is_file():
        raise NeuronbenchError(f"{path}: missing (the session's cell list, one t-type a line)")
    lines = [line.strip() for line in path.read_text().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines or any(not t for t in lines):
        raise NeuronbenchError(f"{path}: field 'ttype': expected one non-empty label per line")
    return lines


def _resample(block: Path, value: str, times: str, frame_times: np.ndarray) -> np.ndarray:
    """A behaviour trace at the frame times over its finite samples (NaN if absent)."""
    vp, tp = block / value, block / times
    if not (vp.is_file() and tp.is_file()):
        return np.full(len(frame_times), np.nan)
    v = vector(vp).astype(np.float64)
    t = vector(tp, len(v), field="rows (one time per sample)").astype(np.float64)
    ok = np.isfinite(v) & np.isfinite(t)
    if ok.sum() < 2:
        return np.full(len(frame_times), np.nan)
    order = np.argsort(t[ok], kind="stable")
    return np.interp(frame_times, t[ok][order], v[ok][order])


def _blocks(session: Path, n: int, report: list[str]) -> list[dict]:
    """The session's stimulus blocks with the session's neuron count, in time order."""
    blocks = []
    for stim_dir in sorted(p for p in session.iterdir() if p.is_dir()):
        for block in sorted(p for p in stim_dir.iterdir() if p.is_dir()):
            act_path = block / "frame.neuralActivity.npy"
            if not act_path.is_file():
                continue
            act = load_npy(act_path)
            if act.ndim != 2:
                raise NeuronbenchError(f"{act_path}: field 'shape': expected (frames, neurons), got {act.shape}")
            if act.shape[1] != n:
                report.append(
                    f"{act_path}: {act.shape[1]} neurons but the session lists {n} "
                    f"({session / 'neuron.ttype.txt'}); block skipped"
                )
                continue
            times = vector(block / "frame.times.npy", act.shape[0], field="rows (one time per frame)")
            times = times.astype(np.float64)
            if len(times) < 2 or not np.all(np.diff(times) > 0):
                raise NeuronbenchError(
                    f"{block / 'frame.times.npy'}: field 'times': expected 2+ strictly increasing times"
                )
            blocks.append(
                {
                    "path": block,
                    "stimulus": STIMULI.get(stim_dir.name, stim_dir.name.lower().replace(" ", "_")),
                    "traces": _fill_gaps(act_path, act.astype(np.float32), times),
                    "times": times,
                    "running_speed": _resample(block, "running.speed.npy", "running.times.npy", times),
                    "pupil": _resample(block, "eye.size.npy", "eye.times.npy", times),
                }
            )
    blocks.sort(key=lambda b: (b["times"][0], str(b["path"])))
    return blocks


def _neuron_count(session: Path, counts: dict[str, int]) -> int:
    """The session's neuron count, on which its per-neuron files must agree; a file that
    disagrees with the others is named."""
    values = list(counts.values())
    n = max(set(values), key=values.count)
    odd = [f for f, c in counts.items() if c != n]
    if not odd:
        return n
    if values.count(n) <= len(values) // 2:  # no majority: name them all
        listed = ", ".join(f"{f} {c}" for f, c in counts.items())
        raise NeuronbenchError(f"{session}: the per-neuron files disagree on the neuron count ({listed}); "
                               "expected one entry per neuron in each")
    agree = ", ".join(f for f, c in counts.items() if c == n)
    f = odd[0]
    field = "'ttype': expected {n} lines" if f.endswith(".txt") else "'rows': expected {n} entries"
    raise NeuronbenchError(f"{session / f}: field {field.format(n=n)}, got {counts[f]} (one per neuron, as in {agree})")


def _fill_gaps(act_path: Path, traces: np.ndarray, times: np.ndarray) -> np.ndarray:
    """NaN gaps of a block's traces filled linearly in time; a neuron whose trace is NaN
    over the whole block is an error (nothing to fill it from)."""
    finite = np.isfinite(traces)
    if finite.all():
        return traces
    empty = np.flatnonzero(~finite.any(axis=0))
    if len(empty):
        raise NeuronbenchError(
            f"{act_path}: field 'traces': neuron(s) (columns) {empty[:10].tolist()} have no finite dF/F frame "
            f"in this block of {traces.shape[0]} frames; expected finite values with at most NaN gaps"
        )
    filled = pd.DataFrame(traces, index=times).interpolate(method="index", axis=0, limit_direction="both")
    return filled.to_numpy(dtype=np.float32)


def load_session(session: Path, report: list[str]) -> Recording | None:
    """One session folder as a calcium recording (None, reported, if no block is usable)."""
    ttypes = _ttypes(session / "neuron.ttype.txt")
    uid = vector(session / "neuron.UniqueID.npy").astype(np.float64)
    pos = load_npy(session / "neuron.stackPosCorrected.npy")
    if pos.ndim != 2 or pos.shape[1] < 2:
        raise NeuronbenchError(
            f"{session / 'neuron.stackPosCorrected.npy'}: field 'shape': expected (neurons, 2), got {pos.shape}"
        )
    depth = vector(session / "neuron.depth.npy").astype(np.float64)
    n = _neuron_count(session, {"neuron.ttype.txt": len(ttypes), "neuron.UniqueID.npy": len(uid),
                                "neuron.stackPosCorrected.npy": len(pos), "neuron.depth.npy": len(depth)})

    blocks = _blocks(session, n, report)
    if not blocks:
        if not any(p.is_dir() for p in session.iterdir()):
            raise NeuronbenchError(f"{session}: no stimulus block folder <stim>/<NN>/ with frame.neuralActivity.npy")
        report.append(f"{session}: no block matches the session's {n} neurons; session skipped")
        return None
    epochs, end = [], -np.inf
    for b in blocks:
        dt = float(np.median(np.diff(b["times"])))
        if b["times"][0] <= end:  # overlapping clocks: place the block after the previous one
            b["times"] = b["times"] + (end + BLOCK_GAP_S - b["times"][0])
        end = b["times"][-1] + dt
        epochs.append((float(b["times"][0]), float(end), b["stimulus"]))
    frame_times = np.concatenate([b["times"] for b in blocks])
    traces = np.concatenate([b["traces"] for b in blocks], axis=0)

    rec_id = recording_id(session)
    units = [str(i) for i in range(n)]
    ids = [neuron_id(NAME, rec_id, u) for u in units]
    tracks = [None if not np.isfinite(u) else str(int(u)) for u in uid]
    labels = labels_from_ttypes(ttypes)
    behaviour = pd.DataFrame(
        {
            "time": frame_times,
            "running_speed": np.concatenate([b["running_speed"] for b in blocks]),
            "pupil": np.concatenate([b["pupil"] for b in blocks]),
        }
    )
    rec = Recording(
        dataset=NAME,
        animal=session.parent.name,
        recording=rec_id,
        modality="calcium",
        neurons=pd.DataFrame(
            {
                "neuron_id": ids,
                "unit": units,
                "track_id": tracks,
                "x": pos[:, 0].astype(float),
                "y": pos[:, 1].astype(float),
                "z": depth,
            }
        ),
        t_start=float(frame_times[0]),
        t_stop=float(end),
        epochs=pd.DataFrame(epochs, columns=["start", "stop", "stimulus"]),
        traces=np.ascontiguousarray(traces),
        frame_times=frame_times,
        behaviour=behaviour,
        labels=pd.DataFrame({"neuron_id": ids, **labels}),
    )
    return rec.validate(where=str(session))


def load(raw_dir: Path, report: list[str] | None = None) -> list[Recording]:
    """Every usable session under ``raw_dir``; the blocks and sessions skipped are
    appended to ``report`` (when given)."""
    report = report if report is not None else []
    recs = [r for s in session_dirs(find_root(raw_dir)) if (r := load_session(s, report)) is not None]
    if not recs:
        raise NeuronbenchError(f"{raw_dir}: no usable session (see: {'; '.join(report[:3])})")
    return recs
