"""The leaderboard folder's files: the manifest of what `neuronbench leaderboard` wrote,
the guard that never replaces or removes a file it did not write (or that was edited
since), and the writes: each file atomically, then the manifest, stale files last.

A folder written before manifests existed has none. Then its ``README.md`` counts as
generated if it starts with the generated index's header, and so do the files that index
links to, provided each has the form the leaderboard writes (a page starting
``# Leaderboard:``, a CSV header of `neuronbench.reports.aggregate`, a PNG). Any other
file is the user's. This is safe because a user's own README does not start with the
generated header, and it lets an old ``leaderboards/`` regenerate; edits to such a legacy
file cannot be detected (no hash was recorded), which is why every later run checks the
manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from neuronbench.atomic import atomic_write
from neuronbench.errors import NeuronbenchError
from neuronbench.reports.aggregate import COLUMNS, CURVE_COLUMNS, PAIRED_COLUMNS, PER_CLASS_COLUMNS
from neuronbench.reports.markdown import PAGE_TITLE, README_INTRO, README_TITLE

MANIFEST = "leaderboard-manifest.json"
GENERATOR = "neuronbench leaderboard"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest_text(hashes: dict[str, str]) -> str:
    return json.dumps({"generator": GENERATOR, "files": dict(sorted(hashes.items()))}, indent=2) + "\n"


def _relative_name(name: Any) -> bool:
    """Whether ``name`` is a file name the manifest may hold: a relative POSIX path inside
    the folder (``a.md``, ``site/a.html``), no ``..``, no absolute path, not the manifest."""
    if not isinstance(name, str) or "\\" in name or name == MANIFEST:
        return False
    path = PurePosixPath(name)
    return path.as_posix() == name and not path.is_absolute() and all(p not in (".", "..") for p in path.parts)


def _read_manifest(out_dir: Path) -> dict[str, str] | None:
    """``{file name: SHA-256}`` from the manifest of an earlier run; None without one."""
    path = out_dir / MANIFEST
    if not path.exists() and not path.is_symlink():
        return None
    refuse = (f"{path}: not a manifest written by `neuronbench leaderboard`; refusing to write into "
              f"{out_dir}, nothing was written (move the file away or choose another --out)")
    if path.is_symlink() or not path.is_file():
        raise NeuronbenchError(refuse)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NeuronbenchError(f"{refuse}: {e}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or data.get("generator") != GENERATOR or not isinstance(files, dict)
            or not all(isinstance(v, str) and _relative_name(k) for k, v in files.items())):
        raise NeuronbenchError(f"{refuse}: expected {{\"generator\": \"{GENERATOR}\", \"files\": "
                               "{file name inside the folder: sha256}}")
    return files


def _looks_generated(name: str, data: bytes) -> bool:
    """Whether a file of a folder from before manifests has the form the leaderboard writes."""
    if name.endswith(".png"):
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if name.endswith(".csv"):
        return data.startswith(tuple((",".join(c) + "\n").encode()
                                     for c in (COLUMNS, PAIRED_COLUMNS, PER_CLASS_COLUMNS, CURVE_COLUMNS)))
    if name == "README.md":
        return data.startswith(f"{README_TITLE}\n\n{README_INTRO}\n".encode())
    return name.endswith(".md") and data.startswith(PAGE_TITLE.encode())


def _legacy_files(out_dir: Path) -> dict[str, str | None]:
    """The files of a folder written before manifests existed: its ``README.md`` if it is
    the generated index, and the files that index links to (no hashes known)."""
    readme = out_dir / "README.md"
    if readme.is_symlink() or not readme.is_file() or not _looks_generated("README.md", readme.read_bytes()):
        return {}
    linked = re.findall(r"\]\(([^()/\\]+\.(?:md|csv|png))\)", readme.read_text(encoding="utf-8"))
    return {name: None for name in ["README.md", *linked]}


def _check_out(out_dir: Path, files: dict[str, bytes], known: dict[str, str | None]) -> None:
    """Refuse (naming every file) to replace or remove a file the tool did not write or that
    was changed since it wrote it; a file byte-identical to the new content is fine."""
    problems = []
    folders = sorted({parent for name in files for parent in PurePosixPath(name).parents if parent.name})
    for folder in folders:
        path = out_dir / folder
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            problems.append(f"{path} is not a folder (the leaderboard writes files into it)")
    for name in sorted(set(files) | set(known)):
        path = out_dir / name
        if not path.exists() and not path.is_symlink():
            continue
        if path.is_symlink() or not path.is_file():
            problems.append(f"{path} is not a regular file")
            continue
        data = path.read_bytes()
        if data == files.get(name):
            continue
        if name not in known:
            problems.append(f"{path} was not written by `neuronbench leaderboard` (it is not in {MANIFEST})")
        elif known[name] is None and not _looks_generated(name, data):
            problems.append(f"{path} is listed in the folder's README.md but is not a file this tool writes")
        elif known[name] is not None and _sha256(data) != known[name]:
            problems.append(f"{path} was changed after `neuronbench leaderboard` wrote it (its SHA-256 "
                            f"differs from {MANIFEST})")
    if problems:
        raise NeuronbenchError(
            f"refusing to write the leaderboard into {out_dir}; nothing was written: " + "; ".join(problems)
            + ". Move or rename these files (or choose another --out), then rerun."
        )


def _write(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` by ``data`` unless it already holds exactly that."""
    if not (path.is_file() and path.read_bytes() == data):
        atomic_write(path, lambda f: f.write(data))


def write_folder(out_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Write ``files`` (name relative to ``out_dir`` -> bytes) and the manifest `MANIFEST`
    (the SHA-256 of every file written) into ``out_dir``; returns the written paths
    (manifest included), sorted.

    Nothing a user made is lost. The run replaces or removes only files it generated,
    known from the manifest of the previous run (or, without one, `_legacy_files`):

    - a file whose name the leaderboard generates but that is not in the manifest is
      refused (the error names it, nothing is written), unless it is byte-identical to the
      new content (then nothing changes);
    - a file in the manifest whose SHA-256 differs from the recorded one (edited by hand)
      is refused in the same way, unless byte-identical to the new content (e.g. after an
      interrupted run);
    - a file in the manifest that the leaderboard no longer generates (e.g. a dataset
      whose records are gone) is removed, after the new files are in place, if unchanged.

    Files are written one by one atomically, then the manifest; files the run no longer
    generates are removed last. An interrupted run leaves each file whole, old or new: the
    rerun accepts the new ones as byte-identical.
    """
    known = _read_manifest(out_dir) if out_dir.is_dir() else None
    if known is None:
        known = _legacy_files(out_dir) if out_dir.is_dir() else {}
    _check_out(out_dir, files, known)

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        _write(out_dir / name, data)
    hashes = {name: _sha256(data) for name, data in files.items()}
    stale = {name: _sha256((out_dir / name).read_bytes()) for name in known
             if name not in files and (out_dir / name).is_file()}
    # the stale files stay listed until they are gone, so an interrupted run still removes them
    _write(out_dir / MANIFEST, _manifest_text(hashes | stale).encode("utf-8"))
    for name in sorted(stale):
        (out_dir / name).unlink()
        for parent in PurePosixPath(name).parents:  # a folder the run emptied goes too
            folder = out_dir / parent
            if parent.name and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    if stale:
        _write(out_dir / MANIFEST, _manifest_text(hashes).encode("utf-8"))
    return sorted([out_dir / name for name in files] + [out_dir / MANIFEST])
