"""EfficientNetLite.regions (the head feature map before pooling) and encode_image_regions (its fp16 cache)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from optical.data import open_rgb
from optical.encoders import EfficientNetLite0, encode_image_files, encode_image_regions
from optical.encoders._image_features import feature_cache_dir, image_key, region_cache_dir
from tests.fakes import calibrated_lite0


@pytest.fixture
def encoder():
    """A random Lite0 at 64 px (2 x 2 regions), calibrated (``calibrated_lite0``)."""
    return calibrated_lite0(64)


@pytest.fixture
def images(tmp_path):
    paths = [tmp_path / "red.png", tmp_path / "grey.png", tmp_path / "noise.png"]
    Image.new("RGB", (40, 24), (200, 30, 30)).save(paths[0])
    Image.new("L", (32, 32), 90).save(paths[1])
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(paths[2])
    return paths


def test_regions_shape_and_mean_equals_pooled(encoder):
    pixels = torch.rand(2, 3, 64, 64) * 4 - 2
    with torch.no_grad():
        regions = encoder.regions(pixels)
        pooled = encoder(pixels)
    assert regions.shape == (2, 4, 1280)
    assert regions.std() > 0.1
    torch.testing.assert_close(regions.mean(1), pooled, atol=1e-5, rtol=1e-5)


def test_regions_are_the_grid_row_major(encoder):
    pixels = torch.rand(1, 3, 96, 64) * 4 - 2  # 3 rows x 2 columns
    with torch.no_grad():
        grid = encoder.feature_map(pixels)  # (1, 1280, 3, 2)
        regions = encoder.regions(pixels)
    assert grid.shape == (1, 1280, 3, 2) and regions.shape == (1, 6, 1280)
    torch.testing.assert_close(regions[0, 1], grid[0, :, 0, 1])  # row 0, column 1
    torch.testing.assert_close(regions[0, 2], grid[0, :, 1, 0])  # row 1, column 0


def test_regions_at_224_px_are_7_by_7():
    torch.manual_seed(0)
    with torch.no_grad():
        assert EfficientNetLite0().eval().regions(torch.zeros(1, 3, 224, 224)).shape == (1, 49, 1280)


def test_encode_regions_fp16_round_trip_and_cache_hit(cache, encoder, images, monkeypatch):
    first = encode_image_regions(images, encoder, batch_size=2, progress=False)
    assert first.shape == (3, 4, 1280) and first.dtype == np.float16
    pixels = torch.stack([encoder.preprocess(open_rgb(p)) for p in images])
    with torch.no_grad():
        exact = encoder.regions(pixels).numpy()
    np.testing.assert_allclose(first.astype(np.float32), exact, rtol=2e-3, atol=1e-3)

    def fail(pixels):
        raise AssertionError("a cached image was encoded again")

    monkeypatch.setattr(encoder, "regions", fail)
    second = encode_image_regions(images, encoder, progress=False)
    assert second.dtype == np.float16
    np.testing.assert_array_equal(second, first)
    key = image_key(encoder.name, images[0].read_bytes())
    stored = np.load(region_cache_dir(encoder) / key[:2] / f"{key}.npy")
    assert stored.dtype == np.float16 and stored.shape == (4, 1280)


def test_region_keys_are_content_hashes(cache, encoder, images, tmp_path):
    copy = shutil.copy(images[0], tmp_path / "renamed.png")
    calls: list[int] = []
    regions = encoder.regions
    encoder.regions = lambda pixels: (calls.append(pixels.shape[0]), regions(pixels))[1]
    out = encode_image_regions([images[0], copy, images[1]], encoder, progress=False)
    assert sum(calls) == 2  # the copy shares the original's entry
    np.testing.assert_array_equal(out[0], out[1])
    assert not np.array_equal(out[0], out[2])
    files = sorted(region_cache_dir(encoder).rglob("*.npy"))
    assert {f.stem for f in files} == {image_key(encoder.name, p.read_bytes()) for p in images[:2]}


def test_region_and_pooled_caches_do_not_collide(cache, encoder, images):
    pooled = encode_image_files(images, encoder, progress=False)
    pooled_files = {f: f.read_bytes() for f in feature_cache_dir(encoder).rglob("*.npy")}
    assert len(pooled_files) == 3
    regions = encode_image_regions(images, encoder, progress=False)
    assert {f: f.read_bytes() for f in feature_cache_dir(encoder).rglob("*.npy")
            if region_cache_dir(encoder) not in f.parents} == pooled_files
    assert len(list(region_cache_dir(encoder).rglob("*.npy"))) == 3
    again = encode_image_files(images, encoder, progress=False)  # still the pooled vectors, not regions
    assert again.shape == (3, 1280) and again.dtype == np.float32
    np.testing.assert_array_equal(again, pooled)
    np.testing.assert_allclose(regions.astype(np.float32).mean(1), pooled, rtol=1e-2, atol=1e-2)
