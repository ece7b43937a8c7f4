"""Reading user text files line by line: plain or gzip, strict UTF-8, errors located by file and line."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from optical.errors import InputError


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` (1-based, newline stripped) from a plain or ``.gz`` UTF-8 file.

    Streams the file. Raises ``InputError`` naming the file (and line) when it is missing, not valid gzip,
    or not valid UTF-8.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    opener = gzip.open if path.suffix == ".gz" else open
    number = 0
    try:
        with opener(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise InputError(f"not valid UTF-8 (byte {err.start}: {raw[err.start:err.start + 1]!r})",
                                     path, number) from None
                text = text.rstrip("\r\n")
                yield number, text.removeprefix("\ufeff") if number == 1 else text
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(f"cannot read file ({err})", path, number + 1 if number else None) from None


def read_lines(path: str | Path) -> list[str]:
    """All lines of a plain or ``.gz`` UTF-8 file (see ``iter_lines`` for the errors)."""
    return [text for _, text in iter_lines(path)]
