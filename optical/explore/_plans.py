"""Transport plans for any sentence pair, as the experiment saves them for its own samples."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from optical.distill import ProjectedTextEncoder

PLAN_VIEWS = {"plan": ("plan T", "Blues"), "cost": ("cost C", "Reds")}  # sample key -> (title, colour scale)


def plan_for_pair(
    student: ProjectedTextEncoder, teacher: ProjectedTextEncoder, foreign: str, english: str, config: dict
) -> dict:
    """The plan T (n, m) between ``student``'s tokens of ``foreign`` and ``teacher``'s of ``english``.

    Uses the run's OT settings (``config``: the run's ``config.json``, its ``ot`` section or the flat keys of older
    runs; ``ot.layer`` chooses the token states) and returns the same dict as the run's ``plans.json`` entries:
    tokens of both sides, ``plan``, ``cost`` and ``loss`` = <T, C>.
    """
    from optical.config import ExperimentConfig
    from optical.experiment import plan_loss, transport_sample

    ot = ExperimentConfig.from_dict(config).ot
    return transport_sample(student, teacher, foreign, english, plan_loss(ot), layer=ot.layer)


def top_alignments(sample: dict, k: int = 10) -> list[dict]:
    """The ``k`` heaviest token pairs of a plan: foreign and English token, transported mass (share), cost."""
    plan, cost = np.asarray(sample["plan"]), np.asarray(sample["cost"])  # (n, m) each
    if plan.size == 0:
        return []
    share = plan / plan.sum()
    order = np.argsort(share, axis=None)[::-1][:k]
    rows, cols = np.unravel_index(order, share.shape)
    return [
        {
            "foreign": sample["foreign_tokens"][i],
            "english": sample["english_tokens"][j],
            "mass": float(share[i, j]),
            "cost": float(cost[i, j]),
        }
        for i, j in zip(rows, cols)
    ]


def axis_labels(tokens: list[str]) -> list[str]:
    """Tokens numbered by position (``"3 ▁apfel"``), so repeated tokens stay separate rows of a heatmap.

    ``<`` and ``>`` become ``‹`` and ``›``: plotly reads ``<s>`` in a tick label as markup and would drop it.
    """
    return [f"{i} {token.replace('<', '‹').replace('>', '›')}" for i, token in enumerate(tokens)]


def plan_figure(
    sample: dict, which: str = "plan", language: str = "foreign", method: str = "student",
    highlight: tuple[int | None, int | None] | None = None, height: int = 420,
) -> go.Figure:
    """The heatmap of a plan sample's ``which`` (``"plan"`` T or ``"cost"`` C, (n, m)): the student's foreign tokens
    (rows, labelled ``language (method)``) against the teacher's English tokens (columns), both by
    ``axis_labels``. ``highlight`` (row, column), either None: outline that foreign token's row and that English
    token's column (the tokens chosen in the token -> region view)."""
    import plotly.express as px

    title, scale = PLAN_VIEWS[which]
    y, x = axis_labels(sample["foreign_tokens"]), axis_labels(sample["english_tokens"])
    figure = px.imshow(sample[which], x=x, y=y, color_continuous_scale=scale, aspect="auto", title=title)
    figure.update_layout(xaxis_title="English (teacher)", yaxis_title=f"{language} ({method})", height=height)
    row, column = highlight or (None, None)
    n, m = len(y), len(x)
    if row is not None and 0 <= row < n:
        figure.add_shape(type="rect", x0=-0.5, x1=m - 0.5, y0=row - 0.5, y1=row + 0.5,
                         line={"color": "#d62728", "width": 2})
    if column is not None and 0 <= column < m:
        figure.add_shape(type="rect", x0=column - 0.5, x1=column + 0.5, y0=-0.5, y1=n - 0.5,
                         line={"color": "#ff7f0e", "width": 2})
    return figure


def plan_partner(sample: dict, row: int) -> tuple[int, float] | None:
    """The English token (column) to which the plan sends most of foreign token ``row``'s mass, and that share of
    the row's mass; None for a row outside the plan or without mass."""
    plan = np.asarray(sample["plan"], dtype=float)  # (n, m)
    if not 0 <= row < plan.shape[0] or plan.shape[1] == 0 or plan[row].sum() <= 0:
        return None
    column = int(plan[row].argmax())
    return column, float(plan[row, column] / plan[row].sum())
