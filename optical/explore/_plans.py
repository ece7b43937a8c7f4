"""Transport plans for any sentence pair, as the experiment saves them for its own samples."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from optical.distill import ProjectedTextEncoder


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
