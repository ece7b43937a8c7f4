"""Checks of command-line arguments that need neither torch nor transformers, so a bad argument fails at once (a
one-line error, exit status 2) instead of after seconds of imports. Each command calls its check first, then
imports the model stack; the full config validation (``ExperimentConfig.validate``) still follows."""

from __future__ import annotations

import argparse

from optical.config import check_flags, cuda_index, split_list
from optical.data import normalize_locale
from optical.errors import InputError
from optical.store import check_run_id, parse_seeds, sweeps_dir


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
        try:
            cuda_index(name)
        except InputError as err:
            raise InputError(f"{err.message} (--device)") from None


def check_refs(refs: list[str], what: str) -> None:
    """Positional run (study, sweep) references: none may be empty (an empty path would mean this folder)."""
    if any(not ref.strip() for ref in refs):
        raise InputError(f"an empty {what} was given: pass a {what} (under cache/runs or cache/sweeps) or its folder")


def check_run_args(args: argparse.Namespace) -> None:
    """``run``: ids, seeds and every config flag; ``--resume`` accepts none of the config flags."""
    check_device(args.device)
    if args.resume is not None:
        check_refs([args.resume], "run or study id")
        return  # the flags it refuses are named by the command itself
    check_flags(args)  # every config flag by its setting's rule
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
    check_flags(args)  # every config flag by its setting's rule
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
