"""Downloading the public datasets: pinned sources, verified checksums, safe extraction.

Every file comes from a `Source`: a URL, the relative path it is saved under, and the
checksum its publisher gives for it (sha256, or md5 where the host publishes only that).
A source without a checksum is refused: nothing is used before it is verified.

- `fetch` downloads one source into a folder. It never prompts (cluster jobs must not
  hang), shows a tqdm progress bar on stderr, and resumes: bytes arrive in
  ``<name>.part`` and a rerun asks the server for the rest (HTTP ``Range``); a server
  that ignores the range makes it start over. The finished file is checked against the
  size and checksum and only then renamed into place; a mismatch deletes it and raises.
- `extract` unpacks a zip or tar archive after checking every entry first: an absolute
  path, a ``..`` component, a link or a device entry refuses the whole archive before
  anything is written, so nothing can land outside the target folder.
- `figshare_sources` and `dandi_sources` turn a pinned figshare file / article or a
  pinned DANDI version into sources, with the checksum each host publishes (figshare:
  md5; DANDI: sha256). `write_plan` / `read_plan` keep the resolved list in the target
  folder (``neuronbench-sources.json``), so a resumed download uses exactly the same files.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from neuronbench.errors import NeuronbenchError

FIGSHARE_API = "https://api.figshare.com/v2"
DANDI_API = "https://api.dandiarchive.org/api"
PLAN_FILE = "neuronbench-sources.json"
CHUNK = 1 << 20
USER_AGENT = "neuronbench-download/1"


@dataclass(frozen=True)
class Source:
    """One file to download: ``url`` saved as ``name`` (a relative POSIX path), checked
    against ``sha256`` or ``md5`` (at least one is required) and ``size`` when known."""

    url: str
    name: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if not (self.sha256 or self.md5):
            raise NeuronbenchError(f"source {self.name!r} ({self.url}): no sha256 or md5 to verify it against")
        _safe_relative(self.name, f"source {self.url}")


def _safe_relative(name: str, where: str) -> PurePosixPath:
    """``name`` as a relative path that stays inside its folder, else raise."""
    p = PurePosixPath(name.replace("\\", "/"))
    if not name or p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
        raise NeuronbenchError(f"{where}: entry {name!r} would escape the target folder; refusing it")
    return p


def file_digests(path: Path) -> dict[str, str]:
    """sha256 and md5 of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            sha.update(block)
            md5.update(block)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def verify(path: Path, source: Source) -> None:
    """Raise unless ``path`` has the source's size and checksum(s)."""
    if source.size is not None and path.stat().st_size != source.size:
        raise NeuronbenchError(
            f"{path}: field 'size': expected {source.size} bytes from {source.url}, got {path.stat().st_size}"
        )
    got = file_digests(path)
    for kind in ("sha256", "md5"):
        want = getattr(source, kind)
        if want and got[kind] != want.lower():
            raise NeuronbenchError(
                f"{path}: field '{kind}': expected {want} (published for {source.url}), got {got[kind]}: "
                "the download is corrupt or the source changed; it was deleted"
            )


def _open(url: str, start: int, timeout: float) -> Any:
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def fetch(source: Source, folder: Path, *, progress: bool = True, timeout: float = 60.0, attempts: int = 3) -> Path:
    """Download ``source`` into ``folder`` (resuming a partial download), verify it and
    return its path. A file already there and matching its checksum is not fetched again."""
    from tqdm import tqdm

    folder = Path(folder)
    dest = folder / _safe_relative(source.name, str(folder))
    if dest.is_file():
        try:
            verify(dest, source)
            return dest
        except NeuronbenchError:
            pass  # an old or damaged copy: kept until a verified download replaces it
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, attempts + 1):
        start = part.stat().st_size if part.is_file() else 0
        if source.size is not None and start >= source.size:
            break  # complete (or too long: the checksum decides)
        try:
            with _open(source.url, start, timeout) as resp:
                if start and resp.status != 206:
                    start = 0  # the server ignored the range: start over
                total = source.size
                length = resp.headers.get("Content-Length")
                if total is None and length is not None:
                    total = start + int(length)
                with (
                    open(part, "ab" if start else "wb") as out,
                    tqdm(
                        total=total,
                        initial=start,
                        unit="B",
                        unit_scale=True,
                        desc=source.name,
                        disable=not progress,
                        file=sys.stderr,
                        leave=False,
                    ) as bar,
                ):
                    while block := resp.read(CHUNK):
                        out.write(block)
                        bar.update(len(block))
            if source.size is None or part.stat().st_size >= source.size:
                break
            if attempt == attempts:  # the server closed the connection early, every time
                raise NeuronbenchError(
                    f"{source.url}: download of {dest} stopped at {part.stat().st_size} of {source.size} bytes; "
                    "rerun the same command to resume"
                )
        except urllib.error.HTTPError as e:
            if e.code == 416 and start:  # nothing left to send: the part is complete
                break
            raise NeuronbenchError(f"{source.url}: HTTP {e.code} {e.reason} while downloading {dest}") from None
        except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as e:
            if attempt == attempts:
                raise NeuronbenchError(
                    f"{source.url}: download of {dest} interrupted ({e}); rerun the same command to resume"
                ) from None
            time.sleep(min(2.0**attempt, 30.0))
    try:
        verify(part, source)
    except NeuronbenchError as e:
        part.unlink(missing_ok=True)
        raise NeuronbenchError(str(e).replace(str(part), str(dest), 1)) from None
    os.replace(part, dest)
    return dest


