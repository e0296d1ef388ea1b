"""The brainsets reader on temporaldata HDF5 files: written by the temporaldata library
itself (when installed) and by h5py in its documented layout, read back field by field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuronbench.cli import main
from neuronbench.data import brainsets, ibl, steinmetz
from neuronbench.data.store import Dataset, data_root
from neuronbench.errors import NeuronbenchError

h5py = pytest.importorskip("h5py", reason="the brainsets reader needs h5py (pip install 'neuronbench[real]')")

UNITS = {
    "id": np.array(["3f2a-u0", "3f2a-u1", "3f2a-u2", "9c1d-u0", "9c1d-u1"]),
    "probe_id": np.array(["pid-a", "pid-a", "pid-a", "pid-b", "pid-b"]),
    "acronym": np.array(["VISp", "CA1", "root", "LP", "MRN"]),
    "region_cosmos": np.array(["Isocortex", "HPF", "root", "TH", "MB"]),
}
PROBES = {"id": np.array(["pid-a", "pid-b"]), "name": np.array(["probe00", "probe01"])}
DOMAIN = (1.5, 40.0)


def _spikes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spike times in the domain, deliberately not sorted (the writer must sort them);
    unit 2 fires no spike."""
    rng = np.random.default_rng(seed)
    unit = rng.choice([0, 1, 3, 4], size=200)
    return rng.uniform(DOMAIN[0], DOMAIN[1], size=200), unit


TRIALS = (np.array([2.0, 10.0, 25.0]), np.array([6.0, 18.0, 45.0]))  # the last one ends after the domain
RUNNING = (np.array([1.5, 2.5, 3.5, 4.5]), np.array([0.0, 1.5, 3.25, 2.0]))
PUPIL = (2.0, 2.0, np.array([10.0, 11.0, 12.5]))  # start, rate (Hz), size: at 2.0, 2.5, 3.0 s


def _write_temporaldata(path: Path, times: np.ndarray, unit: np.ndarray) -> None:
    td = pytest.importorskip("temporaldata", reason="writing with the library needs temporaldata")
    data = td.Data(
        subject=td.Data(id="CSHL045"),
        session=td.Data(id="sess-1"),
        spikes=td.IrregularTimeSeries(timestamps=times.copy(), unit_index=unit.copy(), domain=td.Interval(*DOMAIN)),
        # as brainsets pipelines build it (string columns are stored as variable-length strings)
        units=td.ArrayDict.from_dataframe(pd.DataFrame({k: v.tolist() for k, v in UNITS.items()})),
        probes=td.ArrayDict(**PROBES),  # numpy unicode: stored as fixed-length bytes
        trials=td.Interval(start=TRIALS[0], end=TRIALS[1]),
        running=td.IrregularTimeSeries(timestamps=RUNNING[0], running_speed=RUNNING[1][:, None], domain="auto"),
        pupil=td.RegularTimeSeries(size=PUPIL[2], sampling_rate=PUPIL[1], domain_start=PUPIL[0]),
        domain=td.Interval(*DOMAIN),
    )
    data.train_domain = td.Interval(DOMAIN[0], 20.0)
    with h5py.File(path, "w") as f:
        data.to_hdf5(f)


def _obj(g, kind: str, **attrs) -> None:
    """The attributes temporaldata writes on every group of its kind."""
    g.attrs["object"] = kind
    if kind in ("ArrayDict", "Interval", "IrregularTimeSeries"):
        g.attrs["_unicode_keys"] = np.array(attrs.pop("unicode", []), dtype="S")
    if kind == "Interval":
        g.attrs["timekeys"] = np.array([b"start", b"end"])
    if kind == "IrregularTimeSeries":
        g.attrs["timekeys"] = np.array([b"timestamps"])
    if kind == "Data":
        g.attrs["absolute_start"] = 0.0
    g.attrs.update(attrs)


