"""The Sweeps page under AppTest on a tiny finished sweep, and its logic in optical.explore."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from optical import explore
from optical.results import goal_table, sweep_frame
from optical.store import Sweep
from tests.app.fixtures import SWEEP_EVAL, build_sweep

PAGE = Path(__file__).resolve().parents[2] / "pages" / "4_Sweeps.py"


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep-cache")
    build_sweep(root)
    return root


@pytest.fixture
def sweep_cache(sweep_root, monkeypatch) -> Path:
    monkeypatch.setenv("OPTICAL_CACHE", str(sweep_root))
    yield sweep_root
    st.cache_data.clear()


def open_page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_lines_follow_the_grid_order_and_the_colour_choice(sweep_cache):
    (info,) = explore.describe_sweeps()
    assert info.done == info.total == 8 and "2 seed(s)" in info.label
    frame = sweep_frame(info.sweep)
    assert explore.sweep_figures(frame)[:3] == ["mean mR", "std", "high-minus-low"]
    by_method = explore.sweep_lines(frame, info.grid, "std", "bitext_pairs", explore.METHOD)
    assert set(by_method["line"]) == {f"{m}, ot.reg={r}" for m in ("zero-shot", "mse", "optical") for r in (0.05, 0.2)}
    assert by_method["line"][0] == "zero-shot, ot.reg=0.05"  # the summary's method order
    assert list(by_method["x"][:2]) == ["4", "all"]  # grid order, "all" (no cap) as given
    by_reg = explore.sweep_lines(frame, info.grid, "mR de", "bitext_pairs", "ot.reg", method="optical")
    assert set(by_reg["line"]) == {"ot.reg=0.05", "ot.reg=0.2"} and set(by_reg["method"]) == {"optical"}
    chart = explore.sweep_chart(by_reg, info.grid, "mR de", "bitext_pairs")
    assert [t.fill for t in chart.data] == ["toself", None, "toself", None]  # a CI band under each line
    with pytest.raises(ValueError, match="x must be a grid key"):
        explore.sweep_lines(frame, info.grid, "std", "ot.reg", "ot.reg")


def test_page_draws_the_figure_table_and_download(sweep_cache):
    at = open_page()
    assert not at.error
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0]  # then the goal table
    assert set(table.value["method"]) == {"zero-shot", "mse", "optical"}
    assert len(table.value) == 12  # 3 methods x 2 caps x 2 epsilons
    assert "tiny-sweep" in at.sidebar.selectbox[0].value.label
    assert at.get("download_button")

    at.sidebar.selectbox[1].select("mR ga").run()
    at.sidebar.selectbox[2].select("bitext_pairs").run()
    at.sidebar.selectbox[3].select("ot.reg").run()
    assert not at.exception, at.exception
    method = at.sidebar.selectbox[4]
    method.select("mse").run()
    table = at.dataframe[0]  # then the goal table
    assert set(table.value["method"]) == {"mse"} and set(table.value["line"]) == {"ot.reg=0.05", "ot.reg=0.2"}


def test_page_without_sweeps_says_how_to_run_one(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path))
    at = open_page()
    assert "python -m optical sweep" in at.info[0].value
    st.cache_data.clear()


def test_damaged_sweep_is_left_out(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path))
    build_sweep(tmp_path, "good")
    (tmp_path / "sweeps" / "bad").mkdir()
    (tmp_path / "sweeps" / "bad" / "sweep.json").write_text("{not json")
    assert [info.sweep.sweep_id for info in explore.describe_sweeps()] == ["good"]
    assert Sweep.load("good").data["seeds"] == [0, 1]


def test_differences_from_zero_shot_are_paired_and_feed_the_goal_table(sweep_cache):
    (info,) = explore.describe_sweeps()
    frame = sweep_frame(info.sweep, split="val")
    assert explore.sweep_figures(frame)[3:5] == ["std - zero-shot", "mR en - zero-shot"]
    cell = frame.set_index(["point", "method", "figure"])["value"]
    point = frame["point"].iloc[0]
    assert cell[(point, "optical", "std - zero-shot")] == pytest.approx(
        cell[(point, "optical", "std")] - cell[(point, "zero-shot", "std")])
    assert cell[(point, "mse", "mR en - zero-shot")] == pytest.approx(
        cell[(point, "mse", "mR en")] - cell[(point, "zero-shot", "mR en")])
    assert (point, "zero-shot", "std - zero-shot") not in cell.index
    goal = goal_table(frame)
    assert len(goal) == 8 and set(goal["method"]) == {"mse", "optical"}  # 4 points x 2 methods
    assert (goal["std diff lo"] <= goal["std diff"]).all() and (goal["std diff"] <= goal["std diff hi"]).all()
    assert not sweep_frame(info.sweep).equals(frame)  # the val ranks differ from the test ones


def test_a_sweep_on_its_runs_evaluation(sweep_cache):
    (info,) = explore.describe_sweeps()
    assert info.evaluations == [SWEEP_EVAL]
    frame = sweep_frame(info.sweep, evaluation=SWEEP_EVAL)
    assert set(frame["n_seeds"]) == {1}  # only seed 0's runs have it
    assert len(set(frame["point"])) == 4


def test_page_switches_to_val_and_states_the_goal(sweep_cache):
    at = open_page()
    assert [r.label for r in at.sidebar.radio] == ["Split"] and at.sidebar.radio[0].value == "test"
    assert at.sidebar.radio[0].options == ["val", "test", f"eval: {SWEEP_EVAL}"]
    assert "Against zero-shot" in [h.value for h in at.subheader][0]
    goal = at.dataframe[1].value
    assert len(goal) == 8 and "meets goal" in goal.columns
    assert "point x method pairs" in at.markdown[-1].value
    at.sidebar.radio[0].set_value("val").run()
    assert not at.exception, at.exception
    assert "image groups of val" in at.caption[0].value
    at.sidebar.radio[0].set_value(f"eval: {SWEEP_EVAL}").run()
    assert not at.exception, at.exception
    assert f"image groups of evaluation {SWEEP_EVAL}" in at.caption[0].value
    assert set(at.dataframe[1].value["n_seeds"]) == {1}
