"""Batched OT loss, forward + backward: ours vs a POT per-pair loop vs POT's ``ot.batch`` (design section 7).

Budget: at B=64, n=m=32, d=384, fp32, same ``reg`` and tolerance, ours >= 20x the loop and >= 1.5x
``ot.batch``. Each step builds the cosine cost from the token states, solves, averages <T, C> over the
pairs and backpropagates into the student states; all three use the envelope gradient (plan held fixed;
POT solves on the detached cost, its cheapest mode). The teacher states are a token permutation of the
student's plus noise, so the plans have structure (``--noise 3``: about 200 iterations at the first size,
where a POT loop takes 0.3-1 s as in the design; less noise, sharper plans, more iterations). Times are
the best of ``--repeats`` interleaved runs, wall clock and process CPU time (steadier on a shared
machine); ratios are from that one run.

    python bench/transport.py [--device cpu|cuda] [--repeats 10] [--reg 0.05] [--tol 1e-6]
    python bench/transport.py --max-iter 60 --tol 1e-4 --baseline 50,1e-6   # a setting against another, ours alone

``--baseline N,TOL`` also times ours with ``n_iter=N, tol=TOL`` (interleaved with the rest) and prints the time of
ours over it: what a change of the default cap and tolerance costs. ``error`` is ours' largest row-marginal error at
stop (``TransportResult.error``).

Without POT installed (the GPU check's machine: its 33 MB wheel does not travel) it times ours alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

try:
    import ot
    from ot.batch import solve_batch
except ImportError:  # ours alone
    ot = None

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optical.transport import cost_matrix, sinkhorn_plan  # noqa: E402

SIZES = ((64, 32, 32), (256, 64, 64))  # (B, n, m)
BUDGET = {"POT loop": 20.0, "ot.batch": 1.5}  # required speed-up of ours, at the first size


def token_states(batch: int, n: int, m: int, dim: int, noise: float, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Student states S (B, n, d) and teacher states E (B, m, d), E a noisy token permutation of S."""
    gen = torch.Generator().manual_seed(0)
    S = torch.randn(batch, n, dim, generator=gen)
    picks = torch.stack([torch.randperm(max(n, m), generator=gen)[:m] % n for _ in range(batch)])  # (B, m)
    E = S.gather(1, picks[:, :, None].expand(-1, -1, dim)) + noise * torch.randn(batch, m, dim, generator=gen)
    return S.to(device).requires_grad_(True), E.to(device)


def ours(S: torch.Tensor, E: torch.Tensor, reg: float, tol: float, max_iter: int) -> tuple[float, int, float]:
    res = sinkhorn_plan(cost_matrix(S, E), reg, n_iter=max_iter, tol=tol)
    loss = res.value.mean()
    loss.backward()
    return loss.item(), res.n_iter, float(res.error.max())


def pot_loop(S: torch.Tensor, E: torch.Tensor, reg: float, tol: float, max_iter: int) -> tuple[float, int]:
    cost = cost_matrix(S, E)  # (B, n, m)
    values, iters = [], 0
    for C in cost:
        a = torch.full((C.shape[0],), 1 / C.shape[0], device=C.device)
        b = torch.full((C.shape[1],), 1 / C.shape[1], device=C.device)
        plan, log = ot.sinkhorn(
            a, b, C.detach(), reg, method="sinkhorn_log", numItermax=max_iter, stopThr=tol, log=True
        )
        values.append((plan * C).sum())
        iters = max(iters, log["niter"] + 1)
    loss = torch.stack(values).mean()
    loss.backward()
    return loss.item(), iters


def pot_batch(S: torch.Tensor, E: torch.Tensor, reg: float, tol: float, max_iter: int) -> tuple[float, int]:
    cost = cost_matrix(S, E)
    res = solve_batch(cost.detach(), reg, method="log_sinkhorn", max_iter=max_iter, tol=tol, grad="detach")
    loss = (res.plan * cost).sum(dim=(1, 2)).mean()
    loss.backward()
    return loss.item(), res.log["n_iter"] + 1


METHODS: dict[str, Callable[..., tuple]] = {"ours": ours}  # (loss, iterations[, error at stop])
if ot is not None:
    METHODS.update({"POT loop": pot_loop, "ot.batch": pot_batch})


