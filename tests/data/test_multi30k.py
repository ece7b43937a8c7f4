"""Multi30k in the official layout, and every bad case named by file and line."""

import gzip

import numpy as np
import pytest

from optical.data import caption_files, load_multi30k, multi30k_retrieval_set, multi30k_stats, open_rgb
from optical.errors import DataWarning, InputError


def test_caption_files_plain_and_gz(multi30k):
    root, _ = multi30k
    files = caption_files(root)
    assert sorted(files) == ["test_2016_flickr", "test_2017_mscoco", "train", "val"]
    assert sorted(files["train"]) == ["cs", "de", "en", "fr"]
    assert files["train"]["de"][0].name == "train.de.gz"
    assert files["val"]["de"][0].name == "val.de"
    task2 = caption_files(root, task=2)
    assert [p.name for p in task2["test_2016"]["en"]] == [f"test_2016.{k}.en.gz" for k in range(1, 6)]


def test_load_task1(multi30k):
    root, images = multi30k
    data = load_multi30k(root, "test_2016_flickr", images=images)
    assert data.image_names == [f"test_2016_flickr_{i}.jpg" for i in range(4)]
    assert sorted(data.captions) == ["cs", "de", "en", "fr"]
    assert data.captions["de"][2] == ["de caption 2 of test_2016_flickr"]
    assert data.image_paths()[0] == images / "test_2016_flickr_0.jpg"


def test_load_task2_five_captions(multi30k):
    root, images = multi30k
    data = load_multi30k(root, "test_2016", task=2, languages=["de"], images=images)
    assert list(data.captions) == ["de"]
    assert data.captions["de"][1] == [f"de description {k} of image 1" for k in range(1, 6)]


def test_text_only_without_images(multi30k):
    root, _ = multi30k
    data = load_multi30k(root, "train", languages=["en", "fr"])
    assert len(data.captions["fr"]) == 6 and data.images_dir is None
    with pytest.raises(InputError, match="without an image folder"):
        data.image_paths()


def test_retrieval_sets(multi30k):
    root, images = multi30k
    task1 = multi30k_retrieval_set(root, images, "cs")
    assert task1.language == "cs" and len(task1.image_paths) == 4 and len(task1.captions) == 4
    np.testing.assert_array_equal(task1.caption_image, np.arange(4))
    np.testing.assert_array_equal(task1.image_groups, np.arange(4))
    task2 = multi30k_retrieval_set(root, images, "de", split="test_2016", task=2)
    assert len(task2.captions) == 15
    np.testing.assert_array_equal(task2.caption_image, np.repeat(np.arange(3), 5))
    assert open_rgb(task2.image_paths[0]).size == (4, 4)


def test_repeated_image_is_one_group(multi30k):
    root, images = multi30k
    split_file = root / "data/task1/image_splits/val.txt"
    split_file.write_text("val_0.jpg\nval_1.jpg\nval_0.jpg\n")
    data = multi30k_retrieval_set(root, images, "en", split="val")
    np.testing.assert_array_equal(data.image_groups, [0, 1, 0])


def test_stats(multi30k):
    root, images = multi30k
    stats = multi30k_stats(root, images=images)
    assert stats["tasks"]["1"]["splits"] == {
        "test_2016_flickr": {"images": 4, "images_exist": True},
        "test_2017_mscoco": {"images": 1, "images_exist": False},
        "train": {"images": 6, "images_exist": True},
        "val": {"images": 3, "images_exist": True},
    }
    assert stats["tasks"]["1"]["languages"]["cs"] == {"name": "Czech", "resource_group": "high", "cc100_gib": 16.3,
                                                      "train": 6, "val": 3, "test_2016_flickr": 4,
                                                      "test_2017_mscoco": 0}
    assert stats["tasks"]["2"]["languages"]["de"]["test_2016"] == 15
    assert "cs" not in stats["tasks"]["2"]["languages"]


def test_coco_image_names_drop_the_caption_id(multi30k):
    root, _ = multi30k
    data = load_multi30k(root, "test_2017_mscoco")
    assert data.image_names == ["COCO_val2014_000000000042.jpg"]
    assert sorted(data.captions) == ["de", "en", "fr"]


