"""IBL Brain Wide Map: Neuropixels in 100+ mice (docs/datasets.md).

Source: the public IBL database (OpenAlyx) through ONE-api, for the sessions listed in
`SESSIONS_FILE` (the Brain Wide Map sessions of NuCLR's IBL experiments, pinned); ONE
checks each file against the size and hash the database publishes for it.

Native layout (a ONE cache): ``<lab>/Subjects/<subject>/<yyyy-mm-dd>/<nnn>/`` with
``alf/probeXX/pykilosort/`` per probe (``spikes.times``, ``spikes.clusters``,
``clusters.channels``, ``clusters.metrics.pqt``, ``channels.brainLocationIds_ccf_2017``)
and ``alf/_ibl_trials.table.pqt``. Files are read with ONE-api's ALF reader
(``one.alf.io.load_object``), offline; atlas ids are mapped with iblatlas.

Canonical form: one spikes `Recording` per probe insertion, id
``<subject>_<yyyy-mm-dd>_<nnn>_<probe>``, animal = the subject.
- Units: clusters whose ``clusters.metrics.pqt`` ``label`` is 1 (all 3 QC metrics
  passed, NuCLR's filter); unit = the cluster id.
- Region: the Allen atlas id of the cluster's channel
  (``channels.brainLocationIds_ccf_2017[clusters.channels]``) -> ``acronym`` (Allen) and
  ``region`` = its Cosmos parent with iblatlas ``BrainRegions().id2acronym(ids,
  mapping='Cosmos')``; void and root are not a class (None). An id unknown to the atlas
  is an error naming the file (iblatlas would silently drop it).
- x, y, z stay NaN (coordinates determine the region label).
- Epochs: the ``task`` block (first trial start to last trial end) when the trials
  table is there. No waveforms.
- For the BrainWideBench TS3 option, kept in the label table so that methods never see
  them (a unit's depth gives its region away): ``firing_rate`` and ``unit_qc``
  (``clusters.metrics.pqt`` ``firing_rate`` and ``label``, which BWB's unit filter reads:
  the protocol applies it), ``uuid`` (``clusters.uuids.csv``: BWB's unit id), ``depth`` (``clusters.depths.npy``,
  um along the probe: the multi-unit read-out) and ``session`` (the session's eid, from
  the ONE cache table ``sessions.pqt`` at the root of the raw folder), and ``lab`` (the
  session folder's lab). Each is None where its file is absent.

Splits: the reference gives no frozen IBL test set (NuCLR's held-out probe list is keyed
by probe insertion ids that the ALF folders do not carry), so the inductive setting
holds out a hashed third of the mice (`neuronbench.protocol.settings`): stricter than
held-out probes, since no held-out mouse is seen in pretraining.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neuronbench.data.download import require
from neuronbench.data.native import clip_epochs, integers, spikes_csr
from neuronbench.data.recording import Recording, neuron_id
from neuronbench.errors import NeuronbenchError

NAME = "ibl"
OPENALYX = "https://openalyx.internationalbrainlab.org"
SESSIONS_FILE = Path(__file__).parent / "sources" / "ibl_sessions.txt"
COSMOS: tuple[str, ...] = ("CB", "CNU", "CTXsp", "HB", "HPF", "HY", "Isocortex", "MB", "OLF", "TH")
REGION_COLUMNS: tuple[str, ...] = ("region", "acronym")
"""The labels every region dataset shares (`neuronbench.data.brainsets` writes these)."""
BWB_COLUMNS: tuple[str, ...] = ("firing_rate", "unit_qc", "uuid", "depth", "session", "lab")
"""What the BrainWideBench TS3 option needs besides (module docstring), kept with the labels."""
LABEL_COLUMNS: tuple[str, ...] = REGION_COLUMNS + BWB_COLUMNS
SESSIONS_TABLE = "sessions.pqt"
"""ONE's cache table of sessions (eid, lab, subject, date, number), at the cache's root."""
SPIKE_SORTER = "pykilosort"
PARAMS = {"source": OPENALYX, "qc": "clusters.metrics label == 1", "mapping": "Cosmos"}
DESCRIPTION = "IBL Brain Wide Map: Neuropixels, one recording per probe, 10 Cosmos regions"


def pinned_sessions() -> list[str]:
    """The pinned session ids (eids), one a line, ``#`` comments ignored."""
    lines = [line.split("#")[0].strip() for line in SESSIONS_FILE.read_text().splitlines()]
    return [line for line in lines if line]


