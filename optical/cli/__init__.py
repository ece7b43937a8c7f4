"""Command line: ``python -m optical <command> --help``."""

from optical.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
