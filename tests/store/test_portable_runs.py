"""Run folders travel: a finished run in a moved cache (a renamed checkout, another machine) or copied to another
folder still reports and finds its gallery's images; a dataset folder that moved is named, never silently blank."""

import json
import shutil
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from optical import explore
from optical.cli import main
from optical.store import GALLERY_FORMAT, RunFormatError, gallery_images, load_run, missing_images, stored_images
from tests.fakes import png_bytes

APP = Path(__file__).resolve().parents[2] / "app.py"
SEARCH = "pages/3_Image_Search.py"


@pytest.fixture
def fresh_app():
    """Clean streamlit caches (galleries are cached by run path) and the torch threads the app's loaders change."""
    threads = torch.get_num_threads()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    torch.set_num_threads(threads)


def _captions_folder(folder: Path) -> Path:
    """A ``captions`` dataset outside the cache: four images captioned in English and German."""
    (folder / "images").mkdir(parents=True)
    rows = ["image\tlang\tcaption"]
    for i, (en, de) in enumerate([("dog", "Hund"), ("cat", "Katze"), ("house", "Haus"), ("beach", "Strand")]):
        (folder / "images" / f"{en}.png").write_bytes(png_bytes((40 * i, 200 - 40 * i, 90)))
        rows += [f"{en}.png\ten\tThe {en}.", f"{en}.png\tde\tDer {de}."]
    (folder / "captions.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def _search(run_id: str, query: str, evaluation: str | None = None) -> AppTest:
    """Image Search of run ``run_id`` (its test split, or ``evaluation``) after typing ``query``."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["run_id"] = run_id
    at.run()
    at.switch_page(SEARCH).run()
    if evaluation:
        next(b for b in at.sidebar.selectbox if b.label == "Evaluation set").set_value(evaluation).run()
    at.text_input[0].input(query).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    return at


def test_a_finished_run_moved_or_copied_elsewhere_reports_and_shows_its_images(
    finished_run, tmp_path, monkeypatch, capsys, fresh_app  # noqa: F811
):
    mine = _captions_folder(tmp_path / "mine")
    assert main(["eval", "done-run", "--dataset", "captions", "--root", str(mine), "--languages", "de"]) == 0
    stored = json.loads((finished_run.path / "gallery.json").read_text())
    assert (stored["format"], stored["base"]) == (GALLERY_FORMAT, "cache") and stored["folder"].startswith("stamps/")
    assert str(tmp_path) not in json.dumps(stored["images"])  # nothing absolute: the cache is found when read
    evaluated = json.loads((finished_run.path / "evals" / "captions" / "gallery.json").read_text())
    assert (evaluated["base"], evaluated["folder"]) == ("folder", str(mine / "images"))

    # the checkout (and its cache) renamed, or copied to another machine: the old cache is gone
    moved = tmp_path / "elsewhere" / "cache"
    shutil.move(tmp_path / "cache", moved)
    monkeypatch.setenv("OPTICAL_CACHE", str(moved))
    copy = tmp_path / "usb" / "done-run"  # and a run folder copied out of any cache
    shutil.copytree(moved / "runs" / "done-run", copy)
    capsys.readouterr()
    for ref in ("done-run", str(copy)):
        assert main(["report", ref]) == 0
        assert "optical" in capsys.readouterr().out
        run = load_run(ref)
        gallery = explore.load_gallery(run)
        assert gallery.missing is None and len(gallery.images) > 0
        assert all(p.is_file() and p.is_relative_to(moved / "stamps") for p in gallery.images)
        own = explore.load_gallery(run, "captions")
        assert own.missing is None and [p.name for p in own.images] == ["dog.png", "cat.png", "house.png", "beach.png"]

    at = _search("done-run", "ein Hund")
    k = min(5, len(explore.load_gallery(load_run("done-run")).images))
    assert len(at.image) == 3 * k  # zero-shot, mse, optical: every hit shows its image
    assert not at.warning

    # a user's dataset folder that moved cannot be found: the gallery names it, the page says so
    shutil.move(mine, tmp_path / "mine-renamed")
    missing = explore.load_gallery(load_run(copy), "captions").missing
    assert missing and str(mine / "images") in missing and "4 of 4" in missing
    st.cache_resource.clear()
    at = _search("done-run", "ein Hund", evaluation="captions")
    assert not at.image and str(mine / "images") in "\n".join(str(w.value) for w in at.warning)


def test_stored_images_name_the_cache_or_their_folder_and_resolve_where_read(tmp_path, monkeypatch):
    cache, mine = tmp_path / "cache", tmp_path / "mine" / "images"
    monkeypatch.setenv("OPTICAL_CACHE", str(cache))
    in_cache = [cache / "stamps" / "images" / "a.png", cache / "stamps" / "images" / "sub" / "b.png"]
    outside = [mine / "x.png", mine / "y.png"]
    for path in [*in_cache, *outside]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes())
    data = stored_images(in_cache)
    assert data == {"format": GALLERY_FORMAT, "base": "cache", "folder": "stamps/images",
                    "images": ["a.png", "sub/b.png"]}
    assert stored_images(outside) == {"format": GALLERY_FORMAT, "base": "folder", "folder": str(mine),
                                      "images": ["x.png", "y.png"]}
    file = tmp_path / "gallery.json"
    assert gallery_images(data, file) == in_cache and missing_images(data, file, in_cache) is None

    other = tmp_path / "other-cache"
    shutil.move(cache, other)
    assert missing_images(data, file, gallery_images(data, file)).endswith(
        "prepare that dataset in this cache, or point OPTICAL_CACHE at the cache that has it")
    monkeypatch.setenv("OPTICAL_CACHE", str(other))
    assert gallery_images(data, file) == [other / "stamps" / "images" / "a.png", other / "stamps/images/sub/b.png"]

    legacy = {"images": [str(p) for p in outside]}  # written before format 2: absolute paths, read as they are
    assert gallery_images(legacy, file) == outside and missing_images(legacy, file, outside) is None
    (mine / "y.png").unlink()
    assert "1 of 2 gallery images are missing" in missing_images(legacy, file, outside)
    assert "absolute paths" in missing_images(legacy, file, outside)
    for bad in ({**data, "format": 3}, {**data, "base": "home"}, {**data, "folder": None}):
        with pytest.raises(RunFormatError, match="not a gallery this version reads"):
            gallery_images(bad, file)
