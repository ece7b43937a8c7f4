"""The real Multi30k text files (``../shared/multi30k`` from the repository root, or ``OPTICAL_MULTI30K``): the
dataset's own counts, the bitext, and the loader's errors on damaged copies. Skipped when the folder is absent."""

import gzip
import os
import shutil
from pathlib import Path

import pytest

from optical.data import iter_bitext, load_multi30k, multi30k_stats
from optical.errors import InputError

ROOT = Path(os.environ.get("OPTICAL_MULTI30K") or Path(__file__).resolve().parents[2].parent / "shared" / "multi30k")
pytestmark = pytest.mark.skipif(not (ROOT / "data" / "task1" / "raw").is_dir(),
                                reason=f"real Multi30k text not found in {ROOT} (set OPTICAL_MULTI30K)")


@pytest.fixture(scope="module")
def stats():
    return multi30k_stats(ROOT)


def test_task1_counts(stats):
    task1 = stats["tasks"]["1"]
    assert {split: s["images"] for split, s in task1["splits"].items()} == {
        "train": 29000, "val": 1014, "test_2016_flickr": 1000, "test_2017_flickr": 1000,
        "test_2017_mscoco": 461, "test_2018_flickr": 1071,
    }
    languages = task1["languages"]
    assert set(languages) == {"en", "de", "fr", "cs"}
    for lang in ("en", "de", "fr", "cs"):
        assert languages[lang]["train"] == 29000 and languages[lang]["val"] == 1014
        assert languages[lang]["test_2016_flickr"] == 1000
    assert languages["cs"]["test_2017_flickr"] == languages["cs"]["test_2017_mscoco"] == 0
    assert languages["de"]["test_2017_mscoco"] == 461
    assert not any(s["images_exist"] for s in task1["splits"].values())


def test_task2_counts(stats):
    task2 = stats["tasks"]["2"]
    assert task2["splits"]["train"]["images"] == 29000
    assert task2["languages"]["de"]["test_2016"] == 5000


@pytest.mark.parametrize("language", ["de", "fr", "cs"])
def test_bitext_loads(language):
    pairs = list(iter_bitext(f"multi30k:{ROOT}", language))
    assert 28500 <= len(pairs) <= 29000  # 29k lines, a few duplicate pairs removed
    words = sum(len(en.split()) for en, _ in pairs) / len(pairs)
    assert 11 <= words <= 14  # the README's 13.0 English words per sentence, before the 64-word cap
    assert pairs[0][0].startswith("Two young") and pairs[0][1]


def _copy(tmp_path: Path) -> Path:
    """A copy of task 1's val split (all languages) and its image list."""
    root = tmp_path / "m30k"
    for sub in ("raw", "image_splits"):
        (root / "data" / "task1" / sub).mkdir(parents=True)
    shutil.copy(ROOT / "data/task1/image_splits/val.txt", root / "data/task1/image_splits/val.txt")
    for lang in ("en", "de", "fr", "cs"):
        shutil.copy(ROOT / f"data/task1/raw/val.{lang}.gz", root / f"data/task1/raw/val.{lang}.gz")
    return root


def _rewrite(path: Path, edit) -> None:
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    path.write_bytes(gzip.compress(b"\n".join(edit(lines))))


def test_copy_loads(tmp_path):
    data = load_multi30k(_copy(tmp_path), split="val")
    assert len(data.image_names) == 1014 and set(data.captions) == {"en", "de", "fr", "cs"}


def test_missing_line_names_the_file(tmp_path):
    root = _copy(tmp_path)
    de = root / "data/task1/raw/val.de.gz"
    _rewrite(de, lambda lines: lines[:500] + lines[501:])
    with pytest.raises(InputError, match="1013 lines, but the image list") as err:
        load_multi30k(root, split="val")
    assert err.value.path == de
    pairs = iter_bitext(f"multi30k:{root}", "de", split="val")
    with pytest.raises(InputError, match="not aligned") as err:
        list(pairs)
    assert err.value.path == root / "data/task1/raw/val.en.gz" and err.value.line == 1014


def test_bad_utf8_names_file_and_line(tmp_path):
    root = _copy(tmp_path)
    fr = root / "data/task1/raw/val.fr.gz"
    _rewrite(fr, lambda lines: lines[:41] + [b"Un chien \xff\xfe."] + lines[42:])
    with pytest.raises(InputError, match="not valid UTF-8") as err:
        load_multi30k(root, split="val")
    assert err.value.path == fr and err.value.line == 42
    assert str(err.value).startswith(f"{fr}:42: ")


def test_missing_files_are_named(tmp_path):
    root = _copy(tmp_path)
    (root / "data/task1/raw/val.cs.gz").unlink()
    with pytest.raises(InputError, match="split 'val' has no cs captions") as err:
        load_multi30k(root, split="val", languages=["cs"])
    assert err.value.path == root / "data/task1/raw"
    (root / "data/task1/image_splits/val.txt").unlink()
    with pytest.raises(InputError, match="image list of split 'val' not found") as err:
        load_multi30k(root, split="val")
    assert err.value.path == root / "data/task1/image_splits/val.txt"
