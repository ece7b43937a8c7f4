"""Caption parsing, the prepared dataset, idempotence and atomicity of ``prepare_stamps``."""

import json
import re
import os
import stat
from collections import Counter

import pytest

import optical.data._stamps as stamps_module
from optical.data import caption_key, load_stamps, parse_caption_file, prepare_stamps
from optical.errors import InputError, MissingAssetError


def test_parse_caption_file_variants():
    text = ("\ufeffA frog.\n\n# comment\nde.utf8=Ein  Frosch.\nfr=Une grenouille.\nde.utf8=Zweiter\n"
            "pt_BR.utf8=Um sapo.\nsr@latin.utf8=Žaba.\nen_GB.utf8=A frog.\nga.utf8=a frog\nxq.utf8=?\nit.utf8=\n"
            "calc.utf8=x\n")
    parsed = parse_caption_file(text, "frog.txt")
    assert parsed.english == "A frog."
    assert parsed.translations == {"de": "Ein Frosch.", "fr": "Une grenouille.", "pt-BR": "Um sapo.",
                                   "sr-Latn": "Žaba."}
    assert parsed.untranslated == ["ga"]
    assert parsed.unknown_locales == ["xq.utf8", "calc.utf8"]


def test_caption_containing_equals_sign():
    parsed = parse_caption_file("A calculator. 6x7=42\nde.utf8=Ein Rechner. 6x7=42\n", "calc.txt")
    assert parsed.english == "A calculator. 6x7=42"
    assert parsed.translations == {"de": "Ein Rechner. 6x7=42"}


@pytest.mark.parametrize("text, line", [("A frog.\nde.utf8 Ein Frosch\n", 2), ("A frog.\n\nthis line = bad\n", 3)])
def test_malformed_caption_line_names_file_and_line(text, line):
    with pytest.raises(InputError, match=f"frog.txt:{line}: expected '<locale>.utf8=<caption>'"):
        parse_caption_file(text, "frog.txt")


def test_empty_caption_file():
    with pytest.raises(InputError, match="x.txt: empty caption file"):
        parse_caption_file("\n# only a comment\n", "x.txt")


def test_caption_key_ignores_case_spacing_and_surrounding_punctuation():
    assert caption_key("A  coin.") == caption_key("A coin") == caption_key("a coin") == "a coin"
    assert caption_key("The letter C.") == caption_key("The letter c.") == caption_key("«the letter c»")
    assert caption_key("Mr. Frog!") == "mr. frog"  # punctuation inside is kept
    assert caption_key("A coin") != caption_key("A coin 2")
    assert caption_key("青蛙。") == "青蛙"


def test_prepared_dataset(stamps):
    by_id = {s.stamp_id: s for s in stamps.stamps}
    assert len(by_id) == 64  # 60 generated + frog + 2 coins + calculator
    frog = by_id["animals/frog"]
    assert frog.captions == {"en": "A frog.", "de": "Ein Frosch.", "fr": "Une grenouille.", "pt-BR": "Um sapo.",
                             "sr-Latn": "Žaba.", "ca-valencia": "Una granota.", "ja": "カエル"}
    assert frog.image == stamps.root / "images" / "animals" / "frog.png" and frog.image.is_file()
    assert stamps.skipped == {"svg_only_stamps": 1, "captions_without_image": 1, "pngs_without_caption": 1}
    assert stamps.dropped_untranslated == {"ga": 2}
    assert stamps.unknown_locales == {"xq.utf8": 1}
    assert stamps.source["package"] == "tuxpaint-stamps-default"
    assert not (stamps.root / "images" / "coins" / "coin-2_mirror.png").exists()
    assert by_id["coins/coin-1"].group == by_id["coins/coin-2"].group == "a coin"


def test_languages_and_counts(stamps):
    assert stamps.languages() == ["ca-valencia", "de", "fr", "ja", "pt-BR", "sr-Latn"]
    assert stamps.languages(min_captions=10) == ["de", "fr"]
    assert stamps.caption_counts()["de"] == 64
    assert sum(stamps.caption_counts(split)["de"] for split in ("train", "val", "test")) == 64
    with pytest.raises(InputError, match="unknown split"):
        stamps.split("dev")


def test_second_run_does_nothing_and_says_so(cache, fake_deb, capsys, monkeypatch):
    root = prepare_stamps(fake_deb, progress=True)
    assert "prepared" in capsys.readouterr().err
    manifest = root / "manifest.json"
    before = manifest.stat().st_mtime_ns
    monkeypatch.setattr(stamps_module, "_build", None)  # only the package's control file is read again
    assert prepare_stamps(fake_deb, progress=True) == root
    assert "already prepared" in capsys.readouterr().err
    assert manifest.stat().st_mtime_ns == before