def best_times(
    fns: dict[str, Callable[[], tuple]], repeats: int, device: str
) -> tuple[dict[str, tuple], dict[str, tuple[float, float]]]:
    """(loss, iterations) of a warm-up call and the best (wall, CPU) seconds of ``repeats`` interleaved calls."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    results = {name: fn() for name, fn in fns.items()}  # warm-up
    best = {name: (float("inf"), float("inf")) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            sync()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return results, best


def bench_size(batch: int, n: int, m: int, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds of fwd+bwd per method at one size; prints one table row per method."""
    S, E = token_states(batch, n, m, args.dim, args.noise, args.device)
    methods = {"ours": METHODS["ours"]} if args.baseline else METHODS
    fns = {name: (lambda fn=fn: fn(S, E, args.reg, args.tol, args.max_iter)) for name, fn in methods.items()}
    if args.baseline:
        fns[BASELINE] = lambda: ours(S, E, args.reg, args.baseline[1], args.baseline[0])
    results, best = best_times(fns, args.repeats, args.device)
    for name in fns:
        loss, iters, *error = results[name]
        wall, cpu = best[name]
        shown = f"{error[0]:>9.1e}" if error else f"{'-':>9}"
        print(f"{batch:>4} {n:>4} {m:>4} {name:<9} {1e3 * wall:>10.2f} {1e3 * cpu:>10.2f} {iters:>6} {loss:>10.6f} "
              f"{shown}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per method (best is kept)")
    parser.add_argument("--reg", type=float, default=0.05, help="entropic regularisation epsilon")
    parser.add_argument("--tol", type=float, default=1e-6, help="marginal tolerance (L2), all methods")
    parser.add_argument("--max-iter", type=int, default=1000, help="iteration cap, all methods")
    parser.add_argument("--dim", type=int, default=384, help="token width d")
    parser.add_argument(
        "--noise", type=float, default=3.0, help="teacher-state noise (less: sharper plans, more iterations)"
    )
    parser.add_argument("--baseline", type=_setting, metavar="N,TOL",
                        help="also time ours at n_iter=N, tol=TOL and print ours' time over it (POT is left out)")
    args = parser.parse_args()
    print(f"device={args.device} threads={torch.get_num_threads()} reg={args.reg} tol={args.tol} d={args.dim}", end=" ")
    print(f"noise={args.noise}")
    print(f"{'B':>4} {'n':>4} {'m':>4} {'method':<9} {'wall ms':>10} {'CPU ms':>10} {'iters':>6} {'loss':>10} "
          f"{'error':>9}")
    ratios, against = [], []
    for size in SIZES:
        best = bench_size(*size, args)
        if args.baseline:
            against.append((size, [best["ours"][k] / best[BASELINE][k] for k in (0, 1)]))
            continue
        if ot is None:
            continue
        ratios.append((size, {name: [best[name][k] / best["ours"][k] for k in (0, 1)] for name in BUDGET}))
    for (batch, n, m), ratio in ratios:
        print(
            f"B={batch} n={n} m={m}: "
            + ", ".join(f"ours is {wall:.1f}x {name} (CPU time {cpu:.1f}x)" for name, (wall, cpu) in ratio.items())
        )
    if args.baseline:
        n_iter, tol = args.baseline
        for (batch, n, m), (wall, cpu) in against:
            print(f"B={batch} n={n} m={m}: ours (n_iter={args.max_iter}, tol={args.tol}) takes {wall:.2f}x the time "
                  f"of n_iter={n_iter}, tol={tol} (CPU time {cpu:.2f}x)")
        return
    if ot is None:
        print("POT is not installed: ours alone, no ratios")
        return
    first = ratios[0][1]
    print(
        "budget (first size, wall): "
        + ", ".join(f"{name} >= {x}x: {'met' if first[name][0] >= x else 'MISSED'}" for name, x in BUDGET.items())
    )


BASELINE = "baseline"


def _setting(text: str) -> tuple[int, float]:
    """``--baseline N,TOL`` -> (N, TOL)."""
    n_iter, _, tol = text.partition(",")
    try:
        return int(n_iter), float(tol)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N,TOL (e.g. 50,1e-6), got {text!r}") from None


if __name__ == "__main__":
    main()
