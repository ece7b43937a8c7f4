"""``python -m optical sweep``: the cross product of ``--grid`` axes x ``--seeds``, each point a run in
``cache/runs``, listed by ``cache/sweeps/<id>/sweep.json``; ``--resume ID`` continues a killed sweep."""

from __future__ import annotations

import argparse

from optical.cli._checks import check_sweep_args
from optical.cli._main import Subparsers
from optical.cli.run import config_from_args
from optical.config import add_config_flags, resume_refused
from optical.errors import InputError
from optical.store import Sweep, parse_seeds

# sweep's own flags that shape a new sweep; --resume keeps the sweep's own sweep.json and accepts none of them (nor
# the config flags, but --device: optical.config.resume_refused)
_NEW_SWEEP_FLAGS = ("--grid", "--seeds", "--sweep-id")


def register(sub: Subparsers) -> None:
    p = sub.add_parser("sweep", help="run a grid of settings x seeds (one run each) and print a table per point")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                   help="a dotted config key and its values, e.g. ot.reg=0.01,0.05 or bitext_pairs=50,100,all "
                        "(repeat for more axes: their cross product is swept)")
    p.add_argument("--seeds", help="comma-separated training seeds (default: 0)")
    p.add_argument("--sweep-id", help="sweep folder name under cache/sweeps; runs are named <id>_<point>_s<seed>")
    p.add_argument("--resume", metavar="ID", help="continue a killed sweep: run its points not done yet")
    add_config_flags(p, leave_out=("--seed",))  # its seeds are --seeds
    p.set_defaults(func=_sweep, seed=None)


def _sweep(args: argparse.Namespace) -> int:
    if args.resume:
        own = [flag for flag in _NEW_SWEEP_FLAGS if getattr(args, flag[2:].replace("-", "_")) is not None]
        given = own + resume_refused(args)
        if given:
            raise InputError(f"--resume continues the sweep with its own sweep.json; {', '.join(given)} cannot change "
                             "it (only --device can): drop them, or start a new sweep with --sweep-id NEW_ID")
    check_sweep_args(args)  # a bad argument fails before torch is imported
    seeds = None if args.resume else [0] if args.seeds is None else parse_seeds(args.seeds)
    from optical.config import parse_grid
    from optical.distill.distributed import world_info_from_env
    from optical.experiment import design_sweep, run_sweep, start_sweep
    from optical.results import format_sweep_report, sweep_frame

    rank, world_size, _ = world_info_from_env()
    if world_size > 1 and not (args.sweep_id or args.resume):
        raise InputError("under torchrun, pass --sweep-id ID (or --resume ID) so every process runs the same sweep")
    if args.resume:
        sweep = Sweep.load(args.resume, writable=True)
    else:
        sweep = start_sweep(design_sweep(config_from_args(args), parse_grid(args.grid), seeds, args.sweep_id))
    if rank == 0:
        print(f"sweep folder: {sweep.path} ({len(sweep.planned())} runs)", flush=True)
    run_sweep(sweep, device=args.device)
    if rank == 0:
        print(format_sweep_report(sweep, sweep_frame(sweep)))
    return 0