def download(to: Path, *, progress: bool = True) -> Path:
    """Fetch the spike sorting, cluster metrics, channel locations and trials of every
    pinned session into a ONE cache at ``to`` (non-interactive: ``silent=True``)."""
    one_api = require("one.api")
    one = one_api.ONE(base_url=OPENALYX, password="international", silent=True, cache_dir=str(to))
    from tqdm import tqdm

    for eid in tqdm(pinned_sessions(), desc="ibl sessions", unit="session", disable=not progress):
        try:
            one.load_dataset(eid, "_ibl_trials.table.pqt", collection="alf", download_only=True)
            for collection in one.list_collections(eid, filename="spikes.times.npy"):
                if not collection.endswith(SPIKE_SORTER):
                    continue
                one.load_object(
                    eid, "spikes", collection=collection, attribute=["times", "clusters"], download_only=True
                )
                one.load_object(
                    eid, "clusters", collection=collection, attribute=["channels", "metrics", "uuids", "depths"],
                    download_only=True,
                )
                # every channels.* file (small): ONE would read "brainLocationIds_ccf_2017" as
                # attribute "brainLocationIds" with timescale "ccf_2017", so no attribute filter
                one.load_object(eid, "channels", collection=collection, download_only=True)
        except Exception as e:  # ONE and its HTTP stack raise many types
            raise NeuronbenchError(f"ibl session {eid}: download failed ({e}); rerun to resume") from None
    if hasattr(one, "save_cache"):  # the sessions table maps session folders to eids (`session_eids`)
        one.save_cache()
    return Path(to)


