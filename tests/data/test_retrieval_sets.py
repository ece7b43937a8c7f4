import numpy as np
import pytest

from optical.data import stamps_retrieval_set
from optical.errors import InputError


def test_stamps_retrieval_set(stamps):
    test = stamps.split("test")
    data = stamps_retrieval_set(stamps, "de")
    assert data.image_paths == [s.image for s in test]
    assert len(data.captions) == len(data.caption_image) == sum("de" in s.captions for s in test)
    for caption, i in zip(data.captions, data.caption_image, strict=True):
        assert test[i].captions["de"] == caption
    for i, j in np.ndindex(len(test), len(test)):
        assert (data.image_groups[i] == data.image_groups[j]) == (test[i].group == test[j].group)


def test_coins_share_a_group(stamps):
    coins = [s for s in stamps.stamps if s.stamp_id.startswith("coins/")]
    data = stamps_retrieval_set(stamps, "en", split=coins[0].split)
    index = {p: i for i, p in enumerate(data.image_paths)}
    assert data.image_groups[index[coins[0].image]] == data.image_groups[index[coins[1].image]]


def test_language_without_captions(stamps):
    with pytest.raises(InputError, match="no captions in zu"):
        stamps_retrieval_set(stamps, "zu")
