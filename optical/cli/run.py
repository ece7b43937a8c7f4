"""``python -m optical run``: the whole experiment into ``cache/runs/<run-id>/``, then the headline table."""

from __future__ import annotations

import argparse

from optical.distill.distributed import world_info_from_env
from optical.data import BENCHMARKS
from optical.errors import InputError
from optical.experiment import ExperimentConfig, format_report, preset, run_experiment
from optical.paths import runs_dir
from optical.runs import Run, create_run, load_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the experiment (teacher, students, evaluation) and print the table")
    p.add_argument("--config", help="JSON file of ExperimentConfig settings (command-line flags override it)")
    p.add_argument("--preset", choices=["full", "quick"], default="full", help="built-in settings (default: full)")
    p.add_argument("--dataset", choices=list(BENCHMARKS),
                   help="benchmark (default: stamps, built in; art4apps after `prepare --with art4apps`)")
    p.add_argument("--root", help="multi30k: the multi30k/dataset checkout; captions: the folder with images/ "
                                  "and captions.tsv")
    p.add_argument("--images", help="multi30k: the Flickr30k image folder")
    p.add_argument("--languages", help="comma-separated locales, e.g. de,fr,ga,zu")
    p.add_argument("--methods", help="comma-separated: zero-shot,mse,optical,optical+mse,translate-test")
    p.add_argument("--mt-model", help="translate-test: HF seq2seq model name or path ('{lang}' is replaced)")
    p.add_argument("--bitext", help="extra student bitext per language, e.g. de=multi30k:PATH,fr=multi30k:PATH "
                                    "(added to the dataset's own train pairs)")
    p.add_argument("--epochs", type=int, help="student epochs")
    p.add_argument("--teacher-epochs", type=int, help="teacher epochs (early stopping on val)")
    p.add_argument("--text-encoder", help="built-in name, HF name or local path of the text tower")
    p.add_argument("--device", help="auto (default), cpu, cuda")
    p.add_argument("--seed", type=int)
    p.add_argument("--run-id", help="folder name under cache/runs (default: timestamp)")
    p.add_argument("--resume", metavar="RUN", help="continue a killed run (id or folder) from its checkpoints")
    p.set_defaults(func=_run)


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The preset (or --config file), then each given flag on top."""
    config = ExperimentConfig.from_file(args.config) if args.config else preset(args.preset)
    data = config.to_dict()
    for key in ("dataset", "root", "images", "mt_model", "text_encoder", "device", "seed"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    for key in ("languages", "methods"):
        if getattr(args, key):
            data[key] = [x.strip() for x in getattr(args, key).split(",") if x.strip()]
    if args.bitext:
        data["bitext"] = parse_bitext_flag(args.bitext)
    if args.epochs is not None:
        data["student"]["epochs"] = args.epochs
    if args.teacher_epochs is not None:
        data["teacher"]["epochs"] = args.teacher_epochs
    return ExperimentConfig.from_dict(data, args.config or "command line")


def parse_bitext_flag(text: str) -> dict[str, str]:
    """``"de=multi30k:PATH,fr=multi30k:PATH"`` -> ``{"de": "multi30k:PATH", "fr": "multi30k:PATH"}``.

    Entries are split at commas followed by ``<lang>=``, so an ``english_file,foreign_file`` source keeps its comma.
    """
    entries: list[str] = []
    for part in text.split(","):
        head = part.split("=", 1)[0].strip()
        if "=" in part and head and "/" not in head and ":" not in head or not entries:
            entries.append(part)
        else:
            entries[-1] += "," + part
    bitext = {}
    for entry in entries:
        lang, sep, source = entry.partition("=")
        if not sep or not lang.strip() or not source.strip():
            raise InputError(f"--bitext: expected 'LANG=SOURCE[,LANG=SOURCE...]', got {entry!r}")
        bitext[lang.strip()] = source.strip()
    return bitext


def _run(args: argparse.Namespace) -> int:
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
        run = create_run(config.to_dict(), run_id, root)
        print(f"run folder: {run.path}", flush=True)
    else:
        run = Run((root or runs_dir()) / run_id)
    metrics = run_experiment(config, run)
    if metrics:
        print(format_report(metrics))
    return 0
