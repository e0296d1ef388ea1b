"""Recordings already prepared by a brainsets pipeline: temporaldata HDF5 files.

The torch_brain stack (brainsets pipelines, NuCLR's public code, the IBL BrainWideBench)
stores one session per ``.h5`` file written by ``temporaldata.Data.to_hdf5``. This
module reads that layout with h5py alone (no temporaldata needed), into the canonical
`Recording`, so ``neuronbench data prepare NAME --raw DIR --format brainsets`` turns a
folder of such files into dataset NAME with that dataset's labels and splits.

On-disk layout (temporaldata 0.1.6; the writers named):
- Every object is an HDF5 group whose ``object`` attribute names its class
  (``Data``, ``ArrayDict``, ``IrregularTimeSeries``, ``RegularTimeSeries``,
  ``Interval``); its arrays are datasets, its scalars attributes (``Data.to_hdf5``,
  data.py). Numpy unicode arrays are stored as fixed-length bytes named in
  ``_unicode_keys`` (``ArrayDict.to_hdf5``, arraydict.py); the string columns of
  ``ArrayDict.from_dataframe``, how pipelines build ``units``, as variable-length strings.
- ``spikes``: ``IrregularTimeSeries`` with ``timestamps`` (s, sorted: the writer sorts
  before saving), ``unit_index`` (row of ``units``) and a ``domain`` group
  (``IrregularTimeSeries.to_hdf5``, irregular_ts.py).
- ``units``: ``ArrayDict`` with ``id`` and per-unit fields; the IBL Brain Wide Map
  pipeline (``ibl_brain_wide_map_2025``) adds ``probe_id``, ``acronym`` and
  ``region_cosmos`` / ``region_beryl`` / ``region_allen``, and a ``probes`` table (``id``,
  ``name``); ibl-bwb-eval's TS3 ``unit_cosmos`` task reads ``region_cosmos``.
- ``domain`` and every ``Interval``: datasets ``start`` and ``end`` (interval.py).
- ``subject`` and ``session``: ``Data`` groups with an ``id`` attribute
  (brainsets ``SubjectDescription``, ``SessionDescription``).
- ``RegularTimeSeries``: samples at ``domain.start[0] + i / sampling_rate`` (attribute
  ``sampling_rate``); with a gappy domain the samples in the gaps are fill values
  (``index_mask``, regular_ts.py).

Canonical form: one spikes `Recording` per probe (``units.probe_id``; one per file when
absent), id ``<session.id>`` or ``<session.id>_<probe>`` (the probe's ``name`` from the
``probes`` table when there, e.g. ``probe00``, else its id); animal = ``subject.id``.
- Units: every row of ``units``, in file order; unit = ``units.id``, exactly as written.
- t_start, t_stop: the span of ``spikes/domain`` (gaps inside it are not kept).
- Labels: ``acronym`` from the first of `ACRONYM_FIELDS` present; ``region`` as dataset
  NAME defines it: for ``ibl`` the Cosmos region (``units.region_cosmos`` when present,
  else the acronym's Cosmos parent with iblatlas, as `neuronbench.data.ibl`), for
  ``steinmetz`` NuCLR's region group of the acronym. Labels outside the task's classes
  are None.
- Epochs: every top-level ``Interval`` except the domains (``domain``, ``*_domain``),
  one epoch per row named by its key (``trials``), clipped to the recording.
- Behaviour: ``running.running_speed`` and ``pupil.size`` (brainsets' Allen pipelines)
  at their own sample times, NaN where one is not sampled. The IBL wheel is not a
  running speed and is not read.
- x, y, z stay NaN (coordinates determine the region label); no waveforms (the files
  give no sampling rate for ``units.wf_template``).
Bad files (no ``units`` or ``spikes``, ``unit_index`` out of range, unsorted or
non-finite timestamps, spikes outside the domain) raise `NeuronbenchError` naming the
file and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuronbench.data.download import require
from neuronbench.data.native import clip_epochs, spikes_csr
from neuronbench.data.recording import Recording, neuron_id
from neuronbench.errors import NeuronbenchError

FORMAT = "brainsets"
LABEL_COLUMNS: tuple[str, ...] = ("region", "acronym")
"""The labels of every dataset a brainsets folder can be prepared as (`LABELERS`)."""
ACRONYM_FIELDS: tuple[str, ...] = ("acronym", "region_allen", "brain_region")
"""Unit fields holding the Allen acronym of a unit's location, in order of preference."""
COSMOS_FIELD = "region_cosmos"
NO_REGION: tuple[str, ...] = ("void", "root")
"""The Cosmos values of a unit in no region (outside the brain, or only the root): no label."""
PROBE_FIELD = "probe_id"
BEHAVIOUR_FIELDS: dict[str, tuple[str, str]] = {
    "running_speed": ("running", "running_speed"),
    "pupil": ("pupil", "size"),
}
"""Canonical behaviour column -> (top-level group, field) in a brainsets file."""
_TIME_SERIES = ("IrregularTimeSeries", "RegularTimeSeries")


