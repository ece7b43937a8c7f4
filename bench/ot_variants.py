"""OT loss variants, forward + backward: each new loss vs the current ``optical`` loss and vs its POT reference.

Same setting as ``bench/transport.py`` (B=64, n=m=32, d=384, fp32, token states with structure, envelope
gradients, POT solving the detached cost): one row per loss, then its POT reference on the same problem with the
same tolerance and iteration cap. Where POT has a batched solver (``ot.batch.solve_batch``: balanced, any
marginals) the budget is >= 1.5x it; unbalanced OT has no batched POT solver, so its ratio to the POT per-pair
loop (``ot.unbalanced.sinkhorn_unbalanced``, ``reg_type="kl"``) is stated. The token masks use e5's layout
(``<s>``, 3 prefix tokens, content, ``</s>``); the IDF weights are drawn in [1, 6] (IDF's range on stamps).

    python bench/ot_variants.py [--device cpu|cuda] [--repeats 10] [--reg 0.05] [--reg-m 1.0] [--tol 1e-6]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import ot
import torch
from ot.batch import solve_batch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from optical.distill.losses import CONTENT, PREFIX, SPECIAL  # noqa: E402
from optical.distill.losses import create_loss  # noqa: E402
from optical.transport import cost_matrix  # noqa: E402
from transport import best_times, token_states  # noqa: E402

BUDGET_BATCH = 1.5  # required speed-up over ot.batch, where POT has a batched equivalent


def features(S: torch.Tensor, E: torch.Tensor) -> tuple[dict, dict]:
    """Encoder-style dicts for states S (B, n, d), E (B, m, d): masks, e5-like roles, IDF-like weights."""
    gen = torch.Generator().manual_seed(1)

    def side(X: torch.Tensor) -> dict:
        batch, length = X.shape[:2]
        roles = torch.full((batch, length), CONTENT, device=X.device)
        roles[:, 0], roles[:, 1:4], roles[:, -1] = SPECIAL, PREFIX, SPECIAL
        weights = (1 + 5 * torch.rand(batch, length, generator=gen)).to(X.device)
        mask = torch.ones(batch, length, dtype=torch.long, device=X.device)
        return {"token_embeddings": X, "attention_mask": mask, "token_roles": roles, "token_weights": weights}

    return side(S), side(E)


def loss_step(loss: torch.nn.Module, S: torch.Tensor, student: dict, teacher: dict) -> tuple[float, int]:
    S.grad = None
    res = loss.transport(student, teacher)
    value = res.value.mean()
    value.backward()
    return value.item(), res.n_iter


def marginals(loss: torch.nn.Module, student: dict, teacher: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised marginals (B, n), (B, m) that ``loss`` gives the solver (zeros off its mass mask)."""
    (mask_s, w_s), (mask_t, w_t) = loss.mass(student), loss.mass(teacher)
    a = (w_s if w_s is not None else mask_s).float() * mask_s
    b = (w_t if w_t is not None else mask_t).float() * mask_t
    return a / a.sum(1, keepdim=True), b / b.sum(1, keepdim=True)


def pot_batch(loss, S, student, teacher, args) -> tuple[float, int]:
    """``ot.batch`` on the same cost and marginals (balanced variants)."""
    S.grad = None
    a, b = marginals(loss, student, teacher)
    mask_s, mask_t = a > 0, b > 0
    cost = cost_matrix(student["token_embeddings"], teacher["token_embeddings"], mask_s, mask_t, kind=loss.cost)
    res = solve_batch(cost.detach(), args.reg, a, b, method="log_sinkhorn", max_iter=args.max_iter, tol=args.tol,
                      grad="detach")
    value = (res.plan * cost).sum(dim=(1, 2)).mean()
    value.backward()
    return value.item(), res.log["n_iter"] + 1


