"""How much alignment OPTICAL's transport plans carry at a range of epsilons, on real e5 plans: the sweep's range.

Zero-shot plans (every student starts as the teacher's text side): the converted multilingual-e5-small with a new,
untrained projection to 256 (seeded, as a new teacher starts), or a run's teacher and students (``--run``), on the
first ``--pairs`` val pairs of the stamps bitext per language (``iter_bitext("stamps", lang, split="val")``),
solved ``--batch`` pairs at a time as in training. For each epsilon, absolute (in cost units) and relative (times
each pair's cost spread, ``optical.transport.cost_spread``), it prints the figures a run records
(``optical.experiment.transport_statistics``): entropy over the uniform coupling's (1 uniform, about 0.5
one-to-one), best-match share (a foreign token's mass on its best English match), the mass on special and prefix
tokens, the mean epsilon, the largest row-marginal error at stop and the iterations, at the default cap and
tolerance (``LossConfig``: what a run trains with) and converged (``--max-iter``, same tolerance), with the time
of the solves. The exact (unregularised) plan's figures, from POT's ``ot.emd`` when installed, are the ceiling.

    OPTICAL_CACHE=/work/main/cache python bench/plans.py [--languages de,ga] [--pairs 64] [--tokens all]
    OPTICAL_CACHE=/work/main/cache python bench/plans.py --run RUN     # a run's teacher and students
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.data import iter_bitext  # noqa: E402
from optical.distill import ProjectedTextEncoder  # noqa: E402
from optical.distill.losses import PREFIX, SPECIAL, LossConfig  # noqa: E402
from optical.encoders import create_text_encoder  # noqa: E402
from optical.experiment import encode_pairs, plan_loss, transport_statistics  # noqa: E402
from optical.transport import cost_matrix, cost_spread, plan_diagnostics, uniform_marginal  # noqa: E402

ABSOLUTE = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
RELATIVE = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0)
COLUMNS = f"{'scale':<9} {'reg':>6} {'cap':>5} {'entropy':>8} {'best':>6} {'marked':>7} {'epsilon':>8} " \
          f"{'row err':>8} {'iters':>6} {'ms':>7}"


def models(args: argparse.Namespace) -> dict[str, tuple[ProjectedTextEncoder, ProjectedTextEncoder]]:
    """Method -> (student, teacher): e5 with an untrained head (zero-shot), or a run's teacher and students."""
    if args.run:
        from optical.explore import load_models
        from optical.store import load_run

        loaded = load_models(load_run(args.run))
        return {method: (model, loaded.teacher) for method, model in loaded.text_models.items()}
    torch.manual_seed(args.seed)
    teacher = ProjectedTextEncoder(create_text_encoder("multilingual-e5-small"), args.embed_dim).eval()
    return {"zero-shot (untrained head)": (teacher, teacher)}


def row(scale: str, reg: float, cap: int, stats: dict, ms: float) -> str:
    return (f"{scale:<9} {reg:>6g} {cap:>5} {stats['relative_entropy']:>8.3f} {stats['best_match_share']:>6.3f} "
            f"{stats['marked_mass']:>7.3f} {stats['epsilon']:>8.4f} {stats['row_error']:>8.1e} "
            f"{stats['iterations']:>6}{'' if stats['converged'] else '*'} {ms:>7.1f}")