def _interval(g, start, end) -> None:
    _obj(g, "Interval")
    g.create_dataset("start", data=np.atleast_1d(np.asarray(start, dtype=np.float64)))
    g.create_dataset("end", data=np.atleast_1d(np.asarray(end, dtype=np.float64)))


def _write_h5py(path: Path, times: np.ndarray, unit: np.ndarray, *, drop: tuple[str, ...] = (),
                sort: bool = True, vlen_strings: bool = False) -> None:
    """The layout of ``Data.to_hdf5`` (temporaldata 0.1.6) written with h5py alone."""
    order = np.argsort(times, kind="stable") if sort else np.arange(len(times))

    def strings(a):
        return np.array(a.tolist(), dtype=h5py.string_dtype()) if vlen_strings else a.astype("S")

    with h5py.File(path, "w") as f:
        _obj(f, "Data")
        for key, value in (("subject", "CSHL045"), ("session", "sess-1")):
            if key not in drop:
                _obj(f.create_group(key), "Data", id=value)
        if "spikes" not in drop:
            g = f.create_group("spikes")
            _obj(g, "IrregularTimeSeries")
            g.create_dataset("timestamps", data=times[order])
            g.create_dataset("unit_index", data=unit[order])
            _interval(g.create_group("domain"), *DOMAIN)
        if "units" not in drop:
            g = f.create_group("units")
            _obj(g, "ArrayDict", unicode=[] if vlen_strings else list(UNITS))
            for k, v in UNITS.items():
                g.create_dataset(k, data=strings(v))
        g = f.create_group("probes")
        _obj(g, "ArrayDict", unicode=[] if vlen_strings else list(PROBES))
        for k, v in PROBES.items():
            g.create_dataset(k, data=strings(v))
        _interval(f.create_group("trials"), *TRIALS)
        _interval(f.create_group("train_domain"), DOMAIN[0], 20.0)
        _interval(f.create_group("domain"), *DOMAIN)
        g = f.create_group("running")
        _obj(g, "IrregularTimeSeries")
        g.create_dataset("timestamps", data=RUNNING[0])
        g.create_dataset("running_speed", data=RUNNING[1][:, None])
        _interval(g.create_group("domain"), RUNNING[0][0], RUNNING[0][-1])
        g = f.create_group("pupil")
        _obj(g, "RegularTimeSeries", sampling_rate=PUPIL[1])
        g.create_dataset("size", data=PUPIL[2])
        _interval(g.create_group("domain"), PUPIL[0], PUPIL[0] + (len(PUPIL[2]) - 1) / PUPIL[1])


WRITERS = {"temporaldata": _write_temporaldata, "h5py": _write_h5py}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_file_is_read_exactly_field_by_field(tmp_path, writer):
    times, unit = _spikes()
    path = tmp_path / "sess-1.h5"
    WRITERS[writer](path, times, unit)
    recs = brainsets.load_file(path, "ibl")

    assert [r.recording for r in recs] == ["sess-1_probe00", "sess-1_probe01"]
    for rec, rows in zip(recs, ([0, 1, 2], [3, 4])):
        assert rec.dataset == "ibl" and rec.animal == "CSHL045" and rec.modality == "spikes"
        assert (rec.t_start, rec.t_stop) == DOMAIN
        assert rec.neurons["unit"].tolist() == UNITS["id"][rows].tolist()
        assert rec.neurons["neuron_id"].tolist() == [f"ibl/{rec.recording}/{u}" for u in UNITS["id"][rows]]
        for i, row in enumerate(rows):
            np.testing.assert_array_equal(rec.unit_spikes(i), np.sort(times[unit == row]))
        assert rec.spike_times.dtype == np.float64
        assert rec.labels["acronym"].tolist() == UNITS["acronym"][rows].tolist()
        cosmos = [c if c in ibl.COSMOS else None for c in UNITS["region_cosmos"][rows]]
        assert rec.labels["region"].tolist() == cosmos
        # trials only (train_domain and domain are split domains), the last one clipped
        pd.testing.assert_frame_equal(
            rec.epochs,
            pd.DataFrame({"start": [2.0, 10.0, 25.0], "stop": [6.0, 18.0, 40.0], "stimulus": ["trials"] * 3}),
        )
        pd.testing.assert_frame_equal(
            rec.behaviour,
            pd.DataFrame({"time": [1.5, 2.0, 2.5, 3.0, 3.5, 4.5],
                          "running_speed": [0.0, np.nan, 1.5, np.nan, 3.25, 2.0],
                          "pupil": [np.nan, 10.0, 11.0, 12.5, np.nan, np.nan]}),
        )
    assert recs[0].labels["region"].tolist() == ["Isocortex", "HPF", None]  # root is not a class
    assert recs[0].spike_counts()[2] == 0  # a unit without spikes is kept
    assert sum(int(r.spike_counts().sum()) for r in recs) == len(times)