def test_stats_without_task2(multi30k):
    root, _ = multi30k
    for path in sorted((root / "data/task2").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (root / "data/task2").rmdir()
    assert list(multi30k_stats(root)["tasks"]) == ["1"]


# Bad input -----------------------------------------------------------------------------------------------------


def test_missing_root(tmp_path):
    with pytest.raises(InputError, match="nothing: Multi30k root not found"):
        load_multi30k(tmp_path / "nothing")


def test_root_without_layout(tmp_path):
    with pytest.raises(InputError, match="data/task1/raw is missing"):
        load_multi30k(tmp_path)


def test_unknown_split(multi30k):
    root, _ = multi30k
    with pytest.raises(InputError, match="no caption files for split 'test_2099'.*found: test_2016_flickr"):
        load_multi30k(root, "test_2099")


def test_missing_image_list(multi30k):
    root, _ = multi30k
    (root / "data/task1/image_splits/val.txt").unlink()
    with pytest.raises(InputError, match=r"image_splits/val.txt: image list of split 'val' not found"):
        load_multi30k(root, "val")


def test_missing_task2_caption_file(multi30k):
    root, _ = multi30k
    (root / "data/task2/raw/val.3.de.gz").unlink()
    with pytest.raises(InputError, match=r"split 'val', language de: caption file\(s\) \[3\] missing"):
        load_multi30k(root, "val", task=2)


def test_line_count_disagrees_with_image_list(multi30k):
    root, _ = multi30k
    (root / "data/task1/raw/val.fr").write_text("one\ntwo\n")
    with pytest.raises(InputError, match=r"raw/val.fr: 2 lines, but the image list .*image_splits/val.txt has 3"):
        load_multi30k(root, "val")


def test_non_utf8_text_names_file_and_line(multi30k):
    root, _ = multi30k
    (root / "data/task1/raw/train.de.gz").write_bytes(gzip.compress("gut\nGr\xf6\xdfe\n".encode("latin-1")))
    with pytest.raises(InputError, match=r"train.de.gz:2: not valid UTF-8"):
        load_multi30k(root, "train")


def test_corrupt_gzip(multi30k):
    root, _ = multi30k
    (root / "data/task1/raw/train.en.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(InputError, match=r"train.en.gz: cannot read file"):
        load_multi30k(root, "train")


def test_unknown_language_suffix(multi30k):
    root, _ = multi30k
    (root / "data/task1/raw/val.xx").write_text("a\nb\nc\n")
    with pytest.raises(InputError, match=r"raw/val.xx: caption file with unknown language code 'xx'"):
        load_multi30k(root, "val")


def test_unknown_language_requested(multi30k):
    root, _ = multi30k
    with pytest.raises(InputError, match="unknown language code 'xx-QQ'"):
        load_multi30k(root, "val", languages=["xx-QQ"])
    with pytest.raises(InputError, match="split 'val' has no es captions"):
        load_multi30k(root, "val", languages=["es"])


def test_missing_image_names_list_and_line(multi30k):
    root, images = multi30k
    (images / "val_1.jpg").unlink()
    with pytest.raises(InputError, match=r"image_splits/val.txt:2: image .*val_1.jpg not found"):
        load_multi30k(root, "val", images=images)


def test_missing_image_folder(multi30k, tmp_path):
    root, _ = multi30k
    with pytest.raises(InputError, match="nope: image folder not found"):
        load_multi30k(root, "val", images=tmp_path / "nope")


def test_corrupt_image_is_named_when_opened(multi30k):
    root, images = multi30k
    (images / "test_2016_flickr_3.jpg").write_bytes(b"\xff\xd8\xff garbage")
    data = multi30k_retrieval_set(root, images, "en")
    with pytest.raises(InputError, match="test_2016_flickr_3.jpg: cannot decode image"):
        open_rgb(data.image_paths[3])


def test_empty_image_name(multi30k):
    root, _ = multi30k
    (root / "data/task1/image_splits/val.txt").write_text("val_0.jpg\n\nval_2.jpg\n")
    with pytest.raises(InputError, match="val.txt:2: empty image name"):
        load_multi30k(root, "val")


def test_unknown_task(multi30k):
    root, _ = multi30k
    with pytest.raises(InputError, match="unknown Multi30k task 3"):
        load_multi30k(root, task=3)


def test_blank_caption_lines_keep_their_image_and_are_warned_about(multi30k):
    root, images = multi30k
    captions = root / "data/task1/raw/test_2016_flickr.de"
    captions.write_text("de caption 0\n\nde caption 2\nde caption 3\n")
    with pytest.warns(DataWarning, match=r"test_2016_flickr.de: 1 blank caption line\(s\) \(line 2\) skipped"):
        data = multi30k_retrieval_set(root, images, "de")
        split = load_multi30k(root, languages=["de"])
    assert data.captions == ["de caption 0", "de caption 2", "de caption 3"]
    np.testing.assert_array_equal(data.caption_image, [0, 2, 3])
    assert split.blank_lines == {captions: [2]}
