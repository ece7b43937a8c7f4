"""encode_image_files: shapes and order, content-hash cache (no forward pass on a hit), alpha onto white."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from optical.data import open_rgb
from optical.encoders import encode_image_files
from optical.encoders._image_features import feature_cache_dir, image_key
from optical.errors import InputError
from tests.fakes import calibrated_lite0


@pytest.fixture
def encoder():
    """A random Lite0 at 32 px, calibrated (``calibrated_lite0``)."""
    return calibrated_lite0(32)


def count_forwards(model) -> list[int]:
    """Batch sizes of every forward call, appended by a hook."""
    calls: list[int] = []
    model.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    return calls


def write_image(path, mode, size, color):
    Image.new(mode, size, color).save(path)
    return path


@pytest.fixture
def images(tmp_path):
    return [
        write_image(tmp_path / "red.png", "RGB", (20, 12), (200, 30, 30)),
        write_image(tmp_path / "green_alpha.png", "RGBA", (9, 16), (30, 200, 30, 128)),
        write_image(tmp_path / "grey.png", "L", (16, 16), 90),
    ]


def test_features_match_single_image_forward(cache, encoder, images):
    features = encode_image_files(images, encoder, batch_size=2, progress=False)
    assert features.shape == (3, 1280) and features.dtype == np.float32
    assert features.std() > 0.1
    with torch.inference_mode():
        expected = torch.cat([encoder(encoder.preprocess(open_rgb(p))[None]) for p in images]).numpy()
    np.testing.assert_allclose(features, expected, rtol=1e-3, atol=1e-3)  # batched vs single convolution order


def test_second_call_is_a_cache_hit(cache, encoder, images, tmp_path):
    calls = count_forwards(encoder)
    first = encode_image_files(images, encoder, batch_size=2, progress=False)
    assert calls == [2, 1]
    for path in images:
        key = image_key(encoder.name, path.read_bytes())
        assert (feature_cache_dir(encoder) / key[:2] / f"{key}.npy").is_file()
    assert not list(cache.rglob(".tmp-*"))

    calls.clear()
    again = encode_image_files(list(reversed(images)), encoder, progress=False)
    assert calls == []
    np.testing.assert_array_equal(again, first[::-1])

    new = write_image(tmp_path / "blue.png", "RGB", (10, 10), (0, 0, 255))
    encode_image_files([*images, new], encoder, progress=False)
    assert calls == [1]  # only the new image


def test_cache_is_keyed_by_content_and_encoder(cache, encoder, images, tmp_path):
    copy = tmp_path / "copy_of_red.png"
    copy.write_bytes(images[0].read_bytes())
    calls = count_forwards(encoder)
    features = encode_image_files([images[0], copy], encoder, progress=False)
    assert calls == [1]  # identical bytes are encoded once
    np.testing.assert_array_equal(features[0], features[1])

    encoder.name = "another-encoder"
    encode_image_files([images[0]], encoder, progress=False)
    assert calls == [1, 1]
    assert image_key("a", b"x") != image_key("b", b"x") != image_key("a", b"y")


def test_alpha_is_composited_onto_white(cache, encoder, tmp_path):
    transparent = write_image(tmp_path / "transparent.png", "RGBA", (12, 12), (255, 0, 0, 0))
    white = write_image(tmp_path / "white.png", "RGB", (12, 12), (255, 255, 255))
    black = write_image(tmp_path / "black.png", "RGB", (12, 12), (0, 0, 0))
    features = encode_image_files([transparent, white, black], encoder, progress=False)
    np.testing.assert_allclose(features[0], features[1], atol=1e-6)
    assert np.abs(features[0] - features[2]).mean() > 0.1


def test_missing_file_names_it(cache, encoder, tmp_path):
    with pytest.raises(InputError, match="nope.png"):
        encode_image_files([tmp_path / "nope.png"], encoder, progress=False)


def test_training_mode_is_restored(cache, encoder, images):
    encoder.train()
    single = encode_image_files(images[:1], encoder, progress=False)
    assert encoder.training
    encoder.eval()
    with torch.inference_mode():
        expected = encoder(encoder.preprocess(open_rgb(images[0]))[None]).numpy()
    np.testing.assert_allclose(single, expected, rtol=1e-3, atol=1e-3)  # encoded in eval mode