def test_the_h5py_layout_is_what_temporaldata_reads(tmp_path):
    """The hand-written fixture is faithful: the library itself loads it, with the values
    the reader returns."""
    td = pytest.importorskip("temporaldata", reason="reading with the library needs temporaldata")
    times, unit = _spikes()
    path = tmp_path / "s.h5"
    _write_h5py(path, times, unit)
    with h5py.File(path, "r") as f:
        data = td.Data.from_hdf5(f, lazy=False)
        np.testing.assert_array_equal(data.spikes.timestamps, np.sort(times))
        assert data.units.id.tolist() == UNITS["id"].tolist() and data.subject.id == "CSHL045"
        np.testing.assert_array_equal(data.pupil.timestamps, [2.0, 2.5, 3.0])
        np.testing.assert_array_equal(data.trials.end, TRIALS[1])
    recs = brainsets.load_file(path, "ibl")
    np.testing.assert_array_equal(np.sort(np.concatenate([r.spike_times for r in recs])), data.spikes.timestamps)


def test_gaps_of_a_regular_series_are_not_samples(tmp_path):
    td = pytest.importorskip("temporaldata", reason="writing with the library needs temporaldata")
    times, unit = _spikes()
    path = tmp_path / "s.h5"
    _write_temporaldata(path, times, unit)
    seen = np.array([2.0, 2.5, 4.0, 4.5, 6.0])  # 2 Hz with gaps: 3.0, 3.5, 5.0, 5.5 are fill values
    gappy = td.RegularTimeSeries.from_gappy_timeseries(seen, sampling_rate=2.0, gap_value=-1.0, size=np.arange(5.0))
    with h5py.File(path, "a") as f:
        del f["pupil"]
        gappy.to_hdf5(f.create_group("pupil"))
    beh = brainsets.load_file(path, "ibl")[0].behaviour
    pupil = beh.dropna(subset=["pupil"])  # the rows of the running speed's times
    np.testing.assert_array_equal(pupil["time"], seen)
    np.testing.assert_array_equal(pupil["pupil"], np.arange(5.0))


def test_variable_length_strings_and_single_probe(tmp_path):
    times, unit = _spikes(1)
    path = tmp_path / "s.h5"
    _write_h5py(path, times, unit, vlen_strings=True)
    with h5py.File(path, "a") as f:
        del f["units/probe_id"]
    (rec,) = brainsets.load_file(path, "steinmetz")
    assert rec.recording == "sess-1" and rec.dataset == "steinmetz"
    assert rec.neurons["unit"].tolist() == UNITS["id"].tolist()
    assert rec.labels["acronym"].tolist() == UNITS["acronym"].tolist()
    assert rec.labels["region"].tolist() == ["VIS", "HPF", None, "TH", "MB"]  # NuCLR's groups
    for i in range(5):
        np.testing.assert_array_equal(rec.unit_spikes(i), np.sort(times[unit == i]))