def pot_unbalanced_loop(loss, S, student, teacher, args) -> tuple[float, int]:
    """``ot.unbalanced.sinkhorn_unbalanced`` pair by pair (POT has no batched unbalanced solver)."""
    S.grad = None
    a, b = marginals(loss, student, teacher)
    cost = cost_matrix(student["token_embeddings"], teacher["token_embeddings"], kind=loss.cost)
    values, iters = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, C in enumerate(cost):
            plan, log = ot.unbalanced.sinkhorn_unbalanced(
                a[k], b[k], C.detach(), args.reg, loss.reg_m, reg_type="kl", numItermax=args.max_iter,
                stopThr=args.tol, log=True,
            )
            values.append((plan * C).sum())
            iters = max(iters, len(log["err"]))
    value = torch.stack(values).mean()
    value.backward()
    return value.item(), iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per method (best is kept)")
    parser.add_argument("--reg", type=float, default=0.05, help="entropic regularisation epsilon")
    parser.add_argument("--reg-m", type=float, default=1.0, help="unbalanced OT's marginal relaxation tau")
    parser.add_argument("--tol", type=float, default=1e-6, help="stopping tolerance, all methods")
    parser.add_argument("--max-iter", type=int, default=1000, help="iteration cap, all methods")
    parser.add_argument("--dim", type=int, default=384, help="token width d")
    parser.add_argument("--noise", type=float, default=3.0, help="teacher-state noise, as bench/transport.py")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=32, help="tokens per sentence, both sides")
    args = parser.parse_args()
    S, E = token_states(args.batch, args.length, args.length, args.dim, args.noise, args.device)
    student, teacher = features(S, E)
    common = {"reg": args.reg, "n_iter": args.max_iter, "tol": args.tol}
    variants: dict[str, tuple[torch.nn.Module, Callable, str]] = {
        "optical-idf": (create_loss("optical-idf", **common), pot_batch, "ot.batch"),
        "tokens=content": (create_loss("optical", tokens="content", **common), pot_batch, "ot.batch"),
        "tokens=no-special": (create_loss("optical", tokens="no-special", **common), pot_batch, "ot.batch"),
        "cost=sqeuclidean-mean": (create_loss("optical", cost="sqeuclidean-mean", **common), pot_batch, "ot.batch"),
        "optical-uot": (create_loss("optical-uot", reg_m=args.reg_m, **common), pot_unbalanced_loop, "POT loop"),
    }
    fns = {"optical (today)": lambda: loss_step(create_loss("optical", **common), S, student, teacher)}
    for name, (loss, reference, ref_name) in variants.items():
        fns[name] = lambda loss=loss: loss_step(loss, S, student, teacher)
        fns[f"  {ref_name} ({name})"] = lambda loss=loss, ref=reference: ref(loss, S, student, teacher, args)
    results, best = best_times(fns, args.repeats, args.device)
    print(f"device={args.device} threads={torch.get_num_threads()} B={args.batch} n=m={args.length} d={args.dim} "
          f"reg={args.reg} reg_m={args.reg_m} tol={args.tol}")
    print(f"{'loss':<36} {'wall ms':>10} {'CPU ms':>10} {'iters':>6} {'loss':>10}")
    for name in fns:
        (value, iters), (wall, cpu) = results[name], best[name]
        print(f"{name:<36} {1e3 * wall:>10.2f} {1e3 * cpu:>10.2f} {iters:>6} {value:>10.6f}")
    today = best["optical (today)"][0]
    for name, (_, _, ref_name) in variants.items():
        wall, ref = best[name][0], best[f"  {ref_name} ({name})"][0]
        verdict = f"budget >= {BUDGET_BATCH}x: {'met' if ref / wall >= BUDGET_BATCH else 'MISSED'}" if (
            ref_name == "ot.batch") else "no batched POT solver: ratio to the per-pair loop"
        print(f"{name}: {wall / today:.2f}x the time of optical (today); {ref / wall:.1f}x faster than {ref_name} "
              f"({verdict})")


if __name__ == "__main__":
    main()
