"""``python -m optical run``: the whole experiment into ``cache/runs/<run-id>/``, then the headline table.

Torch is imported when the command runs, not when the CLI's parser is built (``report`` runs without it).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from optical.errors import InputError
from optical.experiment import METHODS, format_report
from optical.paths import runs_dir
from optical.runs import Run, create_run, load_run

if TYPE_CHECKING:
    from optical.experiment import ExperimentConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the experiment (teacher, students, evaluation) and print the table")
    p.add_argument("--config", help="JSON file of ExperimentConfig settings (command-line flags override it)")
    p.add_argument("--preset", choices=["full", "quick"], default="full", help="built-in settings (default: full)")
    p.add_argument("--dataset", choices=["stamps", "multi30k"], help="benchmark (default: stamps, built in)")
    p.add_argument("--root", help="multi30k: the multi30k/dataset checkout")
    p.add_argument("--images", help="multi30k: the Flickr30k image folder")
    p.add_argument("--languages", help="comma-separated locales, e.g. de,fr,ga,zu")
    p.add_argument("--methods", help=f"comma-separated, some of: {','.join(METHODS)}")
    p.add_argument("--mt-model", help="translate-test: HF seq2seq model name or path ('{lang}' is replaced)")
    p.add_argument("--epochs", type=int, help="student epochs")
    p.add_argument("--teacher-epochs", type=int, help="teacher epochs (early stopping on val)")
    p.add_argument("--text-encoder", help="built-in name, HF name or local path of the text tower")
    p.add_argument("--ot-reg", type=float, help="OT entropic regularisation epsilon (> 0; default 0.05)")
    p.add_argument("--ot-cost", help="OT token cost: cosine (default) or sqeuclidean")
    p.add_argument("--ot-iters", type=int, help="Sinkhorn iteration cap (default 50)")
    p.add_argument("--ot-tol", type=float, help="Sinkhorn stopping tolerance on the marginals (default 1e-6)")
    p.add_argument("--ot-grad", help="OT gradient: envelope (default) or autodiff")
    p.add_argument("--mse-weight", type=float, help="optical+mse: weight of the MSE term (default 1)")
    p.add_argument("--device", help="auto (default), cpu, cuda")
    p.add_argument("--seed", type=int)
    p.add_argument("--run-id", help="folder name under cache/runs (default: timestamp)")
    p.add_argument("--resume", metavar="RUN", help="continue a killed run (id or folder) from its checkpoints")
    p.set_defaults(func=_run)


_OT_FLAGS = {"ot_reg": "reg", "ot_cost": "cost", "ot_iters": "n_iter", "ot_tol": "tol", "ot_grad": "grad",
             "mse_weight": "mse_weight"}  # argparse dest -> ExperimentConfig.ot field


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The preset (or --config file), then each given flag on top."""
    from optical.experiment import ExperimentConfig, preset

    config = ExperimentConfig.from_file(args.config) if args.config else preset(args.preset)
    data = config.to_dict()
    for key in ("dataset", "root", "images", "mt_model", "text_encoder", "device", "seed"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    for key in ("languages", "methods"):
        if getattr(args, key):
            data[key] = [x.strip() for x in getattr(args, key).split(",") if x.strip()]
    if args.epochs is not None:
        data["student"]["epochs"] = args.epochs
    if args.teacher_epochs is not None:
        data["teacher"]["epochs"] = args.teacher_epochs
    for flag, key in _OT_FLAGS.items():
        if getattr(args, flag) is not None:
            data["ot"][key] = getattr(args, flag)
    return ExperimentConfig.from_dict(data, args.config or "command line")


def _run(args: argparse.Namespace) -> int:
    from optical.distill.distributed import world_info_from_env
    from optical.experiment import ExperimentConfig, run_experiment

    rank, world_size, _ = world_info_from_env()
    if world_size > 1 and not (args.run_id or args.resume):
        raise InputError("under torchrun, pass --run-id ID (or --resume ID) so every process uses the same run folder")
    if args.resume:
        run = load_run(args.resume)
        config = ExperimentConfig.from_dict(run.config, run.path / "config.json")
        run_id, root = run.run_id, run.path.parent
    else:
        config = config_from_args(args)
        run_id, root = args.run_id, None
    if rank == 0:  # the main process writes config and status; the others only train in the same folder
        # a resumed run keeps its config.json as written (older runs have the flat OT keys)
        run = create_run(run.config if args.resume else config.to_dict(), run_id, root)
        print(f"run folder: {run.path}", flush=True)
    else:
        run = Run((root or runs_dir()) / run_id)
    metrics = run_experiment(config, run)
    if metrics:
        print(format_report(metrics))
    return 0