def test_cosmos_from_acronym_when_the_file_has_no_region_cosmos(tmp_path):
    pytest.importorskip("iblatlas", reason="Cosmos from an Allen acronym needs iblatlas")
    times, unit = _spikes()
    path = tmp_path / "s.h5"
    _write_h5py(path, times, unit)
    with h5py.File(path, "a") as f:
        del f["units/region_cosmos"]
    recs = brainsets.load_file(path, "ibl")
    assert [r for rec in recs for r in rec.labels["region"]] == ["Isocortex", "HPF", None, "TH", "MB"]
    _edit(path, "units/acronym", np.array([b"VISp", b"CA1", b"NotARegion", b"LP", b"MRN"]))
    with pytest.raises(NeuronbenchError, match=r"'units/acronym'.*NotARegion"):
        brainsets.load_file(path, "ibl")


def _drop(path: Path, *keys: str) -> None:
    with h5py.File(path, "a") as f:
        for k in keys:
            del f[k]


def _edit(path: Path, key: str, value) -> None:
    with h5py.File(path, "a") as f:
        del f[key]
        f[key] = value


BAD_CASES = {
    "units": (lambda p: _write_h5py(p, *_spikes(), drop=("units",)), "'units'"),
    "spikes": (lambda p: _write_h5py(p, *_spikes(), drop=("spikes",)), "'spikes'"),
    "unit_index": (lambda p: (_write_h5py(p, *_spikes()), _edit(p, "spikes/unit_index", np.arange(200) % 6)),
                   "'spikes/unit_index'"),
    "unsorted": (lambda p: _write_h5py(p, *_spikes(), sort=False), "'spikes/timestamps'"),
    "nan_time": (lambda p: (_write_h5py(p, *_spikes()), _edit(p, "spikes/timestamps", np.full(200, np.nan))),
                 "'spikes/timestamps'"),
    "short_index": (lambda p: (_write_h5py(p, *_spikes()), _edit(p, "spikes/unit_index", np.zeros(5, dtype=np.int64))),
                    "'spikes/unit_index'"),
    "outside": (lambda p: (_write_h5py(p, *_spikes()), _edit(p, "spikes/domain/end", np.array([10.0]))),
                "'spikes/domain'"),
    "float_index": (lambda p: (_write_h5py(p, *_spikes()), _edit(p, "spikes/unit_index", np.zeros(200))),
                    "'spikes/unit_index'"),
    "subject": (lambda p: _write_h5py(p, *_spikes(), drop=("subject",)), "'subject.id'"),
    "no_region": (lambda p: (_write_h5py(p, *_spikes()), _drop(p, "units/acronym", "units/region_cosmos")), "'units'"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_files_are_clear_errors_naming_file_and_field(tmp_path, case):
    make, field = BAD_CASES[case]
    path = tmp_path / f"{case}.h5"
    make(path)
    with pytest.raises(NeuronbenchError) as e:
        brainsets.load_file(path, "ibl")
    assert str(path) in str(e.value) and field in str(e.value)


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "x.h5"
    path.write_text("not hdf5")
    with pytest.raises(NeuronbenchError, match="not a readable HDF5 file"):
        brainsets.load_file(path, "ibl")


def test_cli_prepares_a_dataset_and_refuses_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path / "data"))
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    times, unit = _spikes()
    _write_h5py(raw / "sub" / "sess-1.h5", times, unit)
    assert main(["data", "prepare", "ibl", "--raw", str(raw), "--format", "brainsets"]) == 0
    ds = Dataset(data_root() / "ibl")
    assert ds.label_columns == list(ibl.REGION_COLUMNS) == list(brainsets.LABEL_COLUMNS)
    assert ds.manifest["params"] == {"format": "brainsets", "files": ["sub/sess-1.h5"]}
    direct = brainsets.load_file(raw / "sub" / "sess-1.h5", "ibl")
    for rec, ref in zip(ds.load(with_labels=True), direct, strict=True):
        assert rec.recording == ref.recording and rec.animal == ref.animal
        np.testing.assert_array_equal(rec.spike_times, ref.spike_times)
        np.testing.assert_array_equal(rec.spike_offsets, ref.spike_offsets)
        stored = rec.labels.astype(object)
        assert stored.where(stored.notna(), None).values.tolist() == ref.labels.values.tolist()
    pd.testing.assert_frame_equal(ds.recording("sess-1_probe00").behaviour, direct[0].behaviour)

    bad = tmp_path / "bad"
    bad.mkdir()
    _write_h5py(bad / "s.h5", times, unit, sort=False)
    assert main(["data", "prepare", "steinmetz", "--raw", str(bad), "--format", "brainsets"]) == 2
    err = capsys.readouterr().err
    assert "spikes/timestamps" in err and "Traceback" not in err
    assert not (data_root() / "steinmetz").exists()
    assert main(["data", "prepare", "allen", "--raw", str(raw), "--format", "brainsets"]) == 2
    assert "not supported" in capsys.readouterr().err
    assert main(["data", "prepare", "ibl", "--raw", str(tmp_path / "empty"), "--format", "brainsets"]) == 2