def exact(batches: list, tokens: str) -> str | None:
    """The figures of the exact OT plans (POT's network simplex, pair by pair), or None without POT."""
    try:
        import ot
    except ImportError:
        return None
    loss = plan_loss(LossConfig(tokens=tokens))
    sums, n = {"relative_entropy": 0.0, "best_match_share": 0.0, "marked_mass": 0.0}, 0
    for s_out, t_out in batches:
        mask_s, _ = loss.mass(s_out)
        mask_t, _ = loss.mass(t_out)
        mask_s, mask_t = mask_s.bool(), mask_t.bool()
        cost = cost_matrix(s_out["token_embeddings"], t_out["token_embeddings"], mask_s, mask_t).double()
        a, b = uniform_marginal(mask_s, torch.float64), uniform_marginal(mask_t, torch.float64)
        plan = torch.zeros_like(cost)
        for i in range(cost.shape[0]):
            rows, cols = mask_s[i], mask_t[i]
            block = ot.emd(a[i, rows].numpy(), b[i, cols].numpy(), cost[i][rows][:, cols].numpy())
            plan[i][rows.nonzero()[:, :1], cols.nonzero()[:, 0]] = torch.from_numpy(block)
        marks = [torch.isin(out["token_roles"], torch.tensor([SPECIAL, PREFIX])) for out in (s_out, t_out)]
        d = plan_diagnostics(plan, a, b, *marks)
        for key in sums:
            sums[key] += getattr(d, key) * d.pairs
        n += d.pairs
    return (f"{'exact':<9} {'0':>6} {'-':>5} {sums['relative_entropy'] / n:>8.3f} {sums['best_match_share'] / n:>6.3f} "
            f"{sums['marked_mass'] / n:>7.3f}   (POT ot.emd: the ceiling of balanced plans with these marginals)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="de,ga", help="comma-separated foreign languages of the stamps")
    parser.add_argument("--pairs", type=int, default=64, help="val pairs per language (the first ones)")
    parser.add_argument("--batch", type=int, default=64, help="pairs solved together (the students' batch size)")
    parser.add_argument("--tokens", default="all", help="which tokens carry mass: all, no-special, content")
    parser.add_argument("--max-iter", type=int, default=5000, help="iteration cap of the converged rows")
    parser.add_argument("--run", help="a run id or folder: its teacher and students instead of e5 + a new head")
    parser.add_argument("--embed-dim", type=int, default=256, help="width of the untrained head")
    parser.add_argument("--seed", type=int, default=0, help="seed of the untrained head")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    default = LossConfig(tokens=args.tokens)
    pairs = []
    for lang in args.languages.split(","):
        found = [(foreign, english) for english, foreign in iter_bitext("stamps", lang, split="val")][: args.pairs]
        pairs += found
        print(f"{lang}: {len(found)} val pairs")
    print(f"default cap {default.n_iter}, tol {default.tol}; '*': stopped by the cap above tol; ms: the solves (and "
          f"their diagnostics) of all {len(pairs)} pairs in batches of {args.batch}")
    for method, (student, teacher) in models(args).items():
        started = time.perf_counter()
        batches = encode_pairs(student, teacher, pairs, batch_size=args.batch, name=method)
        encoded = time.perf_counter() - started
        spreads, costs = [], []
        masks = plan_loss(default)  # the tokens that carry mass under --tokens
        for s_out, t_out in batches:
            mask_s, mask_t = masks.mass(s_out)[0].bool(), masks.mass(t_out)[0].bool()
            cost = cost_matrix(s_out["token_embeddings"], t_out["token_embeddings"], mask_s, mask_t)
            a, b = uniform_marginal(mask_s, torch.float32), uniform_marginal(mask_t, torch.float32)
            spreads.append(cost_spread(cost, a, b))
            costs.append(cost[mask_s[:, :, None] & mask_t[:, None, :]])
        spread, values = torch.cat(spreads), torch.cat(costs)
        print(f"\n{method}: {len(pairs)} pairs encoded in {encoded:.1f} s; costs {values.min():.3f}-{values.max():.3f} "
              f"(mean {values.mean():.3f}); cost spread per pair {spread.min():.4f}-{spread.max():.4f} (mean "
              f"{spread.mean():.4f}): relative reg r is absolute about r x {spread.mean():.3f}")
        print(COLUMNS)
        for scale, regs in (("absolute", ABSOLUTE), ("relative", RELATIVE)):
            for reg in regs:
                for cap in (default.n_iter, args.max_iter):
                    loss = plan_loss(LossConfig(reg=reg, reg_scale=scale, n_iter=cap, tol=default.tol,
                                                tokens=args.tokens))
                    started = time.perf_counter()
                    stats = transport_statistics(batches, loss)
                    print(row(scale, reg, cap, stats, 1e3 * (time.perf_counter() - started)))
        line = exact(batches, args.tokens)
        if line:
            print(line)


if __name__ == "__main__":
    main()
