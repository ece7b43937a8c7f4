"""Checks of command-line arguments that need neither torch nor transformers, so a bad argument fails at once (a
one-line error, exit status 2) instead of after seconds of imports. Each command calls its check first, then
imports the model stack; the full config validation (``ExperimentConfig.validate``) still follows."""

from __future__ import annotations

import argparse
from pathlib import Path

from optical.data import normalize_locale
from optical.distill.config import cuda_index
from optical.errors import InputError
from optical.paths import sweeps_dir
from optical.runs import check_run_id
from optical.studies import parse_seeds

_EXAMPLES = {"languages": "de,fr,ga,zu", "methods": "zero-shot,mse,optical"}
# argparse dest -> (its config key, lowest allowed value, whether that is excluded, "an integer" or "a number"),
# as ExperimentConfig.validate bounds them; --ot-layer is -1 or >= 1 (below)
_NUMBERS = {
    "epochs": ("student.epochs", 1, False, "an integer"), "teacher_epochs": ("teacher.epochs", 1, False, "an integer"),
    "ot_iters": ("ot.n_iter", 1, False, "an integer"), "ot_reg": ("ot.reg", 0, True, "a number"),
    "ot_tol": ("ot.tol", 0, True, "a number"), "ot_reg_m": ("ot.reg_m", 0, True, "a number"),
    "mse_weight": ("ot.mse_weight", 0, False, "a number"),
}


def split_list(text: str, flag: str) -> list[str]:
    """``"de, fr,"`` -> ``["de", "fr"]``; InputError when nothing is left (``flag`` without its dashes)."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        example = _EXAMPLES.get(flag, "de,fr,lkt")
        raise InputError(f"--{flag} is empty: give a comma-separated list, e.g. --{flag} {example}")
    return items


def check_languages(text: str | None) -> list[str] | None:
    """The codes of ``--languages`` as given (None when not given); InputError for an empty list or an unknown code."""
    if text is None:
        return None
    codes = split_list(text, "languages")
    for code in codes:
        normalize_locale(code)
    return codes


def check_device(name: str | None) -> None:
    """``--device``: auto, cpu, cuda or cuda:N (whether CUDA is here is asked of torch later)."""
    if name is not None:
        cuda_index(name)


def check_refs(refs: list[str], what: str) -> None:
    """Positional run (study, sweep) references: none may be empty (an empty path would mean this folder)."""
    if any(not ref.strip() for ref in refs):
        raise InputError(f"an empty {what} was given: pass a {what} (under cache/runs or cache/sweeps) or its folder")


def check_config_args(args: argparse.Namespace) -> None:
    """The flags of ``add_config_arguments`` (and ``--device``) that can be judged without the model stack."""
    from optical.experiment import METHODS  # the method table is torch-free

    if getattr(args, "config", None) and not Path(args.config).is_file():
        raise InputError("config file not found", args.config)
    check_languages(args.languages)
    if args.methods is not None:
        bad = [m for m in split_list(args.methods, "methods") if m not in METHODS]
        if bad:
            raise InputError(f"unknown methods {bad}; expected some of {list(METHODS)}")
    check_device(args.device)
    for dest, (key, low, strict, kind) in _NUMBERS.items():
        value = getattr(args, dest, None)
        if value is not None and not (value > low if strict else value >= low):
            flag = "--" + dest.replace("_", "-")
            raise InputError(f"{key} must be {kind} {'>' if strict else '>='} {low}, got {value!r} ({flag})")
    if args.ot_layer is not None and args.ot_layer != -1 and args.ot_layer < 1:
        raise InputError(f"--ot-layer must be -1 (the last layer's projected states) or >= 1, got {args.ot_layer}")
    if isinstance(args.bitext_pairs, int) and args.bitext_pairs < 1:
        raise InputError(f"--bitext-pairs must be >= 1 or 'all', got {args.bitext_pairs}")


def check_run_args(args: argparse.Namespace) -> None:
    """``run``: ids, seeds and every config flag; ``--resume`` accepts none of the config flags."""
    check_device(args.device)
    if args.resume is not None:
        check_refs([args.resume], "run or study id")
        return  # the flags it refuses are named by the command itself
    check_config_args(args)
    if args.run_id is not None:
        check_run_id(args.run_id)
    if args.seeds is not None:
        if args.seed is not None:
            raise InputError("--seed and --seeds exclude each other: --seeds 0,1,2 runs one run per seed")
        parse_seeds(args.seeds)


def check_sweep_args(args: argparse.Namespace) -> None:
    """``sweep``: the sweep id, the seeds and every config flag (the grid is parsed by the config's types later)."""
    check_device(args.device)
    if args.resume is not None:
        check_refs([args.resume], "sweep id")
        return
    check_config_args(args)
    if args.seeds is not None:
        parse_seeds(args.seeds)  # the one seed parser: run --seeds and sweep --seeds take the same
    if args.sweep_id is not None:
        check_run_id(args.sweep_id, what="sweep id", under=sweeps_dir())
    if not args.grid:
        raise InputError("give at least one --grid KEY=V1,V2,... (e.g. --grid ot.reg=0.01,0.05,0.2), or --resume ID")


def check_eval_args(args: argparse.Namespace) -> list[str] | None:
    """``eval``: the runs, the evaluation name, the languages (returned as given, None for the run's) and the device."""
    check_refs(args.run, "run, study or sweep id")
    if args.name is not None:
        check_run_id(args.name, what="evaluation name", under="RUN/evals")
    check_device(args.device)
    return check_languages(args.languages)
