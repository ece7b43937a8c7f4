"""``python -m optical eval RUN --dataset NAME``: a finished run's models on any dataset, into ``RUN/evals/NAME/``,
then its table. Torch is imported when the command runs."""

from __future__ import annotations

import argparse

from optical.data import BENCHMARKS
from optical.errors import InputError
from optical.experiment import MT_SYSTEMS, format_report
from optical.runs import load_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a finished run's teacher and students on another dataset (never trains)")
    p.add_argument("run", help="run id (under cache/runs) or folder")
    p.add_argument("--dataset", required=True, choices=list(BENCHMARKS), help="the dataset to evaluate on")
    p.add_argument("--root", help="captions: the folder with images/ and captions.tsv; multi30k: the checkout; "
                                  "stamps/art4apps: another prepared folder")
    p.add_argument("--images", help="multi30k: the Flickr30k image folder")
    p.add_argument("--languages", help="comma-separated locales (default: the run's); English is always included")
    p.add_argument("--name", help="the evaluation's folder under RUN/evals (default: the dataset's name)")
    p.add_argument("--mt", choices=list(MT_SYSTEMS), help="also evaluate translate-test with this system "
                                                          "(apertium: every language with an installed pair)")
    p.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    from optical.experiment import evaluate_run

    languages = None
    if args.languages is not None:
        languages = [x.strip() for x in args.languages.split(",") if x.strip()]
        if not languages:
            raise InputError("--languages is empty: give a comma-separated list, e.g. --languages de,fr,lkt")
    run = load_run(args.run, writable=True)
    metrics = evaluate_run(run, args.dataset, languages=languages, root=args.root, images=args.images,
                           name=args.name, mt=args.mt, say=lambda line: print(line, flush=True))
    name = args.name or args.dataset
    print(f"evaluation written to {run.path / 'evals' / name} ({metrics['timing']['eval_s']:.1f} s)\n")
    print(format_report(metrics))
    return 0
