"""Steinmetz et al. 2019 (Nature): Neuropixels in 10 mice, 39 sessions
(docs/datasets.md).

Source: figshare article 9598406 (every file of the article, each verified against the
md5 figshare publishes; archives unpacked). Native layout: one ALF folder per session
``<Mouse>_<YYYY-MM-DD>/`` with (N, 1) column vectors ``spikes.times``,
``spikes.clusters`` (ids 0..n-1 indexing every ``clusters.*`` array),
``clusters.probes``, ``clusters.peakChannel`` (1-based!), ``clusters._phy_annotation``,
``clusters.templateWaveforms``, and ``channels.brainLocation.tsv`` (columns ccf_ap,
ccf_dv, ccf_lr, allen_ontology; one row per channel of the session, probe given by
``channels.probe``), plus ``trials.*``, ``spontaneous.intervals``, ``passive*``.

Canonical form: one spikes `Recording` per probe insertion, id
``<mouse>_<yyyymmdd>_p<probe>`` in lower case (NuCLR's ids, e.g. ``cori_20161214_p0``),
animal = the mouse (``Cori``).
- Units: clusters with ``_phy_annotation >= 2`` (phy's good / MUA curation; 0 noise,
  1 unsorted are dropped); unit = the cluster id.
- Region: the ``allen_ontology`` of the row ``peakChannel - 1`` of the TSV (the peak
  channel is 1-based); the loader checks that this channel is on the unit's probe.
  ``acronym`` keeps the Allen acronym, ``region`` its group (others None): MB {MRN, SCm,
  SCs, APN, PAG}, VIS {VISp, VISrl, VISam, VISpm, VISl, VISa}, TH {LP, LD, RT, MD, MG,
  LGd, VPM, VPL, PO, POL}, HPF {POST, SUB, DG, CA1, CA3} (NuCLR's four groups).
- x, y, z stay NaN: CCF coordinates determine the region label and methods must not see it.
- Waveforms: the template on its largest-amplitude channel, at 30 kHz.
- Epochs: ``spontaneous`` intervals, the ``task`` block (first trial start to last trial
  end) and the ``passive`` block (first to last passive event), from the files present.

Published split (NuCLR; frozen in `neuronbench.catalog`): inductive
test mice Cori, Forssmann, Hench, absent from pretraining.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from neuronbench.data.download import download_all, figshare_sources
from neuronbench.data.native import clip_epochs, integers, load_npy, spikes_csr, vector
from neuronbench.data.recording import Recording, neuron_id
from neuronbench.errors import NeuronbenchError

NAME = "steinmetz"
FIGSHARE_ARTICLE = 9598406
REGION_GROUPS: dict[str, tuple[str, ...]] = {
    "MB": ("MRN", "SCm", "SCs", "APN", "PAG"),
    "VIS": ("VISp", "VISrl", "VISam", "VISpm", "VISl", "VISa"),
    "TH": ("LP", "LD", "RT", "MD", "MG", "LGd", "VPM", "VPL", "PO", "POL"),
    "HPF": ("POST", "SUB", "DG", "CA1", "CA3"),
}
GROUP_OF: dict[str, str] = {a: g for g, acronyms in REGION_GROUPS.items() for a in acronyms}
MIN_PHY_ANNOTATION = 2
WAVEFORM_RATE = 30000.0
LABEL_COLUMNS: tuple[str, ...] = ("region", "acronym")
TSV_COLUMNS: tuple[str, ...] = ("ccf_ap", "ccf_dv", "ccf_lr", "allen_ontology")
PARAMS = {"source": f"figshare:{FIGSHARE_ARTICLE}", "min_phy_annotation": MIN_PHY_ANNOTATION}
DESCRIPTION = "Steinmetz et al. 2019: Neuropixels, one recording per probe, 4 region groups"
_SESSION = re.compile(r"^([A-Za-z]+)_(\d{4})-(\d{2})-(\d{2})$")


def download(to: Path, *, progress: bool = True) -> Path:
    """Fetch every file of the pinned figshare article into ``to`` and unpack the archives
    (and the per-session tars inside them)."""
    from neuronbench.data.download import extract

    paths = download_all(
        to, {"figshare_article": FIGSHARE_ARTICLE}, lambda: figshare_sources(FIGSHARE_ARTICLE), progress=progress
    )
    for inner in sorted(Path(to).rglob("*.tar")):
        if inner not in paths:
            extract(inner, inner.parent)
    return Path(to)


def session_dirs(raw_dir: Path) -> list[Path]:
    """Every ``<Mouse>_<YYYY-MM-DD>/`` folder holding spikes, up to two levels down."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise NeuronbenchError(f"{raw_dir}: not a folder")
    dirs = sorted(
        {
            p.parent
            for pattern in ("*/spikes.times.npy", "*/*/spikes.times.npy", "*/*/*/spikes.times.npy")
            for p in raw_dir.glob(pattern)
            if _SESSION.match(p.parent.name)
        }
    )
    if not dirs:
        raise NeuronbenchError(
            f"{raw_dir}: no session folder <Mouse>_<YYYY-MM-DD>/ with spikes.times.npy found; expected the "
            f"unpacked figshare {FIGSHARE_ARTICLE} release (run `neuronbench data download steinmetz`)"
        )
    return dirs


