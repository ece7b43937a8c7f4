"""Transport-plan samples for the app: the OT plan between a student's foreign tokens and the teacher's English."""

from __future__ import annotations

import torch

from optical.distill import ProjectedTextEncoder
from optical.distill.losses import LossConfig, OpticalLoss, TokenMass, TokenRoles, create_loss
from optical.evaluate import check_finite
from optical.transport import cost_matrix

PLAN_LOSS = "optical"  # the create_loss entry whose transport plans are drawn


def plan_loss(config: LossConfig) -> OpticalLoss:
    """The OT loss of a run's settings (``ExperimentConfig.ot``), whose ``transport`` gives the plans."""
    return create_loss(PLAN_LOSS, config)


@torch.no_grad()
def transport_sample(
    student: ProjectedTextEncoder, teacher: ProjectedTextEncoder, foreign: str, english: str, loss: OpticalLoss,
    layer: int = -1, name: str = "student",
) -> dict:
    """Tokens of both sentences, the plan T (n, m), the cost C (n, m) and <T, C> for one sentence pair, between the
    token states of ``layer`` (the run's ``ot.layer``: -1 the last layer's projected ones, k those after layer k).
    NaN or infinite token states raise NonFiniteError naming ``name`` (the student's method) or the teacher."""
    student.eval()
    teacher.eval()
    device = next(student.parameters()).device
    s_feats = {k: v.to(device) for k, v in student.tokenize([foreign]).items()}
    t_feats = {k: v.to(device) for k, v in teacher.tokenize([english]).items()}
    # token roles, for the loss's ``tokens`` option, each side by its own tokenizer (a student may have its own encoder)
    mass = TokenMass(TokenRoles.from_encoder(student.text), teacher_roles=TokenRoles.from_encoder(teacher.text))
    s_out, t_out = mass.add(student(s_feats, layer), "student"), mass.add(teacher(t_feats, layer), "teacher")
    for who, text, out in ((name, foreign, s_out), ("teacher", english, t_out)):
        check_finite(out["token_embeddings"][0].float().cpu().numpy(), f"{who}: the token states of {text!r}")
    result = loss.transport(s_out, t_out)
    cost = cost_matrix(
        s_out["token_embeddings"], t_out["token_embeddings"], s_out["attention_mask"], t_out["attention_mask"],
        kind=loss.cost,
    )  # (1, n, m)
    n, m = int(s_out["attention_mask"].sum()), int(t_out["attention_mask"].sum())
    return {
        "foreign": foreign,
        "english": english,
        "foreign_tokens": _tokens(student, s_feats["input_ids"][0, :n]),
        "english_tokens": _tokens(teacher, t_feats["input_ids"][0, :m]),
        "plan": result.plan[0, :n, :m].float().cpu().tolist(),
        "cost": cost[0, :n, :m].float().cpu().tolist(),
        "loss": float(result.value[0]),
    }


def _tokens(model: ProjectedTextEncoder, ids: torch.Tensor) -> list[str]:
    return model.text.tokenizer.convert_ids_to_tokens(ids.tolist())
