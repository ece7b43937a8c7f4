"""Argument parsing and dispatch; each command lives in its own module with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Any, Protocol

from optical.errors import DataWarning, OpticalError

# Each module defines ``register(subparsers)``, which adds a parser whose ``func(args) -> int`` runs it.
COMMAND_MODULES = ("prepare", "data", "run", "sweep", "eval", "report", "export")


class Subparsers(Protocol):
    """What ``register`` uses of ``ArgumentParser.add_subparsers()``'s result (its class is private to argparse)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m optical",
        description="Optimal-transport distillation for multilingual image-text retrieval, offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(f"optical.cli.{name}").register(sub)
    return parser


def _data_warnings_as_lines(show):
    """A ``warnings.showwarning`` printing a ``DataWarning`` as one line ``warning: <message>``, others as ``show``."""
    def showwarning(message, category, *where, **kwargs):
        if issubclass(category, DataWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            show(message, category, *where, **kwargs)
    return showwarning


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors print one line and return 2."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():  # restores the default display afterwards
            warnings.showwarning = _data_warnings_as_lines(warnings.showwarning)
            return int(args.func(args) or 0)
    except OpticalError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
