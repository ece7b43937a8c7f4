"""The pure-Python .deb reader and the checks on the package given with --stamps-deb."""

import pytest

from optical.data import load_stamps, prepare_stamps
from optical.data._deb import ar_members, iter_files, read_control
from optical.errors import InputError


def test_ar_members_and_control(fake_deb):
    names = [m.name for m in ar_members(fake_deb)]
    assert names == ["debian-binary", "control.tar.xz", "data.tar.xz"]
    control = read_control(fake_deb)
    assert control["Package"] == "tuxpaint-stamps-default" and control["Version"] == "1.0-test"


@pytest.mark.parametrize("member", ["data.tar.xz", "data.tar.gz", "data.tar"])
def test_iter_files_reads_each_compression(tmp_path, member, make_deb):
    deb = make_deb(tmp_path / "x.deb", {"usr/a.txt": b"hello", "usr/b.bin": b"skip me"}, data_member=member)
    seen = []
    files = dict(iter_files(deb, "data", lambda name: name.endswith(".txt"), on_read=seen.append))
    assert files == {"usr/a.txt": b"hello"}
    assert sum(seen) == next(m.size for m in ar_members(deb) if m.name == member)


def test_odd_sized_members_are_padded(tmp_path, ar_archive):
    deb = tmp_path / "odd.deb"
    deb.write_bytes(ar_archive([("a", b"123"), ("b", b"45")]))
    assert [(m.name, m.size) for m in ar_members(deb)] == [("a", 3), ("b", 2)]


def test_not_an_ar_archive(cache, tmp_path):
    deb = tmp_path / "fake.deb"
    deb.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(InputError, match="fake.deb: not a Debian package"):
        prepare_stamps(deb, progress=False)
    assert not (cache / "stamps").exists()


def test_other_package_is_refused(cache, tmp_path, make_deb, stamp_files):
    deb = make_deb(tmp_path / "other.deb", stamp_files(2), package="tuxpaint-stamps-extra")
    with pytest.raises(InputError, match="other.deb: this is the package 'tuxpaint-stamps-extra'"):
        prepare_stamps(deb, progress=False)


def test_package_without_stamps_is_refused(cache, tmp_path, make_deb, stamp_files):
    deb = make_deb(tmp_path / "empty.deb", {"usr/share/doc/x": b"doc"})
    with pytest.raises(InputError, match="empty.deb: no stamps under"):
        prepare_stamps(deb, progress=False)
    assert not (cache / "stamps").exists()


def test_zstd_data_member_is_explained(cache, tmp_path, make_deb, stamp_files):
    deb = make_deb(tmp_path / "z.deb", stamp_files(2), data_member="data.tar.zst")
    with pytest.raises(InputError, match="data.tar.zst uses a compression"):
        prepare_stamps(deb, progress=False)


def test_truncated_deb(cache, fake_deb, tmp_path):
    cut = tmp_path / "cut.deb"
    cut.write_bytes(fake_deb.read_bytes()[:-300])
    with pytest.raises(InputError, match="cut.deb: (truncated|corrupt)"):
        prepare_stamps(cut, progress=False)
    assert not (cache / "stamps").exists()


def test_corrupt_data_member(cache, tmp_path, make_deb, stamp_files):
    good = make_deb(tmp_path / "good.deb", stamp_files(2))
    data = bytearray(good.read_bytes())
    member = next(m for m in ar_members(good) if m.name == "data.tar.xz")
    data[member.offset + 100: member.offset + 140] = b"\xff" * 40
    bad = tmp_path / "bad.deb"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="bad.deb: corrupt data.tar.xz"):
        prepare_stamps(bad, progress=False)


def test_missing_deb_file(cache, tmp_path):
    with pytest.raises(InputError, match="nowhere.deb: file not found"):
        prepare_stamps(tmp_path / "nowhere.deb", progress=False)


def test_non_utf8_caption_file_is_named(cache, tmp_path, make_deb, stamp_files):
    files = stamp_files(2)
    files["usr/share/tuxpaint/stamps/generated/thing0.txt"] = "Ding\nde.utf8=Größe\n".encode("latin-1")
    deb = make_deb(tmp_path / "latin.deb", files)
    with pytest.raises(InputError, match=r"generated/thing0.txt: caption file is not valid UTF-8"):
        prepare_stamps(deb, progress=False)


def test_a_wrong_package_is_refused_when_the_stamps_are_prepared(cache, fake_deb, tmp_path, make_deb, stamp_files):
    prepare_stamps(fake_deb, progress=False)
    other = make_deb(tmp_path / "other.deb", stamp_files(2), package="tuxpaint-stamps-extra")
    with pytest.raises(InputError, match="other.deb: this is the package 'tuxpaint-stamps-extra'"):
        prepare_stamps(other, progress=False)
    not_a_deb = tmp_path / "notes.txt"
    not_a_deb.write_text("hello")
    with pytest.raises(InputError, match="notes.txt: not a Debian package"):
        prepare_stamps(not_a_deb, progress=False)
    with pytest.raises(InputError, match="nowhere.deb: file not found"):
        prepare_stamps(tmp_path / "nowhere.deb", progress=False)


def test_another_version_of_the_package_is_named_when_the_stamps_are_prepared(cache, fake_deb, tmp_path, capsys,
                                                                             make_deb, stamp_files):
    root = prepare_stamps(fake_deb, progress=False)
    assert prepare_stamps(fake_deb, progress=False) == root and capsys.readouterr().err == ""
    newer = make_deb(tmp_path / "newer.deb", stamp_files(2), version="2.0-test")
    assert prepare_stamps(newer, progress=False) == root
    said = capsys.readouterr().err
    assert f"{newer} is version 2.0-test, the dataset in {root} was built from 1.0-test: kept" in said
    assert len(load_stamps().stamps) == 64