def test_interrupted_run_leaves_nothing_that_looks_complete(cache, fake_deb, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    manifest = stamps_module._manifest
    monkeypatch.setattr(stamps_module, "_manifest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_stamps(fake_deb, progress=False)
    assert not (cache / "stamps").exists()
    assert not list(cache.rglob("manifest.json"))
    with pytest.raises(MissingAssetError, match="optical prepare"):
        load_stamps()
    monkeypatch.setattr(stamps_module, "_manifest", manifest)
    prepare_stamps(fake_deb, progress=False)
    assert len(load_stamps().stamps) == 64


def test_outdated_manifest_is_rebuilt(cache, fake_deb):
    root = prepare_stamps(fake_deb, progress=False)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["format"] = -1
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(MissingAssetError, match="outdated"):
        load_stamps()
    prepare_stamps(fake_deb, progress=False)
    assert len(load_stamps().stamps) == 64


def test_load_without_prepare(cache):
    with pytest.raises(MissingAssetError, match="run `python -m optical prepare`"):
        load_stamps()


def _fake_apt_get(folder, script: str) -> None:
    apt = folder / "apt-get"
    apt.write_text("#!/bin/sh\n" + script)
    apt.chmod(apt.stat().st_mode | stat.S_IEXEC)


def test_apt_get_download_is_used_by_default(cache, fake_deb, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_apt_get(bin_dir, f'[ "$1 $2" = "download tuxpaint-stamps-default" ] && cp {fake_deb} "$PWD/"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    prepare_stamps(progress=False)
    assert len(load_stamps().stamps) == 64


def test_apt_get_without_package_lists(cache, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_apt_get(bin_dir, 'echo "E: Unable to locate package tuxpaint-stamps-default" >&2\nexit 100\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(MissingAssetError, match="apt-get update.*--stamps-deb"):
        prepare_stamps(progress=False)


def test_no_apt_get(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingAssetError, match="apt-get is not available.*--stamps-deb"):
        prepare_stamps(progress=False)


def test_split_keeps_groups_together_and_is_disjoint(stamps):
    splits = {name: stamps.split(name) for name in ("train", "val", "test")}
    ids = [s.stamp_id for members in splits.values() for s in members]
    assert len(ids) == len(set(ids)) == len(stamps.stamps)
    group_splits = {}
    for name, members in splits.items():
        for s in members:
            assert group_splits.setdefault(s.group, name) == name
    assert Counter(s.split for s in stamps.stamps).keys() == {"train", "val", "test"}


def _truncate(path):
    path.write_bytes(path.read_bytes()[:10])


def _overwrite_same_size_keep_mtime(path):
    info = path.stat()
    path.write_bytes(b"\xff" * info.st_size)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # only a full hash can see this one


def _edit_caption(root):
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["stamps"][0]["captions"]["de"] = "Bearbeitet."
    (root / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage, found", [
    (lambda root: _truncate(root / "images/animals/frog.png"), r"frog.png: 10 bytes, expected \d+ \(truncated"),
    (lambda root: (root / "images/animals/frog.png").unlink(), "frog.png: missing"),
    (lambda root: _overwrite_same_size_keep_mtime(root / "images/animals/frog.png"), "frog.png: content changed"),
    (_edit_caption, "manifest.json: captions or split edited"),
])
def test_prepare_rebuilds_a_damaged_dataset_saying_what_it_found(cache, fake_deb, capsys, damage, found):
    root = prepare_stamps(fake_deb, progress=False)
    intact = (root / "manifest.json").read_text()
    damage(root)
    prepare_stamps(fake_deb, progress=False)
    err = capsys.readouterr().err
    assert "damaged dataset" in err and "rebuilding" in err
    assert re.search(found, err)
    assert stamps_module.find_damage(root, json.loads((root / "manifest.json").read_text())) == []
    assert json.loads((root / "manifest.json").read_text())["stamps"] == json.loads(intact)["stamps"]
    assert len(load_stamps().stamps) == 64


@pytest.mark.parametrize("damage, found", [
    (lambda root: _truncate(root / "images/animals/frog.png"), "frog.png: 10 bytes"),
    (lambda root: (root / "images/animals/frog.png").unlink(), "frog.png: missing"),
    (lambda root: (root / "images/animals/frog.png").write_bytes(b"\xff" * (root / "images/animals/frog.png")
                                                                 .stat().st_size), "frog.png: content changed"),
    (_edit_caption, "manifest.json: captions or split edited"),
])
def test_loading_a_damaged_dataset_names_the_file(cache, fake_deb, damage, found):
    root = prepare_stamps(fake_deb, progress=False)
    damage(root)
    with pytest.raises(MissingAssetError, match=f"{found}.*damaged; run `python -m optical prepare`"):
        load_stamps()
