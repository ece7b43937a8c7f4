"""Where the transport mass goes: share of the plan's mass and of the loss on special and prefix tokens.

On real de-en train pairs of stamps read by the converted multilingual-e5-small (both sides the same tower: a
student before distillation is the teacher's text side), for each ``tokens`` setting of the OT losses and for the
variants (IDF marginals from the whole de train bitext, unbalanced OT at a few ``reg_m``). Rows are the student's
(foreign) tokens: "boilerplate" rows are ``<s>``, ``</s>`` and the ``query:`` prefix. Also prints the scale of the
squared-Euclidean cost on these unnormalised states, against which ``reg`` is measured.

    OPTICAL_CACHE=/work/main/cache python bench/token_mass.py [--pairs 64] [--reg 0.05] [--language de]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.data import iter_bitext  # noqa: E402
from optical.distill.losses import CONTENT, PREFIX, SPECIAL  # noqa: E402
from optical.distill.losses import TokenMass, create_loss, token_ids  # noqa: E402
from optical.encoders import create_text_encoder  # noqa: E402
from optical.transport import cost_matrix  # noqa: E402


def shares(loss: torch.nn.Module, student: dict, teacher: dict) -> dict[str, float]:
    """Mass and loss shares over the batch (pairs weighted equally, as in the mean loss)."""
    res = loss.transport(student, teacher)
    plan, value = res.plan, res.value  # (B, n, m), (B,)
    cost = cost_matrix(student["token_embeddings"], teacher["token_embeddings"], student["attention_mask"],
                       teacher["attention_mask"], kind=loss.cost)
    rows_s, rows_t = student["token_roles"], teacher["token_roles"]
    boiler_s = (rows_s == SPECIAL) | (rows_s == PREFIX)  # (B, n)
    special_pair = (rows_s == SPECIAL).unsqueeze(2) & (rows_t == SPECIAL).unsqueeze(1)  # (B, n, m)
    mass = plan.sum()
    return {
        "mass kept": float(mass / plan.shape[0]),
        "mass on special+prefix rows": float(plan[boiler_s].sum() / mass),
        "special-to-special": float(plan[special_pair].sum() / mass),
        "loss from special+prefix rows": float((plan * cost).sum(2)[boiler_s].sum() / value.sum()),
        "loss": float(value.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64, help="train pairs measured")
    parser.add_argument("--reg", type=float, default=0.05, help="entropic regularisation epsilon")
    parser.add_argument("--language", default="de", help="foreign language of the stamps bitext")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    encoder = create_text_encoder("multilingual-e5-small").eval()
    bitext = list(iter_bitext("stamps", args.language, split="train"))
    english, foreign = [en for en, _ in bitext], [fo for _, fo in bitext]
    mass = TokenMass.from_bitext(encoder, token_ids(encoder, foreign), token_ids(encoder, sorted(set(english))))
    batch = bitext[: args.pairs]

    def side(texts: list[str], name: str) -> dict[str, torch.Tensor]:
        feats = encoder.tokenize(texts)
        return mass.add({**encoder(feats), "input_ids": feats["input_ids"]}, name)

    student, teacher = side([fo for _, fo in batch], "student"), side([en for en, _ in batch], "teacher")
    roles = student["token_roles"]
    real = student["attention_mask"].sum().item()
    boiler = ((roles == SPECIAL) | (roles == PREFIX)).sum().item()
    print(f"{len(batch)} {args.language}-en train pairs of stamps ({len(bitext)} in the bitext), e5-small last layer, "
          f"reg={args.reg}; foreign tokens: {real / len(batch):.1f} per sentence, {boiler / len(batch):.1f} of them "
          f"<s>, </s> or the prefix ({(roles == CONTENT).sum().item() / len(batch):.1f} content)")
    settings = [
        ("optical tokens=all (today)", "optical", {}),
        ("optical tokens=no-special", "optical", {"tokens": "no-special"}),
        ("optical tokens=content", "optical", {"tokens": "content"}),
        ("optical-idf tokens=all", "optical-idf", {}),
        ("optical-uot reg_m=10", "optical-uot", {"reg_m": 10.0}),
        ("optical-uot reg_m=1", "optical-uot", {"reg_m": 1.0}),
        ("optical-uot reg_m=0.1", "optical-uot", {"reg_m": 0.1}),
        ("optical cost=sqeuclidean", "optical", {"cost": "sqeuclidean"}),
        ("optical cost=sqeuclidean-mean", "optical", {"cost": "sqeuclidean-mean"}),
    ]
    header = ("mass kept", "mass on special+prefix rows", "special-to-special", "loss from special+prefix rows", "loss")
    print(f"{'setting':<28}" + "".join(f"{h:>31}" for h in header))
    for name, method, options in settings:
        row = shares(create_loss(method, reg=args.reg, n_iter=1000, **options), student, teacher)
        print(f"{name:<28}" + "".join(f"{row[h]:>31.3f}" for h in header))
    cos = cost_matrix(student["token_embeddings"], teacher["token_embeddings"], student["attention_mask"],
                      teacher["attention_mask"], kind="cosine")
    sq = cost_matrix(student["token_embeddings"], teacher["token_embeddings"], student["attention_mask"],
                     teacher["attention_mask"], kind="sqeuclidean")
    pairs = student["attention_mask"].bool().unsqueeze(2) & teacher["attention_mask"].bool().unsqueeze(1)
    norms = student["token_embeddings"].norm(dim=-1)[student["attention_mask"].bool()]
    print(f"cost scale over real token pairs: cosine mean {cos[pairs].mean():.3f} (range [0, 2]); sqeuclidean mean "
          f"{sq[pairs].mean():.2f}, median {sq[pairs].median():.2f}; token-state norms {norms.mean():.2f} +- "
          f"{norms.std():.2f}. With cost=sqeuclidean, reg is in these units: reg {args.reg} is "
          f"{args.reg / sq[pairs].mean():.1e} of the mean cost (cosine: {args.reg / cos[pairs].mean():.1e}).")


if __name__ == "__main__":
    main()