def _fail(path: Path, field: str, problem: str) -> NeuronbenchError:
    return NeuronbenchError(f"{path}: field {field!r}: {problem}")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _group(f, path: Path, key: str, objects: tuple[str, ...]):
    """The group ``key`` holding a temporaldata object of one of these classes."""
    h5py = require("h5py")
    if key not in f:
        raise _fail(path, key, f"missing; expected a temporaldata {' or '.join(objects)} group")
    g = f[key]
    kind = _text(g.attrs.get("object", "")) if isinstance(g, h5py.Group) else "a dataset"
    if kind not in objects:
        raise _fail(path, key, f"expected a temporaldata {' or '.join(objects)}, found {kind or 'no object attribute'}")
    return g


def _array(g, path: Path, key: str, n: int | None = None) -> np.ndarray:
    """The dataset ``key`` of group ``g``: strings decoded, else as stored; with ``n``,
    its first dimension must be ``n``."""
    h5py = require("h5py")
    where = f"{g.name.strip('/')}/{key}"
    if key not in g or not isinstance(g[key], h5py.Dataset):
        raise _fail(path, where, "missing")
    ds = g[key]
    if h5py.check_string_dtype(ds.dtype) is not None:
        a = np.asarray(ds.asstr()[()], dtype=object)
    else:
        a = ds[()]
        if a.dtype.kind == "S":
            a = np.char.decode(a, "utf-8").astype(object)
    a = np.atleast_1d(a)
    if n is not None and a.shape[0] != n:
        raise _fail(path, where, f"expected {n} rows, got {a.shape[0]}")
    return a


def _id(f, key: str) -> str | None:
    """The ``id`` attribute of the description group ``key`` (session, subject), or None."""
    if key not in f or "id" not in f[key].attrs:
        return None
    return _text(f[key].attrs["id"])


