"""What the Sweeps page shows: the sweeps in the cache, a figure of one sweep (a statistic against one grid
parameter, lines coloured by another or by method, with CI bands) and its table. No streamlit here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from optical.results import DIFFERENCE_FIGURES, SWEEP_FIGURES, list_evaluations
from optical.store import RunFormatError, Sweep

METHOD = "method"  # the colour choice that draws one line per method


@dataclass
class SweepInfo:
    """One sweep folder for the picker: its grid, seeds, how many of its runs are done and the evaluations
    (``optical eval``) that its finished runs have (any of them)."""

    sweep: Sweep
    grid: dict[str, list]
    seeds: list[int]
    done: int
    total: int
    evaluations: list[str]

    @property
    def label(self) -> str:
        axes = " x ".join(f"{key} ({len(values)})" for key, values in self.grid.items())
        return f"{self.sweep.sweep_id}: {axes}, {len(self.seeds)} seed(s), {self.done}/{self.total} runs done"


def describe_sweeps(root: Path | None = None) -> list[SweepInfo]:
    """The readable sweeps under ``cache/sweeps`` (newest first); damaged ones are left out."""
    found = []
    for sweep in Sweep.find_all(root):
        try:
            grid, total, done = sweep.data["grid"], len(sweep.run_ids()), sweep.finished_runs()
        except (RunFormatError, KeyError, TypeError):
            continue
        evaluations = sorted({name for run in done for name in list_evaluations(run)})
        found.append(SweepInfo(sweep, grid, sweep.seeds, len(done), total, evaluations))
    return found


def sweep_figures(frame: pd.DataFrame) -> list[str]:
    """The statistics a sweep's table (``optical.results.sweep_frame``) can plot: mean mR, std,
    high-minus-low (where defined), each method's paired differences from zero-shot, then each language's mR."""
    present = list(dict.fromkeys(frame.dropna(subset=["value"])["figure"]))  # languages in the summary's order
    first = [*SWEEP_FIGURES, *DIFFERENCE_FIGURES]
    return [f for f in first if f in present] + [f for f in present if f not in first]


def sweep_lines(frame: pd.DataFrame, grid: dict[str, list], figure: str, x: str, colour: str,
                method: str | None = None) -> pd.DataFrame:
    """The rows of ``figure`` to draw against grid key ``x``, one line per ``colour`` value (a grid key or
    ``METHOD``) and per value of the other grid keys; ``method`` filters to one method unless colour is ``METHOD``.

    Columns: ``line`` (its legend label), ``x`` (the value as text, in grid order), ``value``, ``lo``, ``hi``,
    ``n_seeds``, then the grid keys (values as text: ``all`` beside numbers) and ``method``.
    """
    if x not in grid or (colour != METHOD and colour not in grid) or colour == x:
        raise ValueError(f"x must be a grid key and colour another one or {METHOD!r}; got {x!r}, {colour!r}")
    rows = frame[frame["figure"] == figure]
    if colour != METHOD and method is not None:
        rows = rows[rows["method"] == method]
    label_keys = [colour, *(key for key in grid if key not in (x, colour))]
    if colour != METHOD and method is None:
        label_keys.append(METHOD)
    labels = [", ".join(str(row[k]) if k == METHOD else f"{k}={row[k]}" for k in label_keys)
              for _, row in rows.iterrows()]
    rows = rows.assign(line=labels, x=rows[x].map(_text), **{key: rows[key].map(_text) for key in grid})
    order = {_text(v): i for i, v in enumerate(_labels(grid[x]))}
    first = {label: i for i, label in enumerate(dict.fromkeys(labels))}  # lines in the table's order of methods
    rows = rows.assign(_line=rows["line"].map(first), _order=rows["x"].map(order)).sort_values(["_line", "_order"])
    return rows[["line", "x", "value", "lo", "hi", "n_seeds", *grid, "method"]].reset_index(drop=True)


def sweep_chart(lines: pd.DataFrame, grid: dict[str, list], figure: str, x: str) -> go.Figure:
    """Plotly lines of ``sweep_lines``' rows with their CI as a shaded band, x in grid order."""
    chart = go.Figure()
    palette = qualitative.Plotly
    for i, (name, line) in enumerate(lines.groupby("line", sort=False)):
        colour = palette[i % len(palette)]
        band = line.dropna(subset=["lo", "hi"])
        if not band.empty:
            chart.add_trace(go.Scatter(
                x=[*band["x"], *band["x"][::-1]], y=[*band["hi"], *band["lo"][::-1]], mode="lines", fill="toself",
                fillcolor=_transparent(colour), line={"width": 0}, hoverinfo="skip", showlegend=False,
                legendgroup=name,
            ))
        chart.add_trace(go.Scatter(
            x=line["x"], y=line["value"], mode="lines+markers", name=name, line={"color": colour}, legendgroup=name,
            customdata=line[["lo", "hi", "n_seeds"]].to_numpy(),
            hovertemplate="%{y:.1f} [%{customdata[0]:.1f}, %{customdata[1]:.1f}], %{customdata[2]} seed(s)",
        ))
    order = [_text(v) for v in _labels(grid[x])]
    chart.update_xaxes(title=x, type="category", categoryorder="array", categoryarray=order)
    chart.update_yaxes(title=f"{figure} (mR points, 95% CI)")
    return chart


def _labels(values: list) -> list:
    return ["all" if v is None else v for v in values]


def _text(value: object) -> str:
    return "all" if value is None else str(value)


def _transparent(colour: str, alpha: float = 0.18) -> str:
    """``#rrggbb`` -> ``rgba(r, g, b, alpha)``."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"
