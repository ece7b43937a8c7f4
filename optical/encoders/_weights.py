"""Content hashes of weight files, checked cheaply: a recorded (sha256, size, mtime) is trusted while the file's
size and mtime still match it, and re-hashed otherwise.

A prepared model folder (``python -m optical prepare``) records its weights in its manifest ``conversion.json``
under ``"weights"``: ``{"model.safetensors": {"sha256": ..., "size": ..., "mtime_ns": ...}}``. Any other base
folder, or a manifest's file whose mtime changed (a copy), is hashed once and remembered by (path, size,
mtime) in ``cache/weight_hashes.json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from optical.atomic import atomic_write_json
from optical.errors import MissingAssetError
from optical.paths import cache_dir

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


def verify_weights(folder: Path, install: str, full: bool = False) -> str | None:
    """Check ``folder/model.safetensors`` against the manifest's record; return its sha256 (None: no record).

    Only the file's size and mtime are compared unless they differ from the record: then the file is hashed
    (once per size and mtime, see ``cached_sha256``; every time with ``full``). A mismatch raises
    DamagedAssetError naming the file and the command ``install`` that rebuilds it.
    """
    record = manifest_record(folder)
    file = folder / WEIGHTS_FILE
    if record is None:
        return None
    if not file.is_file():
        raise DamagedAssetError(file, "missing", install)
    if not full and _stat_matches(file, record):
        return record["sha256"]
    size = file.stat().st_size
    if size != record.get("size"):
        raise DamagedAssetError(file, f"damaged ({size} bytes, {record.get('size')} expected)", install)
    if (file_sha256(file) if full else cached_sha256(file)) != record["sha256"]:
        raise DamagedAssetError(file, "damaged (its content does not match the recorded sha256)", install)
    return record["sha256"]


def weights_sha256(folder: Path, install: str = "python -m optical prepare") -> str:
    """The content hash of ``folder/model.safetensors``: from the manifest (verified), else ``cached_sha256``."""
    recorded = verify_weights(folder, install)
    return recorded if recorded is not None else cached_sha256(folder / WEIGHTS_FILE)


_memo: dict[tuple[str, int, int], str] = {}


def cached_sha256(file: Path) -> str:
    """sha256 of ``file``, remembered by (path, size, mtime) in this process and in ``cache/weight_hashes.json``."""
    file = file.resolve()
    stat = file.stat()
    key = (str(file), stat.st_size, stat.st_mtime_ns)
    if key in _memo:
        return _memo[key]
    store = cache_dir() / _HASH_CACHE
    try:
        known = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else {}
    except json.JSONDecodeError:
        known = {}
    entry = known.get(str(file))
    if isinstance(entry, dict) and _stat_matches(file, entry):
        sha = entry["sha256"]
    else:
        sha = file_sha256(file)
        known[str(file)] = {"sha256": sha, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        atomic_write_json(store, known)
    _memo[key] = sha
    return sha
