"""The on-disk format of a canonical dataset: written once, loaded lazily, checksummed.

A dataset lives in one folder (by default ``$NEURONBENCH_DATA/<name>``)::

    manifest.json            format version, name, parameters, label columns, and the
                             sha256 and size of every file below; its ``checksum`` is
                             the hash of that file list and identifies the dataset
    recordings.parquet       recording, animal, modality, t_start, t_stop, waveform_rate
    neurons.parquet          recording, animal, neuron_id, unit, track_id, x, y, z
    labels.parquet           neuron_id and one column per label (null = unlabelled)
    epochs.parquet           recording, start, stop, stimulus
    behaviour/<rec>.parquet  time, running_speed, pupil (only where recorded)
    arrays/<rec>/*.npy       spike_times + spike_offsets, or traces + frame_times;
                             waveforms where known

Tables are Parquet (pyarrow); arrays are ``.npy`` files memory-mapped on load with
``allow_pickle=False``. The folder is written under a temporary name and renamed into
place, so a crash never leaves a half-written dataset. Every file is checked against
its manifest checksum before first use, so a corrupt or truncated file is an error that
names it, never silently wrong numbers.

Temporary folders are named ``.<name>.tmp-<pid>-<random>`` and hold a marker file
(`TEMP_MARKER`: host and pid); a replaced dataset waits as ``.<name>.old-<pid>-<random>``
until the new one is in place. `remove_stale` removes those of processes that are no
longer alive on this host (and puts an old dataset back if the new one never arrived);
it never touches a folder without our marker.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neuronbench.atomic import _umask
from neuronbench.data.recording import EPOCH_COLUMNS, NEURON_COLUMNS, Recording
from neuronbench.data.root import data_root  # noqa: F401 - re-exported: store.data_root
from neuronbench.errors import NeuronbenchError

FORMAT = "neuronbench-dataset"
FORMAT_VERSION = 1
_ARRAYS = ("spike_times", "spike_offsets", "traces", "frame_times", "waveforms")
TEMP_MARKER = ".neuronbench-temporary"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<role>tmp|old)-(?P<pid>\d+)-[A-Za-z0-9_]+$")


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_dataset(
    path: Path,
    name: str,
    recordings: Iterable[Recording],
    *,
    label_columns: Sequence[str],
    params: dict[str, Any] | None = None,
    description: str = "",
    replace: bool = False,
) -> Path:
    """Validate and write recordings (with labels) as a dataset folder at ``path``.

    The dataset is built in a temporary folder beside ``path`` and verified. An existing
    dataset is refused, or with ``replace`` kept until the new one is complete and
    verified, then swapped out (`_swap_in`); a folder that is not a neuronbench dataset
    is never replaced.
    """
    path = Path(path)
    if path.exists():
        if not replace:
            raise NeuronbenchError(f"{path}: a dataset is already there; rebuild with --force to replace it")
        _check_replaceable(path)
    tmp = make_temp_dir(path)
    try:
        rec_rows, neuron_tables, label_tables, epoch_tables = [], [], [], []
        for rec in recordings:
            rec.validate()
            if any(row["recording"] == rec.recording for row in rec_rows):
                raise NeuronbenchError(f"{path}: field 'recording': the id {rec.recording!r} is given to two "
                                       "recordings; expected one id per recording")
            rec_rows.append(
                {
                    "recording": rec.recording,
                    "animal": rec.animal,
                    "modality": rec.modality,
                    "t_start": float(rec.t_start),
                    "t_stop": float(rec.t_stop),
                    "waveform_rate": float(rec.waveform_rate) if rec.waveform_rate else None,
                }
            )
            neurons = rec.neurons[list(NEURON_COLUMNS)].copy()
            neurons.insert(0, "animal", rec.animal)
            neurons.insert(0, "recording", rec.recording)
            neuron_tables.append(neurons)
            labels = pd.DataFrame({"neuron_id": rec.neuron_ids})
            for col in label_columns:
                if rec.labels is not None and col in rec.labels.columns:
                    labels[col] = rec.labels[col].to_numpy(dtype=object)
                else:
                    labels[col] = None
            label_tables.append(labels)
            epochs = rec.epochs[list(EPOCH_COLUMNS)].copy()
            epochs.insert(0, "recording", rec.recording)
            epoch_tables.append(epochs)
            arr_dir = tmp / "arrays" / rec.recording
            arr_dir.mkdir(parents=True)
            for field in _ARRAYS:
                value = getattr(rec, field)
                if value is not None:
                    np.save(arr_dir / f"{field}.npy", np.ascontiguousarray(value), allow_pickle=False)
            if rec.behaviour is not None:
                (tmp / "behaviour").mkdir(exist_ok=True)
                rec.behaviour.to_parquet(tmp / "behaviour" / f"{rec.recording}.parquet", index=False)
            del rec, value  # free this recording before the next one is made (streamed recordings)
        if not rec_rows:
            raise NeuronbenchError(f"{path}: no recordings to write")
        recs = pd.DataFrame(rec_rows)
        recs.to_parquet(tmp / "recordings.parquet", index=False)
        neurons = pd.concat(neuron_tables, ignore_index=True)
        neurons["track_id"] = neurons["track_id"].astype(object).where(neurons["track_id"].notna(), None)
        neurons.to_parquet(tmp / "neurons.parquet", index=False)
        pd.concat(label_tables, ignore_index=True).astype(object).to_parquet(tmp / "labels.parquet", index=False)
        pd.concat(epoch_tables, ignore_index=True).to_parquet(tmp / "epochs.parquet", index=False)

        files = {
            str(p.relative_to(tmp).as_posix()): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(tmp.rglob("*"))
            if p.is_file() and p.name != TEMP_MARKER
        }
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "description": description,
            "params": params or {},
            "label_columns": list(label_columns),
            "checksum": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest(),
            "files": files,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        Dataset(tmp).verify()
        (tmp / TEMP_MARKER).unlink()  # a finished dataset; its manifest still identifies it as ours
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _is_dataset(path: Path) -> bool:
    """Whether ``path`` holds a manifest of a neuronbench dataset (of any version)."""
    try:
        return json.loads((path / "manifest.json").read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _check_replaceable(path: Path) -> None:
    if not _is_dataset(path):
        raise NeuronbenchError(
            f"{path}: exists but is not a neuronbench dataset (no readable manifest.json); "
            "not replacing it: move it away or choose another data folder"
        )


def _temp_path(path: Path, role: str) -> Path:
    token = os.urandom(6).hex()
    return path.parent / f".{path.name}.{role}-{os.getpid()}-{token}"


def _mark(folder: Path) -> None:
    (folder / TEMP_MARKER).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))


def make_temp_dir(path: Path) -> Path:
    """A new temporary folder beside ``path`` (``.<name>.tmp-<pid>-<random>``), marked
    as ours and readable as the umask allows (mkdtemp alone makes it private), after
    removing the stale ones of interrupted runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        _mark(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``; an existing dataset there is renamed aside first and
    removed only once the new one is in place (put back if the rename fails)."""
    if not path.exists():
        os.rename(tmp, path)
        return
    aside = _temp_path(path, "old")
    os.rename(path, aside)
    try:
        _mark(aside)
        os.rename(tmp, path)
    except BaseException:
        (aside / TEMP_MARKER).unlink(missing_ok=True)
        if not path.exists():
            os.rename(aside, path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OverflowError:
        return False
    return True


def remove_stale(folder: Path) -> list[Path]:
    """Remove the temporary folders in ``folder`` left by processes no longer alive on
    this host, and put back a dataset renamed aside whose replacement never arrived.
    Only folders named like ours and holding our marker are touched; returns them."""
    folder = Path(folder)
    done = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return done
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if m is None or not entry.is_dir():
            continue
        try:
            marker = json.loads((entry / TEMP_MARKER).read_text())
        except (OSError, ValueError):
            continue  # not ours, or not finished being marked: leave it alone
        if not isinstance(marker, dict) or marker.get("host") != socket.gethostname():
            continue
        pid = marker.get("pid")
        if not isinstance(pid, int) or pid != int(m["pid"]) or _pid_alive(pid):
            continue
        target = folder / m["name"]
        if m["role"] == "old" and not target.exists():
            (entry / TEMP_MARKER).unlink()
            os.rename(entry, target)
            print(f"neuronbench: put back {target}, renamed aside by an interrupted run (pid {pid})",
                  file=sys.stderr)
        else:
            shutil.rmtree(entry, ignore_errors=True)
            print(f"neuronbench: removed {entry}, left by an interrupted run (pid {pid})", file=sys.stderr)
        done.append(entry)
    return done


class Dataset:
    """A dataset folder opened for reading. Tables load on first use; arrays are
    memory-mapped per recording when `recording` is called."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.is_file():
            raise NeuronbenchError(f"{manifest_path}: missing; {self.path} is not a neuronbench dataset")
        try:
            self.manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise NeuronbenchError(f"{manifest_path}: not valid JSON ({e})") from None
        if self.manifest.get("format") != FORMAT or self.manifest.get("format_version") != FORMAT_VERSION:
            raise NeuronbenchError(
                f"{manifest_path}: field 'format_version': expected {FORMAT} v{FORMAT_VERSION}, "
                f"got {self.manifest.get('format')} v{self.manifest.get('format_version')}"
            )
        self._verified: set[str] = set()

    def verify(self) -> Dataset:
        """Check every file against the manifest and that the tables are readable and aligned."""
        for rel in self.manifest["files"]:
            self._file(rel)
        for table in ("recordings", "labels", "epochs"):
            getattr(self, table)
        return self

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def checksum(self) -> str:
        return self.manifest["checksum"]

    @property
    def label_columns(self) -> list[str]:
        return list(self.manifest["label_columns"])

    def _file(self, rel: str) -> Path:
        """The path of a manifest file, verified against its checksum on first use."""
        entry = self.manifest["files"].get(rel)
        p = self.path / rel
        if entry is None:
            raise NeuronbenchError(f"{self.path / 'manifest.json'}: field 'files' has no entry {rel!r}")
        if rel not in self._verified:
            if not p.is_file():
                raise NeuronbenchError(f"{p}: missing (listed in the manifest)")
            size = p.stat().st_size
            if size != entry["bytes"]:
                raise NeuronbenchError(
                    f"{p}: expected {entry['bytes']} bytes, found {size}: the file is truncated or corrupt"
                )
            if sha256_file(p) != entry["sha256"]:
                raise NeuronbenchError(f"{p}: sha256 does not match the manifest: the file is corrupt")
            self._verified.add(rel)
        return p

    def _table(self, rel: str) -> pd.DataFrame:
        try:
            return pd.read_parquet(self._file(rel))
        except NeuronbenchError:
            raise
        except Exception as e:  # pyarrow raises several types for unreadable files
            raise NeuronbenchError(f"{self.path / rel}: unreadable Parquet table ({e})") from None

    @cached_property
    def recordings(self) -> pd.DataFrame:
        """One row per recording: recording, animal, modality, t_start, t_stop, ..."""
        return self._table("recordings.parquet")

    @cached_property
    def neurons(self) -> pd.DataFrame:
        """All units of all recordings: recording, animal, neuron_id, unit, track_id, x, y, z."""
        return self._table("neurons.parquet")

    @cached_property
    def labels(self) -> pd.DataFrame:
        """neuron_id and one column per label, aligned row by row with `neurons`."""
        labels = self._table("labels.parquet")
        if list(labels["neuron_id"]) != list(self.neurons["neuron_id"]):
            raise NeuronbenchError(
                f"{self.path / 'labels.parquet'}: field 'neuron_id' does not match neurons.parquet row by row"
            )
        return labels

    @cached_property
    def epochs(self) -> pd.DataFrame:
        return self._table("epochs.parquet")

    def recording(self, rec_id: str, *, with_labels: bool = False) -> Recording:
        """Load one recording (arrays memory-mapped). Labels only when asked for."""
        rows = self.recordings[self.recordings["recording"] == rec_id]
        if rows.empty:
            raise NeuronbenchError(
                f"{self.path}: no recording {rec_id!r}; known: {self.recordings['recording'].tolist()[:10]}"
            )
        row = rows.iloc[0]
        arrays: dict[str, np.ndarray] = {}
        for field in _ARRAYS:
            rel = f"arrays/{rec_id}/{field}.npy"
            if rel in self.manifest["files"]:
                try:
                    arrays[field] = np.load(self._file(rel), mmap_mode="r", allow_pickle=False)
                except ValueError as e:
                    raise NeuronbenchError(f"{self.path / rel}: unreadable array ({e})") from None
        sel = (self.neurons["recording"] == rec_id).to_numpy()
        neurons = self.neurons.loc[sel, list(NEURON_COLUMNS)].reset_index(drop=True)
        labels = self.labels.loc[sel].reset_index(drop=True) if with_labels else None
        ep = self.epochs[self.epochs["recording"] == rec_id]
        epochs = ep[list(EPOCH_COLUMNS)].sort_values("start").reset_index(drop=True)
        beh_rel = f"behaviour/{rec_id}.parquet"
        behaviour = self._table(beh_rel) if beh_rel in self.manifest["files"] else None
        rate = row.get("waveform_rate")
        rec = Recording(
            dataset=self.name,
            animal=str(row["animal"]),
            recording=rec_id,
            modality=row["modality"],
            neurons=neurons,
            t_start=float(row["t_start"]),
            t_stop=float(row["t_stop"]),
            epochs=epochs,
            waveform_rate=float(rate) if rate is not None and pd.notna(rate) else None,
            behaviour=behaviour,
            labels=labels,
            **arrays,
        )
        return rec.validate(where=str(self.path))

    def load(self, rec_ids: Sequence[str] | None = None, *, with_labels: bool = False) -> list[Recording]:
        """Several recordings, in the order given (default: all, in dataset order)."""
        ids = list(self.recordings["recording"]) if rec_ids is None else list(rec_ids)
        return [self.recording(r, with_labels=with_labels) for r in ids]
