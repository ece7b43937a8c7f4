"""Reading the text of command-line flags: comma lists, ``--bitext`` entries, on/off, a cap or 'all'."""

from __future__ import annotations

import argparse

from optical.errors import InputError


def split_list(text: str, flag: str) -> list[str]:
    """``"de, fr,"`` -> ``["de", "fr"]``; InputError when nothing is left (``flag`` without its dashes)."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        example = {"languages": "de,fr,ga,zu", "methods": "zero-shot,mse,optical"}.get(flag, "de,fr,lkt")
        raise InputError(f"--{flag} is empty: give a comma-separated list, e.g. --{flag} {example}")
    return items


def parse_bitext_flag(text: str) -> dict[str, str]:
    """``"de=multi30k:PATH,fr=multi30k:PATH"`` -> ``{"de": "multi30k:PATH", "fr": "multi30k:PATH"}``.

    Entries are split at commas followed by ``<lang>=``, so an ``english_file,foreign_file`` source keeps its comma.
    """
    entries: list[str] = []
    for part in text.split(","):
        head = part.split("=", 1)[0].strip()
        if "=" in part and head and "/" not in head and ":" not in head or not entries:
            entries.append(part)
        else:
            entries[-1] += "," + part
    bitext = {}
    for entry in entries:
        lang, sep, source = entry.partition("=")
        if not sep or not lang.strip() or not source.strip():
            raise InputError(f"--bitext: expected 'LANG=SOURCE[,LANG=SOURCE...]', got {entry!r}")
        bitext[lang.strip()] = source.strip()
    return bitext


def on_off(text: str) -> bool:
    """``--english-term``: on or off (any case)."""
    value = text.strip().lower()
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return value == "on"


def pairs_cap(text: str) -> int | str:
    """``--bitext-pairs``: a number of pairs or 'all'."""
    if text.strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pairs or 'all', got {text!r}") from None