def _intervals(g, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of the ``domain`` Interval of a time series."""
    dom = _group(g, path, "domain", ("Interval",))
    start, end = _array(dom, path, "start").astype(np.float64), _array(dom, path, "end").astype(np.float64)
    if len(start) == 0 or len(start) != len(end) or not (np.isfinite(start).all() and np.isfinite(end).all()):
        raise _fail(path, dom.name.strip("/"), "expected one or more finite intervals (start, end of equal length)")
    reversed_ = np.flatnonzero(start > end)
    if len(reversed_):
        i = reversed_[0]
        raise _fail(path, dom.name.strip("/"), f"interval {i} is reversed: start {start[i]} > end {end[i]}; "
                    "expected start <= end")
    return start, end


def _series_times(g, path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(sample times, mask of real samples) of a temporaldata time series of ``n`` samples.
    A RegularTimeSeries sits on ``domain.start[0] + i / sampling_rate``; when its domain
    has gaps, the samples outside its intervals (indices ``round((start - start[0]) *
    rate)`` up to that of ``end``, excluded) are fill values (``RegularTimeSeries.index_mask``)."""
    if _text(g.attrs["object"]) != "RegularTimeSeries":
        return _array(g, path, "timestamps", n).astype(np.float64), np.ones(n, dtype=bool)
    rate = float(g.attrs.get("sampling_rate", np.nan))
    if not (np.isfinite(rate) and rate > 0):
        raise _fail(path, f"{g.name.strip('/')}.sampling_rate", f"expected a positive rate in Hz, got {rate}")
    start, end = _intervals(g, path)
    index = np.arange(n)
    real = np.ones(n, dtype=bool)
    if len(start) > 1:
        first = np.round((start - start[0]) * rate).astype(np.int64)
        last = np.round((end - start[0]) * rate).astype(np.int64)
        k = np.searchsorted(first, index, side="right") - 1
        real = (k >= 0) & (index < last[np.maximum(k, 0)])
    return start[0] + index / rate, real


def _behaviour(f, path: Path) -> pd.DataFrame | None:
    frames = []
    for column, (key, field) in BEHAVIOUR_FIELDS.items():
        if key not in f or field not in f[key]:
            continue
        g = _group(f, path, key, _TIME_SERIES)
        v = np.asarray(_array(g, path, field), dtype=np.float64)
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        if v.ndim != 1:
            raise _fail(path, f"{key}/{field}", f"expected shape (N,) or (N, 1), got {v.shape}")
        if _text(g.attrs["object"]) == "IrregularTimeSeries":  # the samples' count is that of the timestamps
            n = len(_array(g, path, "timestamps"))
            if len(v) != n:
                raise _fail(path, f"{key}/{field}", f"expected {n} values (one per sample of {key}/timestamps), "
                            f"got {len(v)}")
        t, real = _series_times(g, path, len(v))
        frames.append(pd.DataFrame({"time": t[real], column: v[real]}))
    if not frames:
        return None
    out = frames[0]
    for frame in frames[1:]:
        out = out.merge(frame, on="time", how="outer")
    return out.sort_values("time", kind="stable").reset_index(drop=True)


def _epochs(f, path: Path) -> pd.DataFrame:
    h5py = require("h5py")
    parts = []
    for key, g in f.items():
        if not isinstance(g, h5py.Group) or _text(g.attrs.get("object", "")) != "Interval":
            continue
        if key == "domain" or key.endswith("_domain"):
            continue
        start = _array(g, path, "start").astype(np.float64)
        end = _array(g, path, "end", len(start)).astype(np.float64)
        parts.append(pd.DataFrame({"start": start, "stop": end, "stimulus": key}))
    if not parts:
        return pd.DataFrame({"start": pd.Series(dtype=float), "stop": pd.Series(dtype=float), "stimulus": []})
    e = pd.concat(parts, ignore_index=True)
    return e[np.isfinite(e["start"]) & np.isfinite(e["stop"])]


def _probe_names(f, path: Path) -> dict[str, str]:
    """Probe id -> name from the ``probes`` table (IBL BrainWideBench files), if any."""
    if "probes" not in f:
        return {}
    g = _group(f, path, "probes", ("ArrayDict",))
    if "id" not in g or "name" not in g:
        return {}
    ids = _array(g, path, "id")
    return dict(zip(ids.astype(str), _array(g, path, "name", len(ids)).astype(str)))


Labeler = Callable[[Path, dict[str, np.ndarray]], dict[str, list]]


def _acronyms(units: dict[str, np.ndarray]) -> tuple[str | None, np.ndarray | None]:
    """(field, Allen acronyms as str) from the first of `ACRONYM_FIELDS` present."""
    for field in ACRONYM_FIELDS:
        if field in units:
            return field, units[field].astype(str)
    return None, None


def _ibl_labels(path: Path, units: dict[str, np.ndarray]) -> dict[str, list]:
    from neuronbench.data.ibl import COSMOS

    field, acronym = _acronyms(units)
    if COSMOS_FIELD in units:
        cosmos = units[COSMOS_FIELD].astype(str)
        unknown = sorted(set(cosmos.tolist()) - set(COSMOS) - set(NO_REGION))
        if unknown:  # never a silently unlabelled unit
            raise _fail(path, f"units/{COSMOS_FIELD}", f"value(s) {unknown[:5]} are not Cosmos regions; expected one "
                        f"of {', '.join(COSMOS)}, or {' / '.join(NO_REGION)} (a unit outside every region: no label)")
    elif acronym is not None:
        regions = require("iblatlas.regions").BrainRegions()
        unknown = ~np.isin(acronym, regions.acronym)
        if unknown.any():  # iblatlas would silently drop them
            raise _fail(path, f"units/{field}", f"acronym(s) {np.unique(acronym[unknown])[:5].tolist()} "
                        "unknown to the Allen structure tree")
        cosmos = regions.acronym2acronym(acronym, mapping="Cosmos")
    else:
        raise _fail(path, "units", f"no brain region field; expected {COSMOS_FIELD!r} or one of {list(ACRONYM_FIELDS)}")
    return {
        "region": [c if c in COSMOS else None for c in cosmos.tolist()],
        "acronym": [None] * len(cosmos) if acronym is None else acronym.tolist(),
    }


def _steinmetz_labels(path: Path, units: dict[str, np.ndarray]) -> dict[str, list]:
    from neuronbench.data.steinmetz import GROUP_OF

    _, acronym = _acronyms(units)
    if acronym is None:
        raise _fail(path, "units", f"no Allen acronym field; expected one of {list(ACRONYM_FIELDS)}")
    return {"region": [GROUP_OF.get(a) for a in acronym.tolist()], "acronym": acronym.tolist()}


LABELERS: dict[str, Labeler] = {"ibl": _ibl_labels, "steinmetz": _steinmetz_labels}
"""Datasets a brainsets folder can be prepared as, and how each derives its labels from
the ``units`` fields (the other datasets' labels, t-types and opto-tagged lines, are not
in brainsets files)."""


def _labeler(dataset: str) -> Labeler:
    if dataset not in LABELERS:
        raise NeuronbenchError(
            f"--format {FORMAT}: dataset {dataset!r} is not supported; choose from {', '.join(LABELERS)} "
            "(datasets labelled by brain region, which brainsets files carry in 'units')"
        )
    return LABELERS[dataset]


def load_file(path: Path, dataset: str) -> list[Recording]:
    """One brainsets ``.h5`` file as one recording per probe of dataset ``dataset``."""
    labeler = _labeler(dataset)
    h5py = require("h5py")
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise NeuronbenchError(f"{path}: not a readable HDF5 file ({e})") from None
    with f:
        units_g = _group(f, path, "units", ("ArrayDict",))
        ids = _array(units_g, path, "id").astype(str)
        n = len(ids)
        if n == 0:
            raise _fail(path, "units/id", "no units")
        wanted = (PROBE_FIELD, COSMOS_FIELD, *ACRONYM_FIELDS)
        units = {"id": ids, **{k: _array(units_g, path, k, n) for k in wanted if k in units_g}}

        spikes = _group(f, path, "spikes", ("IrregularTimeSeries",))
        times = _array(spikes, path, "timestamps").astype(np.float64)
        if times.ndim != 1 or not np.all(np.isfinite(times)):
            raise _fail(path, "spikes/timestamps", "expected a 1-d array of finite times in seconds")
        unit_index = _array(spikes, path, "unit_index", len(times))
        if unit_index.dtype.kind not in "iu" or unit_index.ndim != 1:
            raise _fail(path, "spikes/unit_index",
                        f"expected a 1-d integer array, got {unit_index.dtype} {unit_index.shape}")
        unit_index = unit_index.astype(np.int64)
        if len(times) and (unit_index.min() < 0 or unit_index.max() >= n):
            raise _fail(path, "spikes/unit_index",
                        f"expected rows of units 0..{n - 1}, found {unit_index.min()}..{unit_index.max()}")
        decrease = np.flatnonzero(np.diff(times) < 0)
        if len(decrease):
            raise _fail(path, "spikes/timestamps",
                        f"not sorted (temporaldata writes them sorted): time decreases after spike {decrease[0]}")
        start, end = _intervals(spikes, path)
        t_start, t_stop = float(start.min()), float(end.max())
        if len(times) and (times[0] < t_start or times[-1] > t_stop):
            raise _fail(path, "spikes/domain",
                        f"spikes from {times[0]} to {times[-1]} s lie outside [{t_start}, {t_stop}]")

        subject = _id(f, "subject")
        if not subject:
            raise _fail(path, "subject.id", "missing; the animal is needed to hold animals out")
        session = _id(f, "session") or path.stem
        epochs = clip_epochs(_epochs(f, path), t_start, t_stop)
        behaviour = _behaviour(f, path)
        probe_names = _probe_names(f, path) if PROBE_FIELD in units else {}
    labels = labeler(path, units)

    if PROBE_FIELD in units:
        probe_of = units[PROBE_FIELD].astype(str)
        probes = list(dict.fromkeys(probe_of))
        groups = [(f"{session}_{probe_names.get(p, p)}", np.flatnonzero(probe_of == p)) for p in probes]
    else:
        groups = [(session, np.arange(n))]
    recs = []
    for rec_id, rows in groups:
        position = np.full(n, -1)
        position[rows] = np.arange(len(rows))
        sel = position[unit_index] >= 0
        spike_times, offsets = spikes_csr(times[sel], position[unit_index[sel]], len(rows))
        names = ids[rows].tolist()
        nids = [neuron_id(dataset, rec_id, u) for u in names]
        rec = Recording(
            dataset=dataset,
            animal=subject,
            recording=rec_id,
            modality="spikes",
            neurons=pd.DataFrame(
                {"neuron_id": nids, "unit": names, "track_id": None, "x": np.nan, "y": np.nan, "z": np.nan}
            ),
            t_start=t_start,
            t_stop=t_stop,
            epochs=epochs.copy(),
            spike_times=spike_times,
            spike_offsets=offsets,
            behaviour=None if behaviour is None else behaviour.copy(),
            labels=pd.DataFrame({"neuron_id": nids, **{k: pd.Series([v[i] for i in rows], dtype=object)
                                                       for k, v in labels.items()}}),
        )
        recs.append(rec.validate(where=str(path)))
    return recs


def files(raw: Path) -> list[Path]:
    """``raw`` itself if it is a file, else every ``*.h5`` below it, sorted."""
    raw = Path(raw)
    if raw.is_file():
        return [raw]
    if not raw.is_dir():
        raise NeuronbenchError(f"{raw}: no such file or folder")
    found = sorted(raw.rglob("*.h5"))
    if not found:
        raise NeuronbenchError(f"{raw}: no .h5 file found; expected the processed files of a brainsets pipeline")
    return found


def prepare(raw: Path, out_dir: Path, dataset: str, *, replace: bool = False) -> Path:
    """Write the brainsets file(s) at ``raw`` as dataset ``dataset`` at ``out_dir``
    (``replace``: rebuild aside, then swap in an existing one)."""
    from neuronbench.data.store import write_dataset

    _labeler(dataset)
    paths = files(raw)
    return write_dataset(
        out_dir,
        dataset,
        _unique_recordings(paths, dataset),
        label_columns=LABEL_COLUMNS,
        replace=replace,
        params={"format": FORMAT, "files": [str(p.relative_to(raw)) if p != Path(raw) else p.name for p in paths]},
        description=f"{dataset} read from brainsets (temporaldata HDF5) files",
    )


def _unique_recordings(paths: list[Path], dataset: str) -> list[Recording]:
    """The recordings of every file; two files giving one recording id (the same
    ``session.id``, e.g. a session processed twice) are refused, naming both."""
    recordings: list[Recording] = []
    source: dict[str, Path] = {}
    for path in paths:
        for rec in load_file(path, dataset):
            if rec.recording in source:
                raise NeuronbenchError(
                    f"{path}: field 'session.id': recording {rec.recording!r} is also in {source[rec.recording]}; "
                    "expected one file per session (remove one of the two, or give them distinct session ids)"
                )
            source[rec.recording] = path
            recordings.append(rec)
    return recordings
