"""Checks on the real package, prepared by `python -m optical prepare` (skipped when it has not run)."""

from collections import Counter

import pytest

from optical.data import load_stamps, open_rgb, split_of, stamps_stats
from optical.errors import MissingAssetError

pytestmark = pytest.mark.assets


@pytest.fixture(scope="module")
def real():
    try:
        return load_stamps()
    except MissingAssetError:
        pytest.skip("the stamps dataset is not prepared (run `python -m optical prepare`)")


def test_size_and_languages(real):
    assert 750 <= len(real.stamps) <= 820
    assert len(real.languages(min_captions=500)) >= 20
    assert not [loc for loc in real.languages() if loc == "en" or loc.startswith("en-")]
    assert {"pt-BR", "sr-Latn", "zh-TW", "son", "ff", "iu", "ga", "gd"} <= set(real.languages(min_captions=100))


def test_split_is_by_group_and_reproducible(real):
    counts = Counter(s.split for s in real.stamps)
    assert counts["train"] > counts["test"] > counts["val"] > 0
    assert all(s.split == split_of(s.group) for s in real.stamps)
    members = Counter(s.group for s in real.stamps)
    shared = {g: n for g, n in members.items() if n > 1}
    assert len(shared) >= 70 and sum(shared.values()) >= 200  # 2022.06.04: 216 stamps share 75 caption keys


def test_stats_report_drops(real):
    stats = stamps_stats(real)
    assert sum(row["dropped_untranslated"] for row in stats["languages"].values()) > 0
    assert stats["skipped"]["svg_only_stamps"] > 100


def test_images_open_as_rgb(real):
    for stamp in real.stamps[:5]:
        img = open_rgb(stamp.image)
        assert img.mode == "RGB" and min(img.size) > 0
