"""Checking what a user typed before it reaches a model: empty, overlong, any script or emoji."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from optical.errors import InputError

#: Longer queries are cut here (the text towers read at most 64 tokens anyway; this bounds tokenizer work).
MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class Query:
    """A usable query and, when it was changed, a notice saying how."""

    text: str
    notice: str | None = None


def clean_query(text: str | None, max_chars: int = MAX_QUERY_CHARS) -> Query:
    """Normalise (NFC), strip and truncate ``text``; InputError when nothing visible is left.

    Any script works, right-to-left ones included, and emoji-only queries are kept: the tokenizer maps what
    it does not know to its unknown token, and the models still return an embedding.
    """
    text = unicodedata.normalize("NFC", text or "").strip()
    if not any(_visible(ch) for ch in text):
        raise InputError("the query is empty: type a few words in any language")
    if len(text) <= max_chars:
        return Query(text)
    return Query(
        text[:max_chars].rstrip(),
        f"The query had {len(text):,} characters; only the first {max_chars} are used.",
    )


def _visible(ch: str) -> bool:
    """Letters, digits, punctuation and symbols (emoji included); not spaces, controls or format marks."""
    return unicodedata.category(ch)[0] in "LNPS"
