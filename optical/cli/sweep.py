"""``python -m optical sweep``: the cross product of ``--grid`` axes x ``--seeds``, each point a run in
``cache/runs``, listed by ``cache/sweeps/<id>/sweep.json``; ``--resume ID`` continues a killed sweep."""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from optical.cli._checks import check_sweep_args
from optical.cli._main import Subparsers
from optical.cli.run import add_config_arguments, config_from_args
from optical.errors import InputError
from optical.runs import lock_run
from optical.studies import parse_seeds

# flags that shape a new sweep; --resume keeps the sweep's own sweep.json and accepts none of them but --device
_SWEEP_FLAGS = ("grid", "seeds", "sweep_id", "config", "preset", "dataset", "root", "images", "languages", "methods",
                "mt", "mt_model", "bitext", "epochs", "teacher_epochs", "text_encoder", "ot_reg", "ot_cost", "ot_iters",
                "ot_reg_scale", "ot_tol", "ot_grad", "ot_tokens", "ot_reg_m", "ot_layer", "bitext_pairs", "mse_weight",
                "teacher", "student_encoder", "english_term", "weighting")


def register(sub: Subparsers) -> None:
    p = sub.add_parser("sweep", help="run a grid of settings x seeds (one run each) and print a table per point")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                   help="a dotted config key and its values, e.g. ot.reg=0.01,0.05 or bitext_pairs=50,100,all "
                        "(repeat for more axes: their cross product is swept)")
    p.add_argument("--seeds", help="comma-separated training seeds (default: 0)")
    p.add_argument("--sweep-id", help="sweep folder name under cache/sweeps; runs are named <id>_<point>_s<seed>")
    p.add_argument("--resume", metavar="ID", help="continue a killed sweep: run its points not done yet")
    add_config_arguments(p)
    p.set_defaults(func=_sweep, seed=None)


def _sweep(args: argparse.Namespace) -> int:
    if args.resume:
        given = [f"--{key.replace('_', '-')}" for key in _SWEEP_FLAGS if getattr(args, key) is not None]
        if given:
            raise InputError(f"--resume continues the sweep with its own sweep.json; {', '.join(given)} cannot change "
                             "it (only --device can): drop them, or start a new sweep with --sweep-id NEW_ID")
    check_sweep_args(args)  # a bad argument fails before torch is imported
    seeds = None if args.resume else [0] if args.seeds is None else parse_seeds(args.seeds)
    from optical.experiment import (
        create_sweep,
        format_sweep_report,
        load_sweep,
        parse_grid,
        plan_sweep,
        run_sweep,
        sweep_frame,
    )
    from optical.paths import sweeps_dir

    if args.resume:
        sweep_id = load_sweep(sweeps_dir() / args.resume).sweep_id
    else:
        spec = plan_sweep(config_from_args(args), parse_grid(args.grid), seeds, args.sweep_id)
        sweep_id = spec["sweep_id"]
    with ExitStack() as stack:
        stack.enter_context(lock_run(sweeps_dir() / sweep_id))
        sweep = load_sweep(sweeps_dir() / sweep_id) if args.resume else create_sweep(spec)
        print(f"sweep folder: {sweep.path} ({len(sweep.planned())} runs)", flush=True)
        run_sweep(sweep, device=args.device)
    print(format_sweep_report(sweep, sweep_frame(sweep)))
    return 0