def probe_dirs(raw_dir: Path) -> list[Path]:
    """Every ``alf/probeXX/pykilosort/`` folder holding spikes under ``raw_dir``."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise NeuronbenchError(f"{raw_dir}: not a folder")
    dirs = sorted(
        {
            p.parent
            for p in raw_dir.rglob("spikes.times*.npy")
            if p.parent.name == SPIKE_SORTER
            and p.parent.parent.name.startswith("probe")
            and p.parent.parent.parent.name == "alf"
        }
    )
    if not dirs:
        raise NeuronbenchError(
            f"{raw_dir}: no alf/probeXX/{SPIKE_SORTER}/ folder with spikes.times.npy found; expected a ONE cache "
            "<lab>/Subjects/<subject>/<date>/<number>/alf/... (run `neuronbench data download ibl`)"
        )
    return dirs


def _load(alfio, folder: Path, obj: str, attributes: list[str], *, optional: tuple[str, ...] = (),
          filter_attributes: bool = True) -> dict:
    """An ALF object with (at least) these attributes, and the ``optional`` ones where
    present. ONE reads ``a_b`` in an attribute as attribute ``a`` with timescale ``b``, so
    such names cannot be used as a filter."""
    try:
        wanted = {"attribute": [*attributes, *optional]} if filter_attributes else {}
        bunch = alfio.load_object(folder, obj, **wanted)
    except Exception as e:  # ONE raises ALFObjectNotFound and friends
        raise NeuronbenchError(f"{folder}: ALF object {obj!r} ({', '.join(attributes)}): {e}".split("\n")[0]) from None
    missing = [a for a in attributes if a not in bunch]
    if missing:
        raise NeuronbenchError(f"{folder}: missing {', '.join(f'{obj}.{a}' for a in missing)}")
    return bunch


def _column(folder: Path, name: str, a: np.ndarray, n: int | None = None) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1 or (n is not None and len(a) != n):
        raise NeuronbenchError(
            f"{folder / name}: field 'shape': expected ({n if n is not None else 'N'},), got {a.shape}"
        )
    return a


def _trials_epochs(session: Path) -> pd.DataFrame:
    path = session / "alf" / "_ibl_trials.table.pqt"
    if not path.is_file():
        return pd.DataFrame({"start": [], "stop": [], "stimulus": []})
    try:
        trials = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for unreadable files
        raise NeuronbenchError(f"{path}: unreadable Parquet table ({e})") from None
    if not {"intervals_0", "intervals_1"} <= set(trials.columns):
        raise NeuronbenchError(f"{path}: missing columns intervals_0, intervals_1 (trial start and end)")
    start, stop = trials["intervals_0"].to_numpy(float), trials["intervals_1"].to_numpy(float)
    ok = np.isfinite(start) & np.isfinite(stop)
    if not ok.any():
        return pd.DataFrame({"start": [], "stop": [], "stimulus": []})
    return pd.DataFrame({"start": [start[ok].min()], "stop": [stop[ok].max()], "stimulus": ["task"]})


def load_probe(folder: Path, regions, eids: dict[tuple[str, str, str, str], str] | None = None) -> Recording:
    """One ``alf/probeXX/pykilosort/`` folder as a recording; ``eids`` (`session_eids`)
    names its session."""
    alfio = require("one.alf.io")
    alfpath = require("one.alf.path")
    session = folder.parent.parent.parent
    try:
        parts = alfpath.session_path_parts(session, as_dict=True)
    except Exception:
        raise NeuronbenchError(
            f"{session}: session folder: expected <lab>/Subjects/<subject>/<yyyy-mm-dd>/<nnn>"
        ) from None
    key = (str(parts.get("lab")), str(parts["subject"]), str(parts["date"]), str(parts["number"]))
    session_eid = (eids or {}).get(key)
    spikes = _load(alfio, folder, "spikes", ["times", "clusters"])
    clusters = _load(alfio, folder, "clusters", ["channels", "metrics"], optional=("uuids", "depths"))
    channels = _load(alfio, folder, "channels", ["brainLocationIds_ccf_2017"], filter_attributes=False)
    times = _column(folder, "spikes.times.npy", spikes["times"]).astype(np.float64)
    clu = integers(
        folder / "spikes.clusters.npy", _column(folder, "spikes.clusters.npy", spikes["clusters"], len(times))
    )
    if len(times) == 0:
        raise NeuronbenchError(f"{folder / 'spikes.times.npy'}: field 'times': expected the probe's spikes, got none")
    if not np.all(np.isfinite(times)):
        raise NeuronbenchError(f"{folder / 'spikes.times.npy'}: field 'times': contains NaN or infinite values")
    metrics = clusters["metrics"]
    if not isinstance(metrics, pd.DataFrame) or "label" not in metrics.columns:
        raise NeuronbenchError(
            f"{folder / 'clusters.metrics.pqt'}: field 'label': missing (fraction of QC metrics passed)"
        )
    n = len(metrics)
    if n == 0:
        raise NeuronbenchError(f"{folder / 'clusters.metrics.pqt'}: field 'rows': expected one row per cluster, got none")
    if "cluster_id" in metrics.columns and not np.array_equal(metrics["cluster_id"].to_numpy(), np.arange(n)):
        raise NeuronbenchError(
            f"{folder / 'clusters.metrics.pqt'}: field 'cluster_id': expected rows 0..{n - 1} in order"
        )
    cl_chan = integers(
        folder / "clusters.channels.npy", _column(folder, "clusters.channels.npy", clusters["channels"], n)
    )
    atlas = integers(
        folder / "channels.brainLocationIds_ccf_2017.npy",
        _column(folder, "channels.brainLocationIds_ccf_2017.npy", channels["brainLocationIds_ccf_2017"]),
    )
    if len(clu) and (clu.min() < 0 or clu.max() >= n):
        raise NeuronbenchError(
            f"{folder / 'spikes.clusters.npy'}: field 'clusters': expected ids 0..{n - 1} "
            f"(rows of clusters.metrics.pqt), found {clu.min()}..{clu.max()}"
        )
    if cl_chan.min() < 0 or cl_chan.max() >= len(atlas):
        raise NeuronbenchError(
            f"{folder / 'clusters.channels.npy'}: field 'channels': expected 0..{len(atlas) - 1} "
            f"(rows of channels.brainLocationIds_ccf_2017.npy), found up to {cl_chan.max()}"
        )
    ids_of_unit = atlas[cl_chan]
    unknown = ~np.isin(np.abs(ids_of_unit), regions.id)
    if unknown.any():
        raise NeuronbenchError(
            f"{folder / 'channels.brainLocationIds_ccf_2017.npy'}: field 'ids': atlas id(s) "
            f"{np.unique(ids_of_unit[unknown])[:5].tolist()} unknown to the Allen structure tree"
        )

    units = np.flatnonzero(metrics["label"].to_numpy(dtype=float) == 1.0)
    if len(units) == 0:
        raise NeuronbenchError(f"{folder / 'clusters.metrics.pqt'}: field 'label': no cluster passes QC (label == 1)")
    position = np.full(n, -1)
    position[units] = np.arange(len(units))
    sel = position[clu] >= 0
    spike_times, offsets = spikes_csr(times[sel], position[clu[sel]], len(units))
    cosmos = [c if c in COSMOS else None for c in regions.id2acronym(ids_of_unit[units], mapping="Cosmos")]
    acronyms = regions.id2acronym(ids_of_unit[units])
    rates = (pd.to_numeric(metrics["firing_rate"], errors="coerce").to_numpy(dtype=float)[units]
             if "firing_rate" in metrics.columns else np.full(len(units), np.nan))
    uuids = _optional_column(folder, "clusters.uuids.csv", clusters.get("uuids"), n)
    depths = _optional_column(folder, "clusters.depths.npy", clusters.get("depths"), n)
    rec_id = f"{parts['subject']}_{parts['date']}_{parts['number']}_{folder.parent.name}"
    names = [str(u) for u in units]
    ids = [neuron_id(NAME, rec_id, u) for u in names]
    t_start, t_stop = min(0.0, float(times.min())), float(times.max())
    rec = Recording(
        dataset=NAME,
        animal=str(parts["subject"]),
        recording=rec_id,
        modality="spikes",
        neurons=pd.DataFrame(
            {"neuron_id": ids, "unit": names, "track_id": None, "x": np.nan, "y": np.nan, "z": np.nan}
        ),
        t_start=t_start,
        t_stop=t_stop,
        epochs=clip_epochs(_trials_epochs(session), t_start, t_stop),
        spike_times=spike_times,
        spike_offsets=offsets,
        labels=pd.DataFrame(
            {
                "neuron_id": ids,
                "region": cosmos,
                "acronym": list(acronyms),
                "firing_rate": rates,
                "unit_qc": metrics["label"].to_numpy(dtype=float)[units],
                "uuid": None if uuids is None else [str(u) for u in uuids[units]],
                "depth": None if depths is None else depths[units].astype(float),
                "session": session_eid,
                "lab": str(parts["lab"]) if parts.get("lab") else None,
            }
        ),
    )
    return rec.validate(where=str(folder))


def _optional_column(folder: Path, name: str, value, n: int) -> np.ndarray | None:
    """An optional per-cluster ALF attribute (a CSV loads as a one-column table) as a
    vector of ``n`` values, None when the file is absent."""
    if value is None:
        return None
    if isinstance(value, pd.DataFrame):
        if value.shape[1] != 1:
            raise NeuronbenchError(f"{folder / name}: expected one column, got {list(value.columns)}")
        value = value.iloc[:, 0].to_numpy()
    return _column(folder, name, value, n)


def session_eids(raw_dir: Path) -> dict[tuple[str, str, str, str], str]:
    """(lab, subject, yyyy-mm-dd, nnn) -> eid, from ONE's cache table ``sessions.pqt``
    at the root of ``raw_dir``; empty when the table is absent."""
    path = Path(raw_dir) / SESSIONS_TABLE
    if not path.is_file():
        return {}
    try:
        table = pd.read_parquet(path).reset_index()
    except Exception as e:  # pyarrow raises several types for unreadable files
        raise NeuronbenchError(f"{path}: unreadable Parquet table ({e})") from None
    missing = [c for c in ("id", "lab", "subject", "date", "number") if c not in table.columns]
    if missing:
        raise NeuronbenchError(f"{path}: missing columns {missing} (ONE's sessions cache table)")
    return {
        (str(lab), str(subject), str(pd.Timestamp(date).date()), f"{int(number):03d}"): str(eid)
        for eid, lab, subject, date, number in table[["id", "lab", "subject", "date", "number"]].itertuples(index=False)
    }


def load(raw_dir: Path, report: list[str] | None = None) -> list[Recording]:
    """Every probe folder under ``raw_dir`` as a recording (``report``: the prepare
    contract's; nothing here is skipped rather than fatal)."""
    regions = require("iblatlas.regions").BrainRegions()
    eids = session_eids(raw_dir)
    return [load_probe(folder, regions, eids) for folder in probe_dirs(raw_dir)]
