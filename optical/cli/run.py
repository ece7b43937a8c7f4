"""``python -m optical run``: the whole experiment into ``cache/runs/<run-id>/``, then the headline table.

Torch is imported when the command runs, not when the CLI's parser is built (``report`` runs without it).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from optical.cli._checks import check_run_args
from optical.cli._main import Subparsers
from optical.config import add_config_flags, resume_refused
from optical.errors import InputError
from optical.store import Study, check_run_id, load_run, new_run_id, parse_seeds

# run's own flags that make a new run; --resume continues a run with its own config.json and accepts none of them
# (nor the config flags, but --device: optical.config.resume_refused)
_NEW_RUN_FLAGS = ("--seeds", "--run-id")

if TYPE_CHECKING:
    from optical.config import ExperimentConfig


def register(sub: Subparsers) -> None:
    p = sub.add_parser("run", help="run the experiment (teacher, students, evaluation) and print the table")
    add_config_flags(p)
    p.add_argument("--seeds", help="a study: one run per seed, e.g. 0,1,2 (runs ID-s0, ID-s1, ...; study folder ID)")
    p.add_argument("--run-id", help="folder name under cache/runs (default: timestamp); with --seeds the study's")
    p.add_argument("--resume", metavar="RUN",
                   help="continue a killed run (id or folder) from its checkpoints, or a study with its seeds not done")
    p.set_defaults(func=_run)


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The preset (or --config file), then each given flag on top; the models it names are found (InputError)."""
    from optical.config import ExperimentConfig, flags_over, preset
    from optical.experiment import check_models

    source = args.config or "command line"
    base = ExperimentConfig.from_file(args.config) if args.config else preset(args.preset or "full")
    config = ExperimentConfig.from_dict(flags_over(base.to_dict(), args), source)
    check_models(config, source)  # a model that cannot be found (or an ot.layer it lacks) fails before any folder
    return config


def _resumed_config(args: argparse.Namespace) -> tuple[ExperimentConfig, dict, str]:
    """The config of the run ``--resume`` names (inside cache/runs), with only ``--device`` changed; its
    ``config.json`` as written; its id."""
    from optical.config import ExperimentConfig

    _no_config_flags(args)
    run = load_run(args.resume, writable=True)
    written = run.config
    config = ExperimentConfig.from_dict(written, run.path / "config.json")
    if args.device is not None:
        config.device = args.device
    return config, written, run.run_id


def _no_config_flags(args: argparse.Namespace) -> None:
    own = [flag for flag in _NEW_RUN_FLAGS if getattr(args, flag[2:].replace("-", "_")) is not None]
    given = resume_refused(args) + own
    if given:
        raise InputError(
            f"--resume continues the run with its own config.json; {', '.join(given)} cannot change it (only --device "
            "can): drop them, or start a new run with --run-id NEW_ID"
        )


def _run(args: argparse.Namespace) -> int:
    check_run_args(args)  # a bad argument fails before torch is imported
    if args.resume:
        _no_config_flags(args)
    from optical.distill.distributed import world_info_from_env
    from optical.experiment import launch_run
    from optical.results import format_report

    _, world_size, _ = world_info_from_env()
    if world_size > 1 and not (args.run_id or args.resume):
        raise InputError("under torchrun, pass --run-id ID (or --resume ID) so every process uses the same run folder")
    if args.resume and Study.exists(args.resume) or args.seeds:
        metrics = _study(args)
    elif args.resume:
        config, written, run_id = _resumed_config(args)
        metrics = launch_run(config, run_id, written=written)
    else:
        run_id = check_run_id(args.run_id) if args.run_id is not None else new_run_id()
        metrics = launch_run(config_from_args(args), run_id)
    if metrics:
        print(format_report(metrics))
    return 0


def _study(args: argparse.Namespace) -> dict:
    """``--seeds S,...`` (a new or reopened study) or ``--resume STUDY`` (its seeds not done): ``run_study``."""
    from optical.experiment import run_study

    if args.resume:
        study = Study.load(args.resume, writable=True)
        return run_study(study.data["config"], study.study_id, study.seeds, device=args.device)
    if args.seed is not None:
        raise InputError("--seed and --seeds exclude each other: --seeds 0,1,2 runs one run per seed")
    seeds, config = parse_seeds(args.seeds), config_from_args(args)
    study_id = check_run_id(args.run_id) if args.run_id is not None else new_run_id("study")
    return run_study(config.to_dict(), study_id, seeds, device=args.device)
