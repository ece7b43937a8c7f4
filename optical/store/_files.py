"""Reading the JSON files that make a folder a run, a study or a sweep, with one error for a folder that is not one."""

from __future__ import annotations

import json
from pathlib import Path

from optical.errors import OpticalError


class RunFormatError(OpticalError):
    """A folder that is not a readable run (study, sweep): missing files, another format version, corrupt JSON."""


def read_json(file: Path, missing: str) -> dict | list:
    """``file``'s JSON; RunFormatError naming it when absent ("missing (``missing``)") or corrupt (with the line)."""
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFormatError(f"{file}: missing ({missing})") from None
    except json.JSONDecodeError as err:
        raise RunFormatError(f"{file}:{err.lineno}: corrupt JSON ({err.msg})") from None


def read_versioned_json(file: Path, kind: str, version: int) -> dict:
    """The ``{"format": version, ...}`` file that makes a folder a ``kind`` (sweep, study); RunFormatError when it
    is missing, corrupt or of another format."""
    data = read_json(file, f"not a {kind} folder")
    if not isinstance(data, dict) or data.get("format") != version:
        raise RunFormatError(f"{file}: not a {kind} this version reads (format {version})")
    return data


def changed_keys(previous: dict, new: dict, ignored: tuple[str, ...]) -> list[str]:
    """The keys (but ``ignored``) whose value differs between two configs, sorted: what makes an existing folder
    another one than the one asked for."""
    return sorted(k for k in set(previous) | set(new) if k not in ignored and previous.get(k) != new.get(k))


def newest_first(root: Path, marker: str) -> list[Path]:
    """The folders under ``root`` holding a file ``marker`` (not temp folders), the last changed first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if not p.name.startswith(".") and (p / marker).is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
