"""Every page under streamlit's AppTest on the tiny run folder, bad input included: messages, never tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

import pytest
import streamlit as st

import app_resources
from optical import explore
from tests.app.fixtures import RECALL, SEARCH, TINY_TEACHER_KEY, TRANSPORT, open_app, texts
from tests.fakes import huge_png, png_bytes


def test_home_shows_runs_headline_and_verdict(cache):
    at = open_app()
    assert not at.error
    runs, headline, disparity, teacher = at.dataframe
    assert set(runs.value["run"]) == {"tiny", "failed", "interrupted", "old-format", "no-metrics"}
    problems = dict(zip(runs.value["run"], runs.value["problem"]))
    assert "format 0" in problems["old-format"] and "out of memory" in problems["failed"]
    assert list(headline.value.index) == ["en", "de", "fr", "ga", "zu"]
    assert {"zero-shot", "mse", "optical"} <= set(headline.value.columns)
    assert "[" in headline.value.loc["de", "optical"]  # value with its CI
    assert "slope_log_size" in disparity.value.index
    assert "Verdict" in texts(at.markdown)
    # the run's config: every student also read the English side (the default)
    assert "Distillation: students also read English (English term)" in texts(at.caption)


def test_home_shows_the_teacher_and_its_english_recall_per_evaluated_dataset(cache):
    at = open_app(run_id="tiny")
    assert "Teacher" in [h.value for h in at.subheader]
    about = texts(at.markdown)
    assert f"**teacher key**: {TINY_TEACHER_KEY}" in about and "**best epoch**: 3 of 5 run" in about
    assert "**training data**: dataset" in about
    teacher = at.dataframe[-1].value
    assert list(teacher["dataset"]) == ["test split (stamps)", "drawings (art4apps)"]
    assert all("[" in cell for cell in teacher["English mR [lo, hi]"])


def test_home_shows_a_finished_study_beside_the_runs(cache):
    study = cache / "runs" / "seeds"
    study.mkdir()
    try:
        (study / "study.json").write_text(json.dumps({"format": 1, "seeds": [0, 1], "runs": ["tiny", "tiny"], "config": {}}))
        summary = {**json.loads((cache / "runs" / "tiny" / "metrics.json").read_text()), "n_seeds": 2, "runs": ["tiny", "tiny"]}
        (study / "metrics.json").write_text(json.dumps(summary))
        at = open_app()
        runs, study_table, headline, _, _ = at.dataframe
        assert "seeds" not in set(runs.value["run"])  # a study is no run
        assert list(study_table.value.index) == list(headline.value.index)
        assert "mean over 2 training seeds" in texts(at.caption)
    finally:
        shutil.rmtree(study)


def test_home_runs_table_names_a_metrics_file_it_cannot_read(cache):
    bad = cache / "runs" / "bad-metrics"
    bad.mkdir()
    try:
        for name in ("config.json", "status.json"):
            shutil.copyfile(cache / "runs" / "tiny" / name, bad / name)
        (bad / "metrics.json").write_text(json.dumps({"format": 7, "results": {}}))
        at = open_app(run_id="tiny")
        runs = at.dataframe[0].value
        problems = dict(zip(runs["run"], runs["problem"]))
        assert "metrics.json: not a metrics file this version reads (format 7, expected 1" in problems["bad-metrics"]
        assert problems["tiny"] == ""
    finally:
        shutil.rmtree(bad)


@pytest.mark.parametrize(
    ("run_id", "message"),
    [
        ("old-format", "run format 0"),
        ("failed", "metrics.json: missing"),
        ("interrupted", "metrics.json: missing"),
        ("no-metrics", "metrics.json: missing"),
    ],
)
def test_broken_runs_give_a_message_on_every_page(cache, run_id, message):
    for page in (None, RECALL, SEARCH, TRANSPORT):
        at = open_app(page, run_id)
        assert not at.exception
        shown = texts(at.error)
        if page in (SEARCH, TRANSPORT) and run_id != "old-format":
            assert "gallery.json: missing" in shown
        else:
            assert message in shown, (page, shown)


def test_home_without_runs_starts_the_experiment_with_progress(empty_cache, monkeypatch):
    script = "import time; print('[  0%] encoding images', flush=True); print('[ 40%] method mse', flush=True); time.sleep(60)"
    monkeypatch.setattr(explore, "experiment_commands", lambda preset, run_id: [[sys.executable, "-c", script]])
    at = open_app()
    assert "No run yet" in texts(at.info)
    at.radio[0].set_value("quick")
    at.button[0].click().run()
    (job,) = app_resources.jobs().values()
    try:
        deadline = time.time() + 30
        while explore.parse_progress(job.log_lines()) != (0.4, "method mse") and time.time() < deadline:
            time.sleep(0.2)
        at.run()
        assert not at.exception
        assert at.progress[0].value == 40
        assert "method mse" in texts(at.code)
        assert at.button(key=f"stop-{job.run_id}")
    finally:
        job.stop()
        job.wait(10)
    assert job.state == "stopped"


def test_home_explains_a_failed_experiment(empty_cache, monkeypatch):
    script = "import sys; print('error: the stamps dataset is missing', file=sys.stderr); sys.exit(2)"
    monkeypatch.setattr(explore, "experiment_commands", lambda preset, run_id: [[sys.executable, "-c", script]])
    at = open_app()
    at.button[0].click().run()
    (job,) = app_resources.jobs().values()
    assert job.wait(30) == "failed"
    at.run()
    assert not at.exception
    assert "exit status 2" in texts(at.error) and "stamps dataset is missing" in texts(at.code)


def test_recall_page_draws_bars_scatter_and_offers_the_csv(cache):
    at = open_app(RECALL)
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    assert at.get("download_button")
    fits = at.dataframe[-1].value
    assert set(fits["method"]) == {"zero-shot", "mse", "optical"}
    next(b for b in at.sidebar.selectbox if b.label == "Metric").set_value("R@1").run()
    at.sidebar.radio[0].set_value("i2t").run()
    assert not at.exception and len(at.get("plotly_chart")) == 2
    assert "i2t_R@1" in texts(at.subheader)


def test_transport_page_heatmaps_for_saved_and_typed_pairs(cache):
    at = open_app(TRANSPORT)
    assert len(at.get("plotly_chart")) == 4  # plan and cost, for optical and mse
    assert "OPTICAL vs MSE" in texts(at.markdown)
    alignments = at.dataframe[1].value  # [0]: the plan diagnostics
    assert {"foreign", "english", "mass", "cost"} <= set(alignments.columns)
    at.radio[0].set_value("Type both sentences").run()
    assert "Type both sentences" in texts(at.info)  # nothing typed yet
    at.text_input[0].input("der rote hund").run()
    at.text_input[1].input("the red dog").run()
    assert not at.exception and len(at.get("plotly_chart")) == 4
    assert "⟨T, C⟩" in texts(at.subheader)
    at.text_input[0].input("🍎" * 10_000).run()
    at.text_input[1].input("תפוח אדום").run()
    assert not at.exception and not at.error and len(at.get("plotly_chart")) == 4
    assert "only the first" in texts(at.warning)


def test_transport_page_shows_the_plan_diagnostics_of_every_method(cache):
    at = open_app(TRANSPORT)
    table = at.dataframe[0].value
    assert list(table.index) == ["zero-shot", "mse", "optical"]
    assert {"entropy / uniform", "best-match share", "special+prefix mass", "row error at stop"} <= set(table.columns)
    assert ((table["entropy / uniform"] > 0) & (table["entropy / uniform"] <= 1)).all()
    assert ((table["best-match share"] > 0) & (table["best-match share"] <= 1)).all()
    note = texts(at.caption)
    assert "24 test pairs" in note and "reg 0.05 (absolute)" in note and "`<s>`" in note
    assert "How much alignment the plans carry" in texts(at.subheader)
    assert "not converged" not in note  # the cap's warning stands apart (next test)


@pytest.mark.parametrize("capped", [["mse"], []])
def test_transport_page_warns_only_about_the_methods_the_cap_stopped(cache, monkeypatch, capped):
    load = explore.load_metrics

    def converged(run):
        metrics = load(run)
        for name, method in metrics["plan_diagnostics"]["methods"].items():
            method["converged"] = name not in capped
        return metrics

    monkeypatch.setattr(explore, "load_metrics", converged)
    at = open_app(TRANSPORT)
    assert not at.exception
    if capped:
        assert texts(at.warning).startswith("Not converged: the cap stopped mse above tol")
    else:
        assert not at.warning


def test_transport_page_without_plan_diagnostics_still_draws_plans(cache):
    metrics_file = cache / "runs" / "tiny" / "metrics.json"
    saved = metrics_file.read_text()
    try:
        metrics_file.write_text(json.dumps({k: v for k, v in json.loads(saved).items() if k != "plan_diagnostics"}))
        at = open_app(TRANSPORT, run_id="tiny")
        assert "records no plan diagnostics" in texts(at.caption)
        assert len(at.get("plotly_chart")) == 4 and "foreign" in at.dataframe[0].value.columns
    finally:
        metrics_file.write_text(saved)


@pytest.mark.parametrize(
    "query", ["ein roter apfel", "🍎🍏🌳", "تفاحة حمراء", "אדום", "apfel " * 2000], ids=["de", "emoji", "ar", "he", "long"]
)
def test_image_search_answers_any_query(cache, query):
    at = open_app(SEARCH)
    assert "empty" in texts(at.info)  # no query yet
    at.text_input[0].input(query).run()
    assert not at.exception and not at.error
    assert len(at.image) == 3 * 5  # zero-shot, mse, optical; top 5 each
    assert texts(at.caption).count(" ms (search") == 3
    if len(query) > explore.MAX_QUERY_CHARS:
        assert "only the first" in texts(at.warning)


def test_image_search_rejects_a_blank_query(cache):
    at = open_app(SEARCH)
    at.text_input[0].input(" \u200f\t ").run()
    assert not at.exception and "empty" in texts(at.info) and not at.image


def test_image_search_marks_the_ground_truth_of_a_test_caption(cache):
    at = open_app(SEARCH)
    at.radio[1].set_value("Pick a test caption").run()
    assert not at.exception
    assert len(at.image) == 4 * 5  # plus the teacher on the English caption
    assert "✅ ground truth" in texts(at.caption)


def test_image_upload_ranks_captions_and_rejects_non_images(cache):
    at = open_app(SEARCH)
    at.radio[0].set_value("Image → captions").run()
    assert "Upload an image" in texts(at.info)
    at.file_uploader[0].set_value(("apple.png", png_bytes(), "image/png")).run()
    assert not at.exception and not at.error
    assert len(at.table) == 3
    at.file_uploader[0].set_value(("notes.png", b"these are not pixels", "image/png")).run()
    assert not at.exception
    assert "not an image" in texts(at.error)
    at.file_uploader[0].set_value(("huge.png", huge_png(20_000, 20_000), "image/png")).run()
    assert not at.exception
    assert "image too large: 20,000 x 20,000 pixels, the limit is 40,000,000 pixels" in texts(at.error)


def test_pages_open_on_the_newest_readable_finished_run(app_cache, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    shutil.copytree(app_cache / "runs" / "tiny", runs / "older-good")
    shutil.copytree(app_cache / "runs" / "tiny", runs / "newer-broken")
    metrics = json.loads((runs / "newer-broken" / "metrics.json").read_text())
    (runs / "newer-broken" / "metrics.json").write_text(json.dumps({**metrics, "format": 2}))
    os.utime(runs / "older-good", (1e9, 1e9))
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path))
    try:
        for page in (None, RECALL):
            at = open_app(page)
            picker = at.selectbox[0] if page is None else at.sidebar.selectbox[0]
            assert picker.value == "older-good" and not at.error, texts(at.error)
    finally:
        st.cache_data.clear()


def test_pages_offer_each_evaluation_next_to_the_test_split(cache):
    at = open_app(RECALL)
    picker = next(b for b in at.sidebar.selectbox if b.label == "Evaluation set")
    assert picker.options == ["test split", "drawings"]
    picker.set_value("drawings").run()
    assert not at.exception and not at.error
    assert "Not distilled on (zero-shot transfer of the students): lkt" in texts(at.caption)
    assert "Encoded in bf16 (`--precision bf16`)" in texts(at.caption)
    assert len(at.get("plotly_chart")) == 2
    at.switch_page(SEARCH).run()  # the choice is kept across pages
    assert not at.exception and not at.error
    at.radio[1].set_value("Pick a test caption").run()
    assert not at.exception
    caption = next(b for b in at.selectbox if b.label == "Caption")
    assert caption.value[0] in {"ein apfel", "ein baum", "ein boot", "ein hund"}  # the evaluation's gallery
    assert "✅ ground truth" in texts(at.caption)
    at.switch_page(TRANSPORT).run()
    assert not at.exception and not at.error
    languages = next(b for b in at.sidebar.selectbox if b.label == "Language")
    assert languages.options == ["de", "lkt"]
    languages.set_value("lkt").run()
    assert not at.exception and len(at.get("plotly_chart")) == 4
    assert "taspan" in next(b for b in at.selectbox if b.label == "Test pair").value[0]
