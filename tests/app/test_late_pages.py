"""The pages on the tiny late-teacher run under AppTest: late image search, an upload against captions by regions,
the token -> region view on Image Search and Transport Plans; and the note a pooled run shows instead."""

from __future__ import annotations

import json

from tests.app.fixtures import SEARCH, TRANSPORT, open_app, texts
from tests.fakes import png_bytes

LATE_NOTE = "needs a late-teacher run (`--scoring late`)"


def _radio(at, label: str):
    return next(r for r in at.radio if r.label == label)


def _maps(at) -> list[dict]:
    """The figures of the plotly charts on the page, in order."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _heatmap(figure: dict) -> list:
    return next(trace["z"] for trace in figure["data"] if trace["type"] == "heatmap")


def test_image_search_ranks_a_late_gallery_by_late_score(late_cache):
    at = open_app(SEARCH)
    assert "late interaction" in texts(at.caption)
    at.text_input[0].input("ein roter apfel").run()
    assert not at.exception and not at.error
    assert len(at.image) == 3 * 5  # zero-shot, mse, optical; top 5 each
    assert texts(at.caption).count("late, exact over 6 images") == 3
    at.radio[1].set_value("Pick a test caption").run()
    assert not at.exception and "✅ ground truth" in texts(at.caption) and len(at.image) == 4 * 5


def test_an_upload_ranks_a_late_runs_captions_by_its_regions(late_cache):
    at = open_app(SEARCH)
    at.radio[0].set_value("Image → captions").run()
    at.file_uploader[0].set_value(("apple.png", png_bytes(), "image/png")).run()
    assert not at.exception and not at.error
    assert len(at.table) == 3


def test_image_search_token_region_view_follows_the_chosen_token(late_cache):
    at = open_app(SEARCH)
    at.radio[0].set_value("Token → region").run()
    assert not at.exception and not at.error
    pair = next(b for b in at.selectbox if b.label == "Caption pair")
    assert pair.value[:2] == ("ein roter apfel", "a red apple")
    assert next(b for b in at.selectbox if b.label == "Image").value == pair.value[2]  # the caption's own image
    foreign, english = _radio(at, "de token (optical)"), _radio(at, "English token (teacher)")
    assert foreign.value == 1 and foreign.options[foreign.value] == "1 ein"  # the first content token
    assert english.options == ["0 [CLS]", "1 a", "2 red", "3 apple", "4 [SEP]"]
    figures = _maps(at)
    assert len(figures) == 5  # the two token maps, the plan, every token's map of each side
    assert [t["type"] for t in figures[0]["data"]] == ["image", "heatmap"]  # the grid over the picture
    assert "ein" in figures[0]["layout"]["title"]["text"] and "plan T" in figures[2]["layout"]["title"]["text"]
    assert len(figures[2]["layout"]["shapes"]) == 2  # the chosen tokens outlined on the plan
    before = _heatmap(figures[0])
    _radio(at, "de token (optical)").set_value(5).run()  # "apfel"
    assert not at.exception
    after = _maps(at)
    assert "apfel" in after[0]["layout"]["title"]["text"] and _heatmap(after[0]) != before
    assert "mass to" in texts(at.caption)
    english = _radio(at, "English token (teacher)")
    right = _heatmap(after[1])
    english.set_value(3 if english.value != 3 else 2).run()
    assert not at.exception and _heatmap(_maps(at)[1]) != right
    next(b for b in at.selectbox if b.label == "Student (reads the caption)").set_value("mse").run()
    assert not at.exception and _radio(at, "de token (mse)")
    next(b for b in at.selectbox if b.label == "Image").set_value(3).run()
    assert not at.exception and _heatmap(_maps(at)[0]) != _heatmap(after[0])


def test_transport_page_token_region_view_for_the_chosen_pair(late_cache):
    at = open_app(TRANSPORT)
    assert not at.exception and not at.error
    assert "Token → region" in texts(at.subheader)
    figures = _maps(at)
    assert len(figures) == 4 + 5  # plan and cost of optical and mse, then the view
    assert [t["type"] for t in figures[4]["data"]] == ["image", "heatmap"]
    before = _heatmap(figures[4])
    foreign = _radio(at, "de token (optical)")
    foreign.set_value(len(foreign.options) - 2).run()  # the last content token
    assert not at.exception and _heatmap(_maps(at)[4]) != before
    next(b for b in at.selectbox if b.label == "Student").set_value("mse").run()
    assert not at.exception and _radio(at, "de token (mse)")
    at.radio[0].set_value("Type both sentences").run()
    at.text_input[0].input("der rote hund").run()
    at.text_input[1].input("the red dog").run()
    assert not at.exception and not at.error and len(at.get("plotly_chart")) == 9
    assert _radio(at, "de token (mse)").options[1:3] == ["1 der", "2 rot"]


def test_pooled_runs_note_that_the_view_needs_a_late_teacher(cache):
    at = open_app(SEARCH, run_id="tiny")
    assert "late interaction" not in texts(at.caption)
    at.radio[0].set_value("Token → region").run()
    assert not at.exception and LATE_NOTE in texts(at.info)
    at = open_app(TRANSPORT, run_id="tiny")
    assert not at.exception and LATE_NOTE in texts(at.info)
    assert len(at.get("plotly_chart")) == 4  # the plans alone
