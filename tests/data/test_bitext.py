"""One bitext interface over stamps, Multi30k, TSV files and aligned file pairs."""

import pytest

from optical.data import iter_bitext
from optical.errors import InputError


def test_stamps_train_split(stamps):
    pairs = list(iter_bitext("stamps", "de"))
    train = stamps.split("train")
    assert pairs and len(pairs) <= len(train)
    assert set(pairs) <= {(s.captions["en"], s.captions["de"]) for s in train}
    test_pairs = set(iter_bitext("stamps", "de", split="test"))
    assert not test_pairs & set(pairs)


def test_stamps_locale_is_normalised(stamps):
    assert all(isinstance(p, tuple) for p in iter_bitext("stamps", "pt_BR", split="train"))


def test_multi30k_without_images(multi30k):
    root, images = multi30k
    images.rename(images.with_name("gone"))
    pairs = list(iter_bitext(f"multi30k:{root}", "fr"))
    assert pairs[0] == ("en caption 0 of train", "fr caption 0 of train")
    assert len(pairs) == 6


def test_multi30k_missing_language(multi30k):
    root, _ = multi30k
    with pytest.raises(InputError, match="no 'train' captions in es"):
        list(iter_bitext(f"multi30k:{root}", "es"))


def test_tsv_dedup_and_length_filter(tmp_path):
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("a red car\tein rotes Auto\n\na red car\tein  rotes Auto\none\tx y z w\n"
                   "\tleer\nlong " * 1 + "a b c d e f\tq\n", encoding="utf-8")
    assert list(iter_bitext(str(tsv), "de", max_words=4)) == [("a red car", "ein rotes Auto"), ("one", "x y z w")]
    assert list(iter_bitext(str(tsv), "de", min_words=2, max_words=3)) == [("a red car", "ein rotes Auto")]


def test_aligned_files(tmp_path):
    (tmp_path / "en.txt").write_text("hello\nworld\n")
    (tmp_path / "de.txt").write_text("hallo\nWelt\n")
    assert list(iter_bitext(f"{tmp_path / 'en.txt'},{tmp_path / 'de.txt'}", "de")) == [
        ("hello", "hallo"), ("world", "Welt")]


def test_misaligned_files_name_both(tmp_path):
    (tmp_path / "en.txt").write_text("hello\nworld\nagain\n")
    (tmp_path / "de.txt").write_text("hallo\nWelt\n")
    with pytest.raises(InputError, match=r"en.txt:3: has more lines than .*de.txt \(2\)"):
        list(iter_bitext(f"{tmp_path / 'en.txt'},{tmp_path / 'de.txt'}", "de"))


def test_empty_tsv(tmp_path):
    (tmp_path / "empty.tsv").write_text("\n\n")
    with pytest.raises(InputError, match="empty.tsv: empty TSV"):
        list(iter_bitext(str(tmp_path / "empty.tsv"), "de"))


def test_empty_aligned_files(tmp_path):
    (tmp_path / "en.txt").write_text("")
    (tmp_path / "de.txt").write_text("")
    with pytest.raises(InputError, match="en.txt: empty file"):
        list(iter_bitext(f"{tmp_path / 'en.txt'},{tmp_path / 'de.txt'}", "de"))


def test_tsv_line_without_tab(tmp_path):
    (tmp_path / "bad.tsv").write_text("a\tb\njust english\n")
    with pytest.raises(InputError, match=r"bad.tsv:2: expected 'english<TAB>foreign', found 1"):
        list(iter_bitext(str(tmp_path / "bad.tsv"), "de"))


def test_tsv_not_utf8(tmp_path):
    (tmp_path / "latin.tsv").write_bytes("size\tGr\xf6\xdfe\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin.tsv:1: not valid UTF-8"):
        list(iter_bitext(str(tmp_path / "latin.tsv"), "de"))


def test_unknown_language_and_source(tmp_path):
    (tmp_path / "x.tsv").write_text("a\tb\n")
    with pytest.raises(InputError, match="unknown language code 'xx-QQ'"):
        list(iter_bitext(str(tmp_path / "x.tsv"), "xx-QQ"))
    with pytest.raises(InputError, match="bitext source not found"):
        list(iter_bitext(str(tmp_path / "missing.tsv"), "de"))
    with pytest.raises(InputError, match="missing_en.txt: file not found"):
        list(iter_bitext(f"{tmp_path / 'missing_en.txt'},{tmp_path / 'x.tsv'}", "de"))


def test_bad_length_limits(tmp_path):
    (tmp_path / "x.tsv").write_text("a\tb\n")
    with pytest.raises(InputError, match="min_words <= max_words"):
        list(iter_bitext(str(tmp_path / "x.tsv"), "de", min_words=5, max_words=2))
