"""Transport-plan samples for the app: the OT plan between a student's foreign tokens and the teacher's English; and
the plan diagnostics a run records per method (how much alignment its plans carry, over a fixed sample of pairs)."""

from __future__ import annotations

import math

import torch

from optical.data import RetrievalSet
from optical.distill import ProjectedTextEncoder
from optical.distill.losses import PREFIX, SPECIAL, LossConfig, OpticalLoss, TokenMass, TokenRoles, create_loss
from optical.evaluate import check_finite
from optical.transport import cost_matrix, cost_spread, plan_diagnostics

PLAN_LOSS = "optical"  # the create_loss entry whose transport plans are drawn
# sentence pairs whose plans each method's diagnostics average, shared out over the languages (each student reads
# their foreign side once, the teacher their English side once for all methods)
DIAGNOSTIC_PAIRS = 128


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


def diagnostic_pairs(
    foreign: dict[str, RetrievalSet], english: RetrievalSet, limit: int = DIAGNOSTIC_PAIRS
) -> list[tuple[str, str, str]]:
    """A fixed sample of (language, foreign caption, English caption) pairs for the plan diagnostics: each
    language's first ``ceil(limit / languages)`` captions (in file order) whose image has an English caption (its
    first), matched by image path, so that every method and every run on the same data reads the same pairs."""
    by_path: dict[str, str] = {}
    for text, image in zip(english.captions, english.caption_image):
        by_path.setdefault(str(english.image_paths[int(image)]), text)
    languages = [lang for lang in foreign if lang != "en"]
    quota = math.ceil(limit / len(languages)) if languages else 0
    pairs = []
    for lang in languages:
        rs = foreign[lang]
        found = [(lang, text, by_path[path]) for text, image in zip(rs.captions, rs.caption_image)
                 if (path := str(rs.image_paths[int(image)])) in by_path]
        pairs.extend(found[:quota])
    return pairs


@torch.no_grad()
def plan_statistics(
    student: ProjectedTextEncoder, teacher: ProjectedTextEncoder, pairs: list[tuple[str, str]], loss: OpticalLoss,
    layer: int = -1, name: str = "student", batch_size: int = 64,
) -> dict:
    """How much alignment the plans of ``loss`` between ``student``'s token states of the foreign sentences and
    ``teacher``'s of the English ones carry, over ``pairs`` ((foreign, english), solved ``batch_size`` at a time as
    in training): ``transport_statistics`` of ``encode_pairs``."""
    return transport_statistics(encode_pairs(student, teacher, pairs, layer, name, batch_size), loss)


@torch.no_grad()
def encode_pairs(
    student: ProjectedTextEncoder, teacher: ProjectedTextEncoder, pairs: list[tuple[str, str]], layer: int = -1,
    name: str = "student", batch_size: int = 64, english: list[dict[str, torch.Tensor]] | None = None,
) -> list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]:
    """The (student, teacher) output dicts of ``pairs`` ((foreign, english)), ``batch_size`` pairs per batch, with
    ``token_roles`` (the OT losses' ``tokens`` option and the diagnostics read them); token states of ``layer`` (the
    run's ``ot.layer``). NaN or infinite states raise NonFiniteError naming ``name`` (the student's method).
    ``english``: the teacher's dicts of these pairs from an earlier call (the same for every student), not
    encoded again."""
    student.eval()
    teacher.eval()
    device = next(student.parameters()).device
    mass = TokenMass(TokenRoles.from_encoder(student.text), teacher_roles=TokenRoles.from_encoder(teacher.text))
    batches = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        s_feats = {k: v.to(device) for k, v in student.tokenize([f for f, _ in chunk]).items()}
        s_out = mass.add(student(s_feats, layer), "student")
        if english is not None:
            batches.append((s_out, english[len(batches)]))
            check_finite(s_out["token_embeddings"].float().cpu().numpy(),
                         f"{name}: the token states of {len(chunk)} sentence pairs (plan diagnostics)")
            continue
        t_feats = {k: v.to(device) for k, v in teacher.tokenize([e for _, e in chunk]).items()}
        t_out = mass.add(teacher(t_feats, layer), "teacher")
        for who, out in ((name, s_out), ("teacher", t_out)):
            check_finite(out["token_embeddings"].float().cpu().numpy(),
                         f"{who}: the token states of {len(chunk)} sentence pairs (plan diagnostics)")
        batches.append((s_out, t_out))
    return batches


@torch.no_grad()
def transport_statistics(batches: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]], loss: OpticalLoss
                         ) -> dict:
    """The plans of ``loss`` for each (student, teacher) batch of ``encode_pairs``, described: the means over the
    pairs of ``optical.transport.plan_diagnostics`` (``relative_entropy``: 1 for the uniform coupling, 1/2 for a
    one-to-one alignment; ``best_match_share``; ``marked_mass``: the mass on cells whose row or column is a special
    or prefix token), ``row_error`` and ``column_error``: the largest marginal error at stop, ``iterations``: the
    most Sinkhorn iterations a batch took, ``converged``: whether every batch stopped below ``loss.tol`` (False: the
    cap ``loss.n_iter`` stopped one), ``epsilon``: the mean entropic regularisation used (``reg``, or ``reg`` times
    each pair's cost spread), ``loss``: the mean <T, C>, and ``pairs``."""
    sums = {"relative_entropy": 0.0, "best_match_share": 0.0, "marked_mass": 0.0, "epsilon": 0.0, "loss": 0.0}
    worst = {"row_error": 0.0, "column_error": 0.0, "iterations": 0}
    converged, n = True, 0
    for s_out, t_out in batches:
        result = loss.transport(s_out, t_out)
        a, b = loss.marginal(s_out), loss.marginal(t_out)
        marks = torch.tensor([SPECIAL, PREFIX], device=a.device)
        d = plan_diagnostics(result.plan, a, b, *(torch.isin(out["token_roles"], marks) for out in (s_out, t_out)))
        if loss.reg_scale == "relative":
            cost = cost_matrix(s_out["token_embeddings"], t_out["token_embeddings"], a > 0, b > 0, kind=loss.cost)
            sums["epsilon"] += float((loss.reg * cost_spread(cost, a, b)).sum())
        else:
            sums["epsilon"] += loss.reg * d.pairs
        for key in ("relative_entropy", "best_match_share", "marked_mass"):
            sums[key] += getattr(d, key) * d.pairs
        sums["loss"] += float(result.value.sum())
        worst = {"row_error": max(worst["row_error"], d.row_error),
                 "column_error": max(worst["column_error"], d.column_error),
                 "iterations": max(worst["iterations"], result.n_iter)}
        converged = converged and result.error is not None and float(result.error.max()) < loss.tol
        n += d.pairs
    return {**{key: value / n if n else None for key, value in sums.items()}, **worst, "converged": converged,
            "pairs": n}