def _check_members(archive: Path, names: Iterable[tuple[str, str]]) -> None:
    """Refuse the archive if any (name, kind) entry could write outside the target."""
    for name, kind in names:
        _safe_relative(name, str(archive))
        if kind != "file" and kind != "dir":
            raise NeuronbenchError(f"{archive}: entry {name!r} is a {kind}; refusing archives with links or devices")


def extract(archive: Path, target: Path) -> Path:
    """Unpack a zip or tar archive into ``target`` after checking every entry; return
    ``target``. Extraction is skipped when a marker says this archive was unpacked."""
    archive, target = Path(archive), Path(target)
    marker = target / f".{archive.name}.extracted"
    if marker.is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _check_members(archive, ((i.filename, _zip_kind(i)) for i in infos))
            zf.extractall(target)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            _check_members(archive, ((m.name, _tar_kind(m)) for m in members))
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.11.4 / 3.10.12
            for m in members:  # regular files and folders only, checked above
                tf.extract(m, target, set_attrs=False, **safe)
    else:
        raise NeuronbenchError(f"{archive}: not a zip or tar archive")
    marker.write_text(json.dumps({"archive": archive.name}))
    return target


def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if mode and (mode & 0o170000) == 0o120000:
        return "symlink"
    return "dir" if info.is_dir() else "file"


def _tar_kind(m: tarfile.TarInfo) -> str:
    if m.isfile():
        return "file"
    if m.isdir():
        return "dir"
    return "symlink" if m.issym() else "hard link" if m.islnk() else "device or fifo"


def _get_json(url: str, timeout: float = 60.0) -> Any:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"User-Agent": USER_AGENT}), timeout=timeout
        ) as r:
            return json.loads(r.read().decode())
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise NeuronbenchError(f"{url}: could not read the source's metadata ({e})") from None


def _figshare_source(entry: dict[str, Any], url: str) -> Source:
    try:
        return Source(
            url=entry["download_url"],
            name=entry["name"],
            md5=entry.get("computed_md5") or None,
            size=int(entry["size"]),
        )
    except KeyError as e:
        raise NeuronbenchError(f"{url}: field {e.args[0]!r} missing in a file entry") from None


def figshare_sources(article: int, *, file_ids: Sequence[int] = (), api: str = FIGSHARE_API) -> list[Source]:
    """The files of a figshare article (all, or the pinned ``file_ids``), each with the
    md5 figshare computed for it. A figshare file id names immutable content."""
    if file_ids:
        out = []
        for fid in file_ids:
            url = f"{api}/articles/{article}/files/{fid}"
            out.append(_figshare_source(_get_json(url), url))
        return out
    url = f"{api}/articles/{article}/files?page_size=1000"
    return [_figshare_source(e, url) for e in _get_json(url)]


def dandi_sources(dandiset: str, version: str, *, keep: Any = None, api: str = DANDI_API) -> list[Source]:
    """The assets of a published DANDI version (those for which ``keep(path)`` is true),
    each with the sha256 DANDI computed for it."""
    out: list[Source] = []
    url: str | None = f"{api}/dandisets/{dandiset}/versions/{version}/assets/?page_size=200"
    while url:
        page = _get_json(url)
        for asset in page.get("results", []):
            if keep is not None and not keep(asset["path"]):
                continue
            meta_url = f"{api}/dandisets/{dandiset}/versions/{version}/assets/{asset['asset_id']}/"
            digest = _get_json(meta_url).get("digest", {})
            sha = digest.get("dandi:sha2-256")
            if not sha:
                raise NeuronbenchError(f"{meta_url}: field 'digest': no 'dandi:sha2-256' to verify {asset['path']}")
            out.append(
                Source(
                    url=f"{api}/assets/{asset['asset_id']}/download/",
                    name=asset["path"],
                    sha256=sha,
                    size=int(asset["size"]),
                )
            )
        url = page.get("next")
    return out


def write_plan(folder: Path, sources: Sequence[Source], pinned: dict[str, Any]) -> None:
    """Record the resolved sources (and what they were resolved from) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"pinned": pinned, "sources": [asdict(s) for s in sources]}
    tmp = folder / (PLAN_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, folder / PLAN_FILE)


def read_plan(folder: Path, pinned: dict[str, Any]) -> list[Source] | None:
    """The sources resolved earlier for the same pinned identifiers, or None."""
    path = Path(folder) / PLAN_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        if doc.get("pinned") != pinned:
            return None
        return [Source(**s) for s in doc["sources"]]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise NeuronbenchError(
            f"{path}: not a valid source list ({e}); delete it to resolve the sources again"
        ) from None


def download_all(
    folder: Path, pinned: dict[str, Any], resolve: Any, *, progress: bool = True, unpack: bool = True
) -> list[Path]:
    """Resolve the pinned sources once (``resolve()`` -> list of `Source`), fetch and
    verify each, and unpack the archives among them into ``folder``."""
    folder = Path(folder)
    sources = read_plan(folder, pinned)
    if sources is None:
        sources = resolve()
        if not sources:
            raise NeuronbenchError(f"{pinned}: the source lists no file to download")
        write_plan(folder, sources, pinned)
    paths = [fetch(s, folder, progress=progress) for s in sources]
    if unpack:
        for p in paths:
            if p.suffix in (".zip", ".tar") or p.name.endswith((".tar.gz", ".tgz")):
                extract(p, p.parent)
    return paths


def require(module: str, extra: str = "real") -> Any:
    """Import an optional reader, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise NeuronbenchError(
            f"this needs the optional package providing {module!r}: pip install 'neuronbench[{extra}]'"
        ) from None
