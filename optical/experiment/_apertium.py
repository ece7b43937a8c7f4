"""translate-test with Apertium (Debian's rule-based MT, GPL): the ``apertium`` command, stdin/stdout, many
lines per call, translations cached by text hash under ``cache/mt/apertium/<pair>.json``.

A language has a pair when an installed mode translates it into English (``apertium -l`` lists them: e.g.
``spa-eng`` from ``apertium-eng-spa``, ``eu-en`` from ``apertium-eu-en``). Torch-free.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import langcodes

from optical.store import atomic_write_json, cache_dir
from optical.errors import MissingAssetError

ENGLISH = ("en", "eng")
INSTALL_HINT = "apt-get install apertium apertium-eng-spa apertium-eu-en (Debian; other pairs: apt-cache search apertium)"
BATCH_LINES = 2000  # lines per apertium call


def apertium_available() -> bool:
    return shutil.which("apertium") is not None


@lru_cache(maxsize=1)
def apertium_modes() -> tuple[str, ...]:
    """The installed Apertium modes (``apertium -l``), e.g. ("eng-spa", "eu-en", "spa-eng"); MissingAssetError
    without the ``apertium`` command."""
    if not apertium_available():
        raise MissingAssetError(f"translate-test with --mt apertium needs the apertium command: {INSTALL_HINT}")
    out = subprocess.run(["apertium", "-l"], capture_output=True, text=True, check=True).stdout
    return tuple(line.strip() for line in out.splitlines() if line.strip())


def apertium_pair(language: str) -> str | None:
    """The installed mode translating ``language`` (a normalised locale, e.g. "es", "eu") into English, or None."""
    base = language.split("-")[0].split("_")[0]
    codes = {base}
    try:
        codes.add(langcodes.Language.get(base).to_alpha3())
    except (LookupError, ValueError):
        pass
    for mode in apertium_modes():
        source, _, target = mode.partition("-")
        if source in codes and target in ENGLISH:
            return mode
    return None


def apertium_translate(texts: list[str], mode: str, cache: Path | None = None) -> list[str]:
    """``texts`` (N strings) translated by Apertium mode ``mode`` -> N English strings (unknown words unmarked).

    Translations are read from and added to ``cache`` (default ``cache/mt/apertium/<mode>.json``, keyed by the
    SHA-256 of the text); the missing ones go through ``apertium`` ``BATCH_LINES`` lines per call.
    """
    file = cache or cache_dir() / "mt" / "apertium" / f"{mode}.json"
    known: dict[str, str] = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    todo = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in known))
    for start in range(0, len(todo), BATCH_LINES):
        batch = todo[start : start + BATCH_LINES]
        for text, out in zip(batch, _run_apertium(batch, mode)):
            known[hashlib.sha256(text.encode("utf-8")).hexdigest()] = out
    if todo:
        atomic_write_json(file, known)
    return [known[k] for k in keys]


def _run_apertium(lines: list[str], mode: str) -> list[str]:
    """One ``apertium -u MODE`` call over ``lines`` (newlines inside a line become spaces); line by line when the
    output does not keep the line count."""
    flat = [" ".join(line.split()) for line in lines]
    out = _call(mode, "\n".join(flat) + "\n").split("\n")
    out = out[: len(flat)] if len(out) > len(flat) and not any(out[len(flat) :]) else out
    if len(out) != len(flat):
        out = [_call(mode, line + "\n").strip() for line in flat]
    return [line.strip() for line in out]


def _call(mode: str, text: str) -> str:
    done = subprocess.run(["apertium", "-u", mode], input=text, capture_output=True, text=True)
    if done.returncode != 0:
        raise MissingAssetError(f"apertium -u {mode} failed ({done.returncode}): {done.stderr.strip()[:300]}")
    return done.stdout