def test_steinmetz_and_ibl_label_columns_agree():
    assert tuple(steinmetz.LABEL_COLUMNS) == tuple(ibl.REGION_COLUMNS) == brainsets.LABEL_COLUMNS


def _reverse_domain(p: Path) -> None:
    _write_h5py(p, *_spikes())
    _edit(p, "spikes/domain/start", np.array([DOMAIN[1]]))
    _edit(p, "spikes/domain/end", np.array([DOMAIN[0]]))


EXACT_CASES = {
    "reversed domain": (_reverse_domain, "field 'spikes/domain': interval 0 is reversed: start 40.0 > end 1.5; "
                        "expected start <= end"),
    "short running speed": (lambda p: (_write_h5py(p, *_spikes()),
                                       _edit(p, "running/running_speed", RUNNING[1][:3, None])),
                            "field 'running/running_speed': expected 4 values (one per sample of running/timestamps), "
                            "got 3"),
    "unknown cosmos region": (lambda p: (_write_h5py(p, *_spikes()), _edit(p, "units/region_cosmos", np.array(
        [b"Isocortex", b"HPF", b"root", b"Cortex", b"MB"]))),
        "field 'units/region_cosmos': value(s) ['Cortex'] are not Cosmos regions; expected one of CB, CNU"),
}


@pytest.mark.parametrize("case", list(EXACT_CASES))
def test_a_reversed_domain_a_short_behaviour_field_and_an_unknown_region_say_what_they_are(tmp_path, case):
    make, message = EXACT_CASES[case]
    path = tmp_path / "s.h5"
    make(path)
    with pytest.raises(NeuronbenchError) as e:
        brainsets.load_file(path, "ibl")
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)


def test_void_and_root_cosmos_values_are_units_without_a_region(tmp_path):
    path = tmp_path / "s.h5"
    _write_h5py(path, *_spikes())
    _edit(path, "units/region_cosmos", np.array([b"Isocortex", b"void", b"root", b"TH", b"MB"]))
    regions = [r for rec in brainsets.load_file(path, "ibl") for r in rec.labels["region"]]
    assert regions == ["Isocortex", None, None, "TH", "MB"]


def test_two_files_of_one_session_are_refused_naming_both(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEURONBENCH_DATA", str(tmp_path / "data"))
    raw = tmp_path / "raw"
    (raw / "a").mkdir(parents=True)
    (raw / "b").mkdir()
    for folder in ("a", "b"):
        _write_h5py(raw / folder / "sess-1.h5", *_spikes())
    assert main(["data", "prepare", "ibl", "--raw", str(raw), "--format", "brainsets"]) == 2
    err = capsys.readouterr().err
    assert (f"{raw / 'b' / 'sess-1.h5'}: field 'session.id': recording 'sess-1_probe00' is also in "
            f"{raw / 'a' / 'sess-1.h5'}; expected one file per session") in err
    assert "Traceback" not in err and not (data_root() / "ibl").exists()
