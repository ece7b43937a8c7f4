"""Comparable test sets: every language on the images captioned in every language."""

from pathlib import Path

import numpy as np

from optical.data import RetrievalSet, common_images


def _set(language: str, captioned: list[int]) -> RetrievalSet:
    """A gallery of 5 images (images 0 and 1 one group); one caption per image listed in ``captioned``."""
    return RetrievalSet(
        language=language,
        image_paths=[Path(f"img{i}.png") for i in range(5)],
        image_groups=np.array([0, 0, 1, 2, 3]),
        captions=[f"{language} {i}" for i in captioned],
        caption_image=np.array(captioned, dtype=np.int64),
    )


def test_a_language_missing_an_image_drops_it_for_every_language():
    sets = {"en": _set("en", [0, 1, 2, 3, 4]), "de": _set("de", [0, 1, 2, 3, 4]), "zu": _set("zu", [0, 2, 3, 4])}
    sets["zu"].captions.insert(1, "zu 2 again")  # a second caption of image 2 stays a query
    sets["zu"].caption_image = np.array([0, 2, 2, 3, 4])
    sets["de"].caption_image = np.array([0, 1, 2, 3, 3])  # de has no caption of image 4 (two of image 3)
    common = common_images(sets)
    for lang, rs in common.items():
        assert rs.image_paths == [Path("img0.png"), Path("img2.png"), Path("img3.png")]  # 1 (no zu), 4 (no de) gone
        assert rs.image_groups.tolist() == [0, 1, 2]  # renumbered densely
        assert [rs.image_paths[i] for i in rs.caption_image] == [
            sets[lang].image_paths[i] for i in sets[lang].caption_image if i in (0, 2, 3)
        ]
    assert common["en"].captions == ["en 0", "en 2", "en 3"]
    assert common["zu"].captions == ["zu 0", "zu 2 again", "zu 2", "zu 3"]
    assert common["de"].captions == ["de 0", "de 2", "de 3", "de 4"]  # "de 4" is the second caption of image 3


def test_sets_captioning_every_image_are_unchanged():
    sets = {"en": _set("en", [0, 1, 2, 3, 4]), "fr": _set("fr", [4, 3, 2, 1, 0])}
    common = common_images(sets)
    assert common["fr"].captions == sets["fr"].captions
    assert common["fr"].caption_image.tolist() == [4, 3, 2, 1, 0] and common["fr"].image_groups.tolist() == [0, 0, 1, 2, 3]