def _intervals(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    a = load_npy(path).astype(np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise NeuronbenchError(f"{path}: field 'shape': expected (N, 2) intervals, got {a.shape}")
    return a[np.isfinite(a).all(axis=1)]


def _epochs(folder: Path) -> pd.DataFrame:
    rows = []
    spont = _intervals(folder / "spontaneous.intervals.npy")
    if spont is not None:
        rows += [(a, b, "spontaneous") for a, b in spont]
    trials = _intervals(folder / "trials.intervals.npy")
    if trials is not None and len(trials):
        rows.append((trials[:, 0].min(), trials[:, 1].max(), "task"))
    passive = [vector(p) for p in sorted(folder.glob("passive*.times.npy"))]
    passive = np.concatenate(passive).astype(np.float64) if passive else np.zeros(0)
    passive = passive[np.isfinite(passive)]
    if len(passive) > 1:
        rows.append((passive.min(), passive.max(), "passive"))
    return pd.DataFrame(rows, columns=["start", "stop", "stimulus"]).astype({"start": float, "stop": float})


def _peak_waveforms(path: Path, n: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    w = load_npy(path).astype(np.float32)
    if w.shape[0] != n or w.ndim not in (2, 3):
        raise NeuronbenchError(f"{path}: field 'shape': expected ({n}, samples[, channels]), got {w.shape}")
    if w.ndim == 3:  # (clusters, samples, channels): the largest-amplitude channel
        best = np.argmax(w.max(axis=1) - w.min(axis=1), axis=1)
        w = w[np.arange(n), :, best]
    return np.ascontiguousarray(w)


def load_session(folder: Path) -> list[Recording]:
    """One session folder as one recording per probe."""
    m = _SESSION.match(folder.name)
    if m is None:
        raise NeuronbenchError(f"{folder}: folder name: expected <Mouse>_<YYYY-MM-DD>")
    mouse, date = m.group(1), "".join(m.group(2, 3, 4))
    times = vector(folder / "spikes.times.npy").astype(np.float64)
    clu = integers(
        folder / "spikes.clusters.npy", vector(folder / "spikes.clusters.npy", len(times), field="rows (one per spike)")
    )
    if len(times) == 0:
        raise NeuronbenchError(f"{folder / 'spikes.times.npy'}: field 'times': expected the session's spikes, got none")
    if not np.all(np.isfinite(times)):
        raise NeuronbenchError(f"{folder / 'spikes.times.npy'}: field 'times': contains NaN or infinite values")
    probes = integers(folder / "clusters.probes.npy", vector(folder / "clusters.probes.npy"))
    n = len(probes)
    if n == 0:
        raise NeuronbenchError(f"{folder / 'clusters.probes.npy'}: field 'rows': expected one probe per cluster, got none")
    if len(clu) and (clu.min() < 0 or clu.max() >= n):
        raise NeuronbenchError(
            f"{folder / 'spikes.clusters.npy'}: field 'clusters': expected ids 0..{n - 1} "
            f"(one per row of clusters.probes.npy), found {clu.min()}..{clu.max()}"
        )
    peak = integers(folder / "clusters.peakChannel.npy", vector(folder / "clusters.peakChannel.npy", n)) - 1
    annotation = vector(folder / "clusters._phy_annotation.npy", n).astype(np.float64)
    tsv = folder / "channels.brainLocation.tsv"
    if not tsv.is_file():
        raise NeuronbenchError(f"{tsv}: missing (channel locations, columns {', '.join(TSV_COLUMNS)})")
    try:
        channels = pd.read_csv(tsv, sep="\t")
    except (ValueError, pd.errors.ParserError) as e:
        raise NeuronbenchError(f"{tsv}: unreadable TSV ({e})") from None
    missing = [c for c in TSV_COLUMNS if c not in channels.columns]
    if missing:
        raise NeuronbenchError(f"{tsv}: missing columns {missing}; expected {list(TSV_COLUMNS)}")
    if peak.min() < 0 or peak.max() >= len(channels):
        raise NeuronbenchError(
            f"{folder / 'clusters.peakChannel.npy'}: field 'peakChannel': expected 1-based "
            f"channels 1..{len(channels)} (rows of {tsv.name}), found {peak.min() + 1}..{peak.max() + 1}"
        )
    if (folder / "channels.probe.npy").is_file():
        ch_probe = integers(folder / "channels.probe.npy", vector(folder / "channels.probe.npy", len(channels)))
        wrong = ch_probe[peak] != probes
        if wrong.any():
            raise NeuronbenchError(
                f"{folder / 'clusters.peakChannel.npy'}: field 'peakChannel': {int(wrong.sum())} cluster(s) peak on a "
                f"channel of another probe (channels.probe.npy), e.g. cluster {int(np.flatnonzero(wrong)[0])}"
            )
    acronyms = channels["allen_ontology"].astype(str).str.strip().to_numpy()[peak]
    waveforms = _peak_waveforms(folder / "clusters.templateWaveforms.npy", n)
    t_start, t_stop = min(0.0, float(times.min())), float(times.max())
    epochs = clip_epochs(_epochs(folder), t_start, t_stop)

    keep = annotation >= MIN_PHY_ANNOTATION
    recs = []
    for probe in np.unique(probes[keep]):
        units = np.flatnonzero(keep & (probes == probe))
        position = np.full(n, -1)
        position[units] = np.arange(len(units))
        sel = position[clu] >= 0
        spike_times, offsets = spikes_csr(times[sel], position[clu[sel]], len(units))
        rec_id = f"{mouse.lower()}_{date}_p{int(probe)}"
        names = [str(u) for u in units]
        ids = [neuron_id(NAME, rec_id, u) for u in names]
        rec = Recording(
            dataset=NAME,
            animal=mouse,
            recording=rec_id,
            modality="spikes",
            neurons=pd.DataFrame(
                {"neuron_id": ids, "unit": names, "track_id": None, "x": np.nan, "y": np.nan, "z": np.nan}
            ),
            t_start=t_start,
            t_stop=t_stop,
            epochs=epochs.copy(),
            spike_times=spike_times,
            spike_offsets=offsets,
            waveforms=None if waveforms is None else waveforms[units],
            waveform_rate=None if waveforms is None else WAVEFORM_RATE,
            labels=pd.DataFrame(
                {"neuron_id": ids, "region": [GROUP_OF.get(a) for a in acronyms[units]], "acronym": acronyms[units]}
            ),
        )
        recs.append(rec.validate(where=str(folder)))
    return recs


def load(raw_dir: Path, report: list[str] | None = None) -> list[Recording]:
    """Every session folder under ``raw_dir`` as recordings (``report``: the prepare
    contract's; nothing here is skipped rather than fatal)."""
    recs = [r for folder in session_dirs(raw_dir) for r in load_session(folder)]
    if not recs:
        raise NeuronbenchError(f"{raw_dir}: no cluster with _phy_annotation >= {MIN_PHY_ANNOTATION} in any session")
    return recs
