"""Small folders in the native layouts of the four public datasets, written the way
their publishers write them (names, dtypes, shapes and the awkward parts), for the
loader tests. Each writer returns what it wrote, so a test can compare the loader's
output field by field with the fixture's truth, not with the loader's own logic.

Awkward parts covered: (N, 1) column vectors, NaN UniqueIDs and NaN gaps (Bugeon), a
``/02/`` block that does not match its session (Bugeon), blocks on per-block clocks
(Bugeon), 1-based peak channels with neighbouring channels in other regions and strings
in a TSV (Steinmetz), ``clusters.metrics.pqt`` QC labels and Allen atlas ids (IBL), NWB
ragged spike and waveform arrays written with h5py and opto-tagging pulses (Allen).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FPS = 4.3  # Bugeon imaging rate (Hz)


def _col(a) -> np.ndarray:
    """As the publishers store most vectors: a (N, 1) column."""
    return np.asarray(a).reshape(-1, 1)


# ------------------------------------------------------------------------ Bugeon ---------
BUGEON_SESSIONS = {  # mouse -> dates; the first date of each mouse is a development session
    "SB025": ("2019-10-04", "2019-10-07"),
    "SB026": ("2019-10-11", "2019-10-14"),
    "SB028": ("2019-11-06", "2019-11-07"),
    "SB030": ("2020-01-08", "2020-01-10"),
}
BUGEON_TTYPES = ("EC", "IN", "Lamp5-Lsp1", "Pvalb-Tpbg", "Sncg-Calb1", "Sst-Nmbr", "Vip-Sncg", "Serpinf1-Aqp5", "EC")
BUGEON_BLOCKS = (("Blank", "01"), ("Drifting Gratings", "01"), ("Natural Scenes", "01"))


def write_bugeon(root: Path, *, n_pool: int = 27, n_session: int = 24, frames: int = 60, seed: int = 0) -> dict:
    """The unpacked figshare zip under ``root/"Bugeon et al 2022 v2"``. Per mouse, a pool of
    neurons with fixed t-types; each session shows ``n_session`` of them, 2/3 matched
    (UniqueID) and the rest NaN. Returns {recording id: truth}."""
    rng = np.random.default_rng(seed)
    base = root / "Bugeon et al 2022 v2"
    base.mkdir(parents=True)
    (base / "ttypes.names.txt").write_text("\n".join(sorted(set(BUGEON_TTYPES))) + "\n")
    (base / "genes.names.txt").write_text("\n".join(f"Gene{i}" for i in range(72)) + "\n")
    (base / "states.names.txt").write_text("running\nstationary desynchronised\nstationary synchronised\n")
    np.save(base / "img.picture.npy", rng.normal(size=(8, 8)))
    truth = {}
    for m, (mouse, dates) in enumerate(BUGEON_SESSIONS.items()):
        pool_ttypes = [BUGEON_TTYPES[i % len(BUGEON_TTYPES)] for i in range(n_pool)]
        for s, date in enumerate(dates):
            sess = base / mouse / date
            sess.mkdir(parents=True)
            members = np.sort(rng.choice(n_pool, n_session, replace=False))
            ttypes = [pool_ttypes[i] for i in members]
            uid = (1000 * (m + 1) + members).astype(np.float64)
            uid[np.arange(n_session) % 3 == 2] = np.nan  # not matched across sessions
            pos = rng.uniform(0, 500, size=(n_session, 2))
            depth = rng.uniform(100, 400, size=n_session)
            (sess / "neuron.ttype.txt").write_text("\n".join(ttypes) + "\n")
            np.save(sess / "neuron.UniqueID.npy", _col(uid))
            np.save(sess / "neuron.stackPosCorrected.npy", pos)
            np.save(sess / "neuron.depth.npy", _col(depth))
            np.save(sess / "neuron.plane.npy", _col(rng.integers(0, 3, n_session)).astype(np.float64))
            np.save(sess / "neuron.prob_ttypes.npy", rng.dirichlet(np.ones(len(BUGEON_TTYPES)), n_session))
            np.save(sess / "neuron.gene_count.npy", rng.poisson(2, size=(n_session, 72)).astype(np.float64))
            np.save(sess / "neuron.rfCenter_Xvis.npy", _col(rng.normal(size=n_session)))
            np.save(sess / "neuron.rfCenter_Yvis.npy", _col(rng.normal(size=n_session)))
            blocks = []
            for b, (stim, nn) in enumerate(BUGEON_BLOCKS):
                # session 0: every block on its own clock starting near 0 (overlapping);
                # session 1: one session clock, blocks 200 s apart
                t0 = 0.5 + (200.0 * b if s == 1 else 0.0)
                times = t0 + np.arange(frames) / FPS
                traces = rng.gamma(2.0, 0.1, size=(frames, n_session)) + 0.05 * np.arange(n_session)
                if b == 1:
                    traces[10:13, 4] = np.nan  # a NaN gap in one neuron's trace
                blocks.append(_bugeon_block(sess / stim / nn, traces, times, rng))
                blocks[-1].update(stimulus=stim, nn=nn)
            # a /02/ block whose activity does not match the session's cell list
            _bugeon_block(
                sess / "Drifting Gratings" / "02",
                rng.normal(size=(frames, n_session - 3)),
                600.0 + np.arange(frames) / FPS,
                rng,
            )
            truth[f"{mouse.lower()}_{date.replace('-', '')}"] = {
                "animal": mouse,
                "ttypes": ttypes,
                "uid": uid,
                "pos": pos,
                "depth": depth,
                "blocks": blocks,
                "folder": sess,
            }
    return truth


def _bugeon_block(folder: Path, traces: np.ndarray, times: np.ndarray, rng) -> dict:
    folder.mkdir(parents=True)
    np.save(folder / "frame.neuralActivity.npy", traces)
    np.save(folder / "frame.times.npy", _col(times))
    np.save(folder / "frame.states.npy", _col(rng.integers(0, 3, len(times))).astype(np.float64))
    run_t = times[0] + np.arange(int((times[-1] - times[0]) * 10) + 1) / 10.0
    speed = np.abs(rng.normal(5, 2, len(run_t)))
    speed[5:9] = np.nan  # a NaN gap
    np.save(folder / "running.speed.npy", _col(speed))
    np.save(folder / "running.times.npy", _col(run_t))
    eye_t = times[0] + np.arange(int((times[-1] - times[0]) * 30) + 1) / 30.0
    eye = rng.uniform(20, 40, len(eye_t))
    np.save(folder / "eye.size.npy", _col(eye))
    np.save(folder / "eye.times.npy", _col(eye_t))
    np.save(folder / "eye.xPos.npy", _col(rng.normal(size=len(eye_t))))
    np.save(folder / "eye.yPos.npy", _col(rng.normal(size=len(eye_t))))
    return {"traces": traces, "times": times, "running": (run_t, speed), "eye": (eye_t, eye)}


# --------------------------------------------------------------------- Steinmetz ---------
STEINMETZ_SESSIONS = (
    "Cori_2016-12-14",
    "Forssmann_2017-11-01",
    "Hench_2017-06-15",
    "Lederberg_2017-12-05",
    "Moniz_2017-05-15",
    "Muller_2017-01-07",
)
# channel regions per probe (20 channels each); neighbours differ so an off-by-one shows
STEINMETZ_CHANNELS = (
    [
        "VISp",
        "VISp",
        "VISl",
        "CA1",
        "VISp",
        "DG",
        "CA1",
        "LP",
        "SUB",
        "LD",
        "VISam",
        "MRN",
        "PO",
        "CA3",
        "VISpm",
        "root",
        "TH",
        "LGd",
        "POST",
        "VISa",
    ],
    [
        "MRN",
        "SCm",
        "APN",
        "LP",
        "PAG",
        "CA1",
        "SCs",
        "VPM",
        "DG",
        "MD",
        "MRN",
        "RT",
        "VISrl",
        "POL",
        "SUB",
        "ZI",
        "MG",
        "VPL",
        "CA3",
        "SCm",
    ],
)


def write_steinmetz(root: Path, *, n_clusters: int = 30, duration: float = 120.0, seed: int = 1) -> dict:
    """``root/allData/<Mouse>_<date>/`` ALF folders (2 probes each). Returns {session: truth}."""
    rng = np.random.default_rng(seed)
    truth = {}
    n_ch = len(STEINMETZ_CHANNELS[0])
    for session in STEINMETZ_SESSIONS:
        folder = root / "allData" / session
        folder.mkdir(parents=True)
        probes = (np.arange(n_clusters) >= n_clusters // 2).astype(np.int64)
        local = rng.integers(0, n_ch, n_clusters)
        peak0 = probes * n_ch + local  # 0-based row of the TSV
        annotation = np.where(
            np.arange(n_clusters) % 5 == 4, rng.integers(0, 2, n_clusters), rng.integers(2, 4, n_clusters)
        )
        counts = rng.integers(150, 400, n_clusters)
        trains = [np.sort(rng.uniform(0.0, duration, c)) for c in counts]
        times = np.concatenate(trains)
        clusters = np.repeat(np.arange(n_clusters), counts)
        order = np.argsort(times, kind="stable")  # ALF: spikes in time order
        np.save(folder / "spikes.times.npy", _col(times[order]))
        np.save(folder / "spikes.clusters.npy", _col(clusters[order]).astype(np.int32))
        np.save(folder / "spikes.amps.npy", _col(rng.uniform(20, 80, len(times))))
        np.save(folder / "clusters.probes.npy", _col(probes).astype(np.float64))
        np.save(folder / "clusters.peakChannel.npy", _col(peak0 + 1).astype(np.float64))  # 1-based!
        np.save(folder / "clusters._phy_annotation.npy", _col(annotation).astype(np.float64))
        np.save(folder / "clusters.depths.npy", _col(rng.uniform(0, 3800, n_clusters)))
        np.save(folder / "clusters.waveformDuration.npy", _col(rng.uniform(5, 30, n_clusters)))
        templates = rng.normal(0, 0.01, size=(n_clusters, 82, 32)).astype(np.float32)
        best = rng.integers(0, 32, n_clusters)
        shape = -np.exp(-0.5 * ((np.arange(82) - 41) / 3.0) ** 2)
        templates[np.arange(n_clusters), :, best] += shape
        np.save(folder / "clusters.templateWaveforms.npy", templates)
        np.save(
            folder / "clusters.templateWaveformChans.npy",
            rng.integers(0, 384, size=(n_clusters, 32)).astype(np.float64),
        )
        acr = STEINMETZ_CHANNELS[0] + STEINMETZ_CHANNELS[1]
        pd.DataFrame(
            {
                "ccf_ap": rng.uniform(0, 9000, 2 * n_ch),
                "ccf_dv": rng.uniform(0, 6000, 2 * n_ch),
                "ccf_lr": rng.uniform(0, 10000, 2 * n_ch),
                "allen_ontology": acr,
            }
        ).to_csv(folder / "channels.brainLocation.tsv", sep="\t", index=False)
        np.save(folder / "channels.probe.npy", _col(np.repeat([0, 1], n_ch)).astype(np.float64))
        np.save(folder / "channels.rawRow.npy", _col(np.arange(2 * n_ch)).astype(np.float64))
        trials = np.stack([10.0 + 4.0 * np.arange(15), 12.0 + 4.0 * np.arange(15)], axis=1)
        np.save(folder / "trials.intervals.npy", trials)
        np.save(folder / "trials.feedbackType.npy", _col(rng.choice([-1.0, 1.0], 15)))
        np.save(folder / "spontaneous.intervals.npy", np.array([[0.0, 9.0], [75.0, 85.0]]))
        np.save(folder / "passiveBeeps.times.npy", _col(np.linspace(90.0, 110.0, 5)))
        np.save(folder / "passiveVisual.times.npy", _col(np.linspace(92.0, 115.0, 5)))
        np.save(folder / "wheel.position.npy", _col(rng.normal(size=50)))
        truth[session] = {
            "probes": probes,
            "peak0": peak0,
            "annotation": annotation,
            "trains": trains,
            "acronyms": acr,
            "templates": templates,
            "best": best,
            "folder": folder,
            "t_stop": float(times.max()),
        }
    return truth


# --------------------------------------------------------------------------- IBL ---------
IBL_PROBES = (  # (lab, subject, date, number, probe)
    ("cortexlab", "KS023", "2019-12-10", "001", "probe00"),
    ("cortexlab", "KS023", "2019-12-10", "001", "probe01"),
    ("cortexlab", "KS023", "2019-12-11", "001", "probe00"),
    ("churchlandlab", "CSHL049", "2020-01-08", "001", "probe00"),
    ("churchlandlab", "CSHL049", "2020-01-09", "002", "probe00"),
    ("hoferlab", "SWC_043", "2020-09-15", "001", "probe01"),
    ("hoferlab", "SWC_043", "2020-09-16", "001", "probe00"),
    ("angelakilab", "NYU-11", "2020-02-20", "001", "probe00"),
)
# (subject, date, number) -> session eid in ONE's cache table: two sessions (KS023's first,
# NYU-11's) are BrainWideBench evaluation sessions, the others are not
IBL_EIDS = {
    ("KS023", "2019-12-10", "001"): "0802ced5-33a3-405e-8336-b65ebc5cb07c",
    ("KS023", "2019-12-11", "001"): "004d8fd5-41e7-4f1b-a45b-0d4ad76fe446",
    ("CSHL049", "2020-01-08", "001"): "02fbb6da-3034-47d6-a61b-7d06c796a830",
    ("CSHL049", "2020-01-09", "002"): "03063955-2523-47bd-ae57-f7489dd40f15",
    ("SWC_043", "2020-09-15", "001"): "032452e9-1886-449d-9c13-0f192572e19f",
    ("SWC_043", "2020-09-16", "001"): "032ffcdf-7692-40b3-b9ff-8def1fc18b2e",
    ("NYU-11", "2020-02-20", "001"): "6713a4a7-faed-4df2-acab-ee4e63326f8d",
}
IBL_FIRING_RATES = (0.4, 0.9, 1.0, 2.5, 8.0, 20.0)  # Hz; BWB keeps > 1 Hz
# Allen atlas id -> (acronym, Cosmos region or None)
IBL_ATLAS = {
    385: ("VISp", "Isocortex"),
    382: ("CA1", "HPF"),
    218: ("LP", "TH"),
    128: ("MRN", "MB"),
    672: ("CP", "CNU"),
    997: ("root", None),
    0: ("void", None),
    512: ("CB", "CB"),
    1097: ("HY", "HY"),
    698: ("OLF", "OLF"),
    703: ("CTXsp", "CTXsp"),
    1065: ("HB", "HB"),
    409: ("VISl", "Isocortex"),
    726: ("DG", "HPF"),
}


def write_ibl(
    root: Path, *, n_clusters: int = 24, n_channels: int = 28, duration: float = 100.0, seed: int = 2,
    sessions_table: bool = True,
) -> dict:
    """A ONE cache: ``<lab>/Subjects/<subject>/<date>/<number>/alf/<probe>/pykilosort/``
    and, with ``sessions_table``, ONE's ``sessions.pqt`` (eids `IBL_EIDS`). Per cluster:
    ``clusters.metrics.pqt`` ``firing_rate`` (from `IBL_FIRING_RATES`), ``clusters.uuids.csv``
    and ``clusters.depths.npy``. Returns {recording id: truth}."""
    import uuid

    rng = np.random.default_rng(seed)
    rate_rng = np.random.default_rng(seed + 1)  # a stream of its own: the other draws stay as they were
    atlas_ids = np.array(list(IBL_ATLAS))
    truth = {}
    for lab, subject, date, number, probe in IBL_PROBES:
        session = root / lab / "Subjects" / subject / date / number
        folder = session / "alf" / probe / "pykilosort"
        folder.mkdir(parents=True)
        chan_ids = atlas_ids[np.arange(n_channels) % len(atlas_ids)]
        cl_chan = rng.integers(0, n_channels, n_clusters)
        label = rng.choice([0.0, 1 / 3, 2 / 3, 1.0, 1.0, 1.0], n_clusters)
        counts = rng.integers(100, 300, n_clusters)
        trains = [np.sort(rng.uniform(0.0, duration, c)) for c in counts]
        times = np.concatenate(trains)
        clusters = np.repeat(np.arange(n_clusters), counts)
        order = np.argsort(times, kind="stable")
        np.save(folder / "spikes.times.npy", times[order])
        np.save(folder / "spikes.clusters.npy", clusters[order].astype(np.uint32))
        np.save(folder / "spikes.amps.npy", rng.uniform(1e-5, 1e-4, len(times)))
        np.save(folder / "clusters.channels.npy", cl_chan.astype(np.int64))
        depths = rng.uniform(0, 3800, n_clusters)
        np.save(folder / "clusters.depths.npy", depths)
        firing_rate = rate_rng.choice(IBL_FIRING_RATES, n_clusters)
        uuids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{subject}/{date}/{number}/{probe}/{c}")) for c in range(n_clusters)]
        pd.DataFrame({"uuids": uuids}).to_csv(folder / "clusters.uuids.csv", index=False)
        pd.DataFrame(
            {
                "cluster_id": np.arange(n_clusters),
                "amp_median": rng.uniform(50, 200, n_clusters),
                "slidingRP_viol": rng.integers(0, 2, n_clusters).astype(float),
                "noise_cutoff": rng.uniform(0, 10, n_clusters),
                "label": label,
                "ks2_label": rng.choice(["good", "mua"], n_clusters),
                "firing_rate": firing_rate,
            }
        ).to_parquet(folder / "clusters.metrics.pqt")
        np.save(folder / "channels.brainLocationIds_ccf_2017.npy", chan_ids.astype(np.int64))
        np.save(folder / "channels.mlapdv.npy", rng.uniform(-4000, 4000, size=(n_channels, 3)))
        np.save(folder / "channels.localCoordinates.npy", rng.uniform(0, 3800, size=(n_channels, 2)))
        trials_path = session / "alf" / "_ibl_trials.table.pqt"
        if not trials_path.exists():
            starts = 5.0 + 3.0 * np.arange(20)
            pd.DataFrame(
                {
                    "intervals_0": starts,
                    "intervals_1": starts + 2.5,
                    "choice": rng.choice([-1, 1], 20),
                    "stimOn_times": starts + 0.5,
                    "probabilityLeft": 0.5,
                }
            ).to_parquet(trials_path)
        truth[f"{subject}_{date}_{number}_{probe}"] = {
            "animal": subject,
            "label": label,
            "cl_chan": cl_chan,
            "chan_ids": chan_ids,
            "trains": trains,
            "folder": folder,
            "t_stop": float(times.max()),
            "firing_rate": firing_rate,
            "uuids": uuids,
            "depths": depths,
            "session": IBL_EIDS[(subject, date, number)],
        }
    if sessions_table:  # ONE's cache table: eid as the index
        rows = {IBL_EIDS[(s, d, n)]: (lab, s, pd.Timestamp(d).date(), int(n)) for lab, s, d, n, _ in IBL_PROBES}
        pd.DataFrame.from_dict(rows, orient="index", columns=["lab", "subject", "date", "number"]).rename_axis(
            "id").to_parquet(root / "sessions.pqt")
    return truth


# -------------------------------------------------------------------------- Allen ---------
ALLEN_SESSIONS = {  # session id -> genotype; the first six are among NuCLR's 16 labelled sessions
    "715093703": "Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "719161530": "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "721123822": "Vip-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "746083955": "Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "751348571": "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "755434585": "Vip-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "766640955": "wt/wt",  # not labelled: pretraining only
}
ALLEN_LOCATIONS = ["VISp", "VISp", "VISl", "VISl", "CA1", "", "VISp", "DG", "VISam", "VISam", "LP", "grey"]
OPTO_START = 600.0


def write_allen(root: Path, *, n_units: int = 22, rate: float = 4.0, seed: int = 3) -> dict:
    """One session NWB file per session (``sub-<specimen>/sub-<specimen>_ses-<session>.nwb``,
    the DANDI layout) written with h5py, plus an LFP probe file that must be ignored.
    Returns {session: truth}."""
    import h5py

    rng = np.random.default_rng(seed)
    truth = {}
    str_dt = h5py.string_dtype()
    n_ch = len(ALLEN_LOCATIONS)
    for k, (session, genotype) in enumerate(ALLEN_SESSIONS.items()):
        specimen = str(700000000 + k)
        folder = root / f"sub-{specimen}"
        folder.mkdir(parents=True)
        (folder / f"sub-{specimen}_ses-{session}_probe-{800000000 + k}_ecephys.nwb").write_bytes(b"not a session file")
        probe_ids = np.array([810000000 + 10 * k, 810000000 + 10 * k + 1])
        elec_ids = 850000000 + 100 * k + np.arange(2 * n_ch)
        locations = ALLEN_LOCATIONS + ALLEN_LOCATIONS[::-1]
        elec_probe = np.repeat(probe_ids, n_ch)
        peak_row = rng.integers(0, 2 * n_ch, n_units)
        quality = np.where(np.arange(n_units) % 7 == 6, "noise", "good")
        amp_cut = np.where(np.arange(n_units) % 8 == 5, 0.3, 0.01)
        tagged = (np.arange(n_units) % 3 == 0) & (genotype != "wt/wt")
        pulses = OPTO_START + 1.0 * np.arange(50)
        trains = []
        for u in range(n_units):
            t = rng.uniform(0.0, OPTO_START + 60.0, rng.poisson(rate * (OPTO_START + 60.0)))
            if tagged[u]:  # one spike 3-6 ms after every 10 ms pulse
                t = np.concatenate([t, pulses + rng.uniform(0.003, 0.006, len(pulses))])
            else:  # no spike 0-10 ms after a pulse: at 4 Hz a single one would pass the rule
                lag = t - pulses[np.clip(np.searchsorted(pulses, t) - 1, 0, None)]
                t = t[~((lag >= 0) & (lag < 0.010))]
            trains.append(rng.permutation(t))  # NWB need not store a train sorted
        unit_ids = 950000000 + 1000 * k + np.arange(n_units)
        wf_rows = [rng.normal(0, 1, size=(n_ch, 82)) for _ in range(n_units)]
        best = rng.integers(0, n_ch, n_units)
        for u in range(n_units):
            wf_rows[u][best[u]] += 40.0 * np.sin(np.linspace(0, 2 * np.pi, 82))
        path = folder / f"sub-{specimen}_ses-{session}.nwb"
        with h5py.File(path, "w") as f:
            f.attrs["neurodata_type"] = "NWBFile"
            f.create_dataset("identifier", data=session, dtype=str_dt)  # NWB 2.x: a dataset at the root
            f.create_dataset("general/session_id", data=session, dtype=str_dt)
            f.create_dataset("general/subject/genotype", data=genotype, dtype=str_dt)
            f.create_dataset("general/subject/subject_id", data=specimen, dtype=str_dt)
            e = f.create_group("general/extracellular_ephys/electrodes")
            e.create_dataset("id", data=elec_ids)
            e.create_dataset("location", data=np.array(locations, dtype=object), dtype=str_dt)
            e.create_dataset("probe_id", data=elec_probe)
            e.create_dataset("local_index", data=np.tile(np.arange(n_ch), 2))
            e.create_dataset(
                "group_name",
                data=np.array([f"probe{'AB'[i // n_ch]}" for i in range(2 * n_ch)], dtype=object),
                dtype=str_dt,
            )
            u = f.create_group("units")
            u.create_dataset("id", data=unit_ids)
            u.create_dataset("spike_times", data=np.concatenate(trains))
            u.create_dataset("spike_times_index", data=np.cumsum([len(t) for t in trains]))
            u.create_dataset("peak_channel_id", data=elec_ids[peak_row])
            u.create_dataset("quality", data=quality.astype(object), dtype=str_dt)
            u.create_dataset("amplitude_cutoff", data=amp_cut)
            u.create_dataset("presence_ratio", data=np.full(n_units, 0.99))
            u.create_dataset("isi_violations", data=np.full(n_units, 0.1))
            u.create_dataset("firing_rate", data=np.full(n_units, rate))
            u.create_dataset("waveform_mean", data=np.concatenate(wf_rows))
            u.create_dataset("waveform_mean_index", data=n_ch * np.arange(1, n_units + 1))
            stimuli = (
                ("spontaneous", 0.0, 60.0, 1),
                ("drifting_gratings", 60.0, 160.0, 20),
                ("natural_scenes", 160.0, 260.0, 40),
                ("spontaneous", 260.0, 320.0, 1),
                ("flashes", 320.0, 400.0, 10),
            )
            for name, a, b, n_pres in stimuli:
                g = f.require_group(f"intervals/{name}_presentations")
                edges = np.linspace(a, b, n_pres + 1)
                starts, stops = edges[:-1], edges[1:] - 0.01
                if "start_time" in g:  # a second block of the same stimulus
                    starts, stops = np.r_[g["start_time"][()], starts], np.r_[g["stop_time"][()], stops]
                    del g["start_time"], g["stop_time"]
                g.create_dataset("start_time", data=starts)
                g.create_dataset("stop_time", data=stops)
            f.create_dataset("intervals/invalid_times/start_time", data=np.array([500.0]))
            o = f.create_group("processing/optotagging/optogenetic_stimulation")
            starts = np.r_[pulses, OPTO_START + 55.0 + 0.5 * np.arange(4)]
            durations = np.r_[np.full(len(pulses), 0.01), np.full(2, 0.005), np.full(2, 1.0)]
            o.create_dataset("start_time", data=starts)
            o.create_dataset("stop_time", data=starts + durations)
            o.create_dataset("duration", data=durations)
            o.create_dataset("condition", data=np.array(["a 10 ms pulse"] * len(starts), dtype=object), dtype=str_dt)
        truth[session] = {
            "genotype": genotype,
            "unit_ids": unit_ids,
            "peak_row": peak_row,
            "locations": np.array(locations),
            "elec_probe": elec_probe,
            "probe_ids": probe_ids,
            "quality": quality,
            "amp_cut": amp_cut,
            "tagged": tagged,
            "trains": trains,
            "wf_rows": wf_rows,
            "best": best,
            "path": path,
            "stimuli": stimuli,
        }
    return truth
