"""The sweep's goal table: the research goal applied to a sweep frame's figures."""

import pandas as pd
import pytest

from optical.results import goal_table


def _goal_frame(std_optical: float, en_diff: float) -> pd.DataFrame:
    """A sweep_frame with one point: zero-shot's std 10, optical's ``std_optical`` and English ``en_diff``."""
    rows = [{"point": "p", "method": "zero-shot", "figure": "std", "value": 10.0, "lo": 8.0, "hi": 12.0, "n_seeds": 3},
            {"point": "p", "method": "optical", "figure": "std", "value": std_optical, "lo": 0.0, "hi": 20.0, "n_seeds": 3},
            {"point": "p", "method": "optical", "figure": "std - zero-shot", "value": std_optical - 10.0, "lo": -9.0,
             "hi": 1.0, "n_seeds": 3},
            {"point": "p", "method": "optical", "figure": "mR en - zero-shot", "value": en_diff, "lo": en_diff - 2,
             "hi": en_diff + 2, "n_seeds": 3}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("std_optical", "en_diff", "meets"), [
    (7.0, -1.0, True),    # exactly -30% and exactly one English point lost
    (7.1, 0.0, False),    # -29%
    (5.0, -1.1, False),   # levelling down: the gap shrinks but English pays more than a point
    (5.0, 2.0, True),
])
def test_goal_table_applies_the_research_goal(std_optical, en_diff, meets):
    (row,) = goal_table(_goal_frame(std_optical, en_diff)).to_dict("records")
    assert row["method"] == "optical" and row["std zero-shot"] == 10.0
    assert row["std change %"] == pytest.approx(10 * (std_optical - 10.0))
    assert row["en diff"] == en_diff and row["meets goal"] is meets


def test_goal_table_is_empty_without_zero_shot():
    frame = _goal_frame(5.0, 0.0)
    assert goal_table(frame[frame["method"] != "zero-shot"]).empty
    assert goal_table(frame[frame["figure"] == "std"]).empty


def test_sweep_cells_keep_the_digits_each_figure_needs():
    from optical.results._sweep_tables import _cell

    assert _cell(43.06, 35.61, 50.33, "mean mR") == "43.1 [35.6, 50.3]"
    assert _cell(0.5634, 0.5512, 0.5701, "plan best-match share") == "0.563 [0.551, 0.570]"
    assert _cell(1.2e-2, 9.9e-5, 1.7e-2, "plan row error") == "1.2e-02 [9.9e-05, 1.7e-02]"
    assert _cell(float("nan"), 0.0, 0.0, "std") == "-"
