"""Errors that reach the user as one clear line instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class OpticalError(Exception):
    """Base class: the CLI prints these as ``error: <message>`` and exits with status 2."""


class InputError(OpticalError, ValueError):
    """Bad user input, located by file and (optionally) 1-based line number.

    ``str(err)`` reads ``path:line: message`` so editors and terminals can jump to it.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(where + message)


class MissingAssetError(OpticalError, FileNotFoundError):
    """An offline asset (weights, dataset) is absent; the message says which command makes it."""


class NonFiniteError(OpticalError, ValueError):
    """A model produced NaN or infinite numbers (embeddings, scores, a training loss). Nothing is computed from them:
    a NaN score would rank as a hit and report perfect recall. The message names the model and what was affected."""


class DataWarning(UserWarning):
    """A data problem that is skipped, not fatal (e.g. blank caption lines); the CLI prints ``warning: <message>``."""
