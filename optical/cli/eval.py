"""``python -m optical eval RUN [RUN ...] --dataset NAME``: a finished run's models on any dataset, into
``RUN/evals/NAME/``, then its table; several runs, a study or a sweep: each of its finished runs in turn, then their
table together (a study's: over seeds; a sweep's: per point). Torch is imported when the command runs."""

from __future__ import annotations

import argparse

from optical.cli._checks import check_eval_args
from optical.cli._main import Subparsers
from optical.config import EVAL_PRECISIONS, MT_SYSTEMS
from optical.data import BENCHMARKS
from optical.errors import InputError
from optical.store import Run, Sweep, load_run, resolve_runs


def register(sub: Subparsers) -> None:
    p = sub.add_parser("eval", help="evaluate a finished run's teacher and students on another dataset (never trains)")
    p.add_argument("run", nargs="+", help="run id (under cache/runs) or folder; several runs, a study or a sweep: "
                                          "each finished run")
    p.add_argument("--dataset", required=True, choices=list(BENCHMARKS), help="the dataset to evaluate on")
    p.add_argument("--root", help="captions: the folder with images/ and captions.tsv; multi30k: the checkout; "
                                  "stamps/art4apps: another prepared folder")
    p.add_argument("--images", help="multi30k: the Flickr30k image folder")
    p.add_argument("--languages", help="comma-separated locales (default: the run's); English is always included")
    p.add_argument("--name", help="the evaluation's folder under RUN/evals (default: the dataset's name)")
    p.add_argument("--mt", choices=list(MT_SYSTEMS), help="also evaluate translate-test with this system "
                                                          "(apertium: every language with an installed pair)")
    p.add_argument("--device", default="auto", help="auto (default: cuda when present), cpu, cuda or cuda:N")
    p.add_argument("--precision", choices=list(EVAL_PRECISIONS), default="fp32",
                   help="fp32 (default: on the run's own test split, its own ranks) or bf16 autocast for the text "
                        "encoders (about 2x faster on a CPU with avx512_bf16; recorded, and said by the report)")
    p.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    languages = check_eval_args(args)  # a bad argument (or run) fails before torch is imported
    from optical.results import RankSource, format_report, format_sweep_report, sweep_frame

    sweep = Sweep.load(args.run[0]) if len(args.run) == 1 and Sweep.exists(args.run[0]) else None
    runs = _finished_runs(sweep) if sweep is not None else resolve_runs(args.run)[0]
    name = args.name or args.dataset
    from optical.experiment import evaluate_run  # the model stack

    for i, run in enumerate(runs, start=1):
        if len(runs) > 1:
            print(f"run {i}/{len(runs)}: {run.run_id}", flush=True)
        metrics = evaluate_run(load_run(run.path, writable=True), args.dataset, languages=languages, root=args.root,
                               images=args.images, name=args.name, mt=args.mt, device=args.device,
                               precision=args.precision, say=lambda line: print(line, flush=True), progress=True)
        print(f"evaluation written to {run.path / 'evals' / name} ({metrics['timing']['eval_s']:.1f} s)\n")
    if sweep is not None:
        print(format_sweep_report(sweep, sweep_frame(sweep, evaluation=name)))
    else:
        print(format_report(metrics if len(runs) == 1 else RankSource(evaluation=name).summarize(runs)))
    return 0


def _finished_runs(sweep: Sweep) -> list[Run]:
    """The sweep's finished runs in plan order; InputError when none is."""
    runs = sweep.finished_runs()
    if not runs:
        raise InputError(f"sweep {sweep.sweep_id} has no finished run to evaluate yet")
    return runs
