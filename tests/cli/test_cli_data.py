"""``python -m optical data stats`` for stamps and Multi30k."""

import json

import pytest

from optical.cli import main
from optical.cli.data import format_table
from optical.errors import InputError, MissingAssetError
from tests.fakes import run_data_command


def test_stamps_stats_json(stamps, capsys):
    assert run_data_command("data", "stats", "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert sum(s["images"] for s in stats["splits"].values()) == 64
    de = stats["languages"]["de"]
    assert de["train"] + de["val"] + de["test"] == 64 and de["resource_group"] == "high"
    assert stats["languages"]["ga"]["dropped_untranslated"] == 2


def test_stamps_stats_table(stamps, capsys):
    run_data_command("data", "stats")
    out = capsys.readouterr().out
    assert "64 images" in out and "1 svg only stamps" in out
    assert "7 languages besides English, 0 with >= 500 captions; 2 untranslated captions dropped" in out
    assert any(line.split()[:3] == ["de", "high", "66.6"] for line in out.splitlines())


def test_stamps_stats_before_prepare(cache):
    with pytest.raises(MissingAssetError, match="optical prepare"):
        run_data_command("data", "stats")


def test_multi30k_stats(multi30k, capsys):
    root, images = multi30k
    run_data_command("data", "stats", "--dataset", "multi30k", "--root", str(root), "--images", str(images))
    out = capsys.readouterr().out
    assert "task 1" in out and "task 2" in out
    run_data_command("data", "stats", "--dataset", "multi30k", "--root", str(root), "--json")
    splits = json.loads(capsys.readouterr().out)["tasks"]["1"]["splits"]
    assert splits["train"] == {"images": 6, "images_exist": False}


def test_multi30k_needs_root():
    with pytest.raises(InputError, match="needs --root"):
        run_data_command("data", "stats", "--dataset", "multi30k")


def test_format_table_aligns():
    table = format_table(["name", "n", "gib"], [["de", 5, 66.6], ["son", 12, None]])
    assert table.splitlines() == ["name   n   gib", "----  --  ----", "de     5  66.6", "son   12     -"]


def test_blank_caption_lines_are_warned_about_and_counted(multi30k, capsys):
    root, _ = multi30k
    captions = root / "data/task1/raw/test_2016_flickr.de"
    captions.write_text("de caption 0\n\nde caption 2\n   \n")
    assert main(["data", "stats", "--dataset", "multi30k", "--root", str(root)]) == 0
    out, err = capsys.readouterr()
    assert f"warning: {captions}: 2 blank caption line(s) (line 2, 4) skipped: those images have no de query" in err
    assert f"blank caption lines (not counted, no query): {captions} (2: line 2, 4)" in out
    assert "not checked" in out
    main(["data", "stats", "--dataset", "multi30k", "--root", str(root), "--json"])
    task1 = json.loads(capsys.readouterr().out)["tasks"]["1"]
    assert task1["languages"]["de"]["test_2016_flickr"] == 2 and task1["languages"]["fr"]["test_2016_flickr"] == 4
    assert task1["blank_lines"] == {str(captions): [2, 4]}


def test_prepare_checks_the_stamps_deb_even_when_the_stamps_are_prepared(stamps, tmp_path, make_deb, stamp_files,
                                                                          capsys):
    other = make_deb(tmp_path / "other.deb", stamp_files(2), package="tuxpaint-stamps-extra")
    assert main(["prepare", "--stamps-deb", str(other), "--skip-images"]) == 2
    assert f"error: {other}: this is the package 'tuxpaint-stamps-extra'" in capsys.readouterr().err
