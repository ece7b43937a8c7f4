"""``--dataset captions``: a folder of images + captions.tsv, its groups and split, and each kind of bad input."""

import json

import numpy as np
import pytest

from optical.data import (
    captions_bitext,
    captions_retrieval_set,
    evaluation_sets,
    evaluation_split,
    iter_bitext,
    load_captions,
    split_of,
)
from optical.errors import InputError
from tests.fakes import captions_rows, run_data_command


def test_groups_split_and_several_captions(tmp_path, write_captions):
    root = write_captions(tmp_path / "c", captions_rows(40))
    ds = load_captions(root)
    assert len(ds.images) == 40 and len(ds.rows) == 160 and not ds.has_split
    first, second = ds.images[0], ds.images[1]
    assert first.group == second.group == "a picture of thing 0 | thing 0"  # group keys ignore case
    assert first.split == second.split == split_of(first.group)
    assert load_captions(root).images == ds.images  # deterministic
    assert {image.split for image in ds.images} == {"train", "val", "test"}
    assert ds.caption_counts() == {"de": 40, "fr": 40}

    everything = captions_retrieval_set(ds, "en", split=None)
    assert len(everything.image_paths) == 40 and len(everything.captions) == 80
    # both English captions of an image point at it; images 0 and 1 are one group
    assert list(everything.caption_image[:4]) == [0, 0, 1, 1]
    assert everything.image_groups[0] == everything.image_groups[1] != everything.image_groups[2]
    test = captions_retrieval_set(ds, "de", split="test")
    assert all(ds.images[0].path != p or ds.images[0].split == "test" for p in test.image_paths)
    assert len(test.captions) == sum(image.split == "test" for image in ds.images)
    assert evaluation_split("captions", ds) is None
    assert len(evaluation_sets("captions", ["de"], root)["de"].captions) == 40


def test_split_column_and_bitext(tmp_path, write_captions):
    rows = [("a.png", "en", "A cat.", "train"), ("a.png", "en", "A small cat.", "train"),
            ("a.png", "de", "Eine Katze.", "train"), ("a.png", "de", "Kleine Katze.", "train"),
            ("a.png", "de", "Katze.", "train"), ("b.png", "EN", "A dog.", "test"),
            ("b.png", "pt_BR", "Um cão.", "test")]
    root = write_captions(tmp_path / "c", rows, header="image\tlang\tcaption\tsplit")
    ds = load_captions(root)
    assert ds.has_split and [i.split for i in ds.images] == ["train", "test"]
    assert evaluation_split("captions", ds) == "test"
    assert captions_bitext(ds, "de") == [("A cat.", "Eine Katze."), ("A small cat.", "Kleine Katze."),
                                         ("A cat.", "Katze.")]
    assert list(iter_bitext(f"captions:{root}", "de")) == captions_bitext(ds, "de")
    test = captions_retrieval_set(ds, "pt-BR", split="test")
    assert test.captions == ["Um cão."] and np.array_equal(test.caption_image, [0])
    # evaluation rows (the test split): de has no captions there, pt-BR does; available_only reads what they have
    with pytest.raises(InputError, match="no captions in de"):
        evaluation_sets("captions", ["en", "de"], root)
    assert list(evaluation_sets("captions", ["en", "de", "pt", "pt_BR"], root, available_only=True)) == ["en", "pt-BR"]


def test_data_stats_cli(tmp_path, write_captions, capsys):
    root = write_captions(tmp_path / "c", captions_rows(12, ("de", "lkt")))
    assert run_data_command("data", "stats", "--dataset", "captions", "--root", str(root), "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert sum(s["images"] for s in stats["splits"].values()) == 12
    assert stats["languages"]["lkt"]["resource_group"] == "unseen" and stats["languages"]["lkt"]["name"] == "Lakota"
    assert sum(stats["languages"]["en"][s] for s in ("train", "val", "test")) == 24
    run_data_command("data", "stats", "--dataset", "captions", "--root", str(root))
    assert "2 languages besides English" in capsys.readouterr().out


def _error(root) -> InputError:
    with pytest.raises(InputError) as err:
        load_captions(root)
    return err.value


GOOD = [("a.png", "en", "A cat."), ("a.png", "de", "Eine Katze.")]


@pytest.mark.parametrize("case, expect, line", [
    ("no header", "missing header column(s) ['image', 'lang', 'caption']", 1),
    ("missing column", "missing header column(s) ['caption']", 1),
    ("unknown column", "unknown column(s) ['note']", 1),
    ("field count", "expected 3 tab-separated fields", 4),
    ("unknown locale", "unknown language code 'english'", 4),
    ("absent image", "image 'b.png' not found", 4),
    ("undecodable image", "image 'a.png': cannot decode image", 2),
    ("no english", "image 'b.png' has a de caption but no English (en) caption", 4),
    ("bad split", "unknown split 'dev'", 2),
    ("empty caption", "empty caption", 4),
])
def test_bad_input_names_file_and_line(tmp_path, write_captions, case, expect, line):
    root = tmp_path / "c"
    header = "image\tlang\tcaption"
    rows = list(GOOD)
    images = None
    if case == "no header":
        header = None
    elif case == "missing column":
        header = "image\tlang"
    elif case == "unknown column":
        header = "image\tlang\tcaption\tnote"
    elif case == "field count":
        rows.append(("a.png", "fr"))
    elif case == "unknown locale":
        rows.append(("a.png", "english", "A cat"))
    elif case == "absent image":
        rows.append(("b.png", "en", "A dog."))
        images = ["a.png"]
    elif case == "no english":
        rows.append(("b.png", "de", "Ein Hund."))
    elif case == "bad split":
        header += "\tsplit"
        rows = [(*GOOD[0], "dev")]
    elif case == "empty caption":
        rows.append(("a.png", "fr", " "))
    write_captions(root, rows, header=header, images=images)
    if case == "undecodable image":
        (root / "images" / "a.png").write_bytes(b"not a png")
    err = _error(root)
    assert expect in err.message, err.message
    assert err.path == root / "captions.tsv" and err.line == line
    assert str(err).startswith(f"{root / 'captions.tsv'}:{line}: ")


def test_empty_and_non_utf8_and_missing_files(tmp_path, write_captions):
    root = write_captions(tmp_path / "c", GOOD)
    (root / "captions.tsv").write_bytes(b"")
    err = _error(root)
    assert "empty file" in err.message and err.path == root / "captions.tsv"
    (root / "captions.tsv").write_bytes(b"image\tlang\tcaption\n")
    assert "no caption lines" in _error(root).message
    (root / "captions.tsv").write_bytes(b"image\tlang\tcaption\na.png\ten\tA caf\xe9.\n")
    err = _error(root)
    assert "not valid UTF-8" in err.message and err.line == 2
    (root / "captions.tsv").unlink()
    assert "file not found" in _error(root).message
    assert "captions folder not found" in _error(tmp_path / "nowhere").message
