"""Test sentence pairs: each caption with an English caption of the same image (plans, the app's pair picker)."""

from __future__ import annotations

from collections.abc import Sequence


def english_pairs(
    texts: Sequence[str], images: Sequence[int], english_texts: Sequence[str], english_images: Sequence[int]
) -> list[tuple[str, str, int]]:
    """(caption, the first English caption of its image, image index) for each caption whose image has one.

    ``images`` (Q,) and ``english_images`` (Q_en,) are image indices of the same gallery.
    """
    english: dict[int, str] = {}
    for text, image in zip(english_texts, english_images):
        english.setdefault(int(image), text)
    return [(text, english[int(image)], int(image)) for text, image in zip(texts, images) if int(image) in english]
