"""``python -m optical run``: the whole experiment into ``cache/runs/<run-id>/``, then the headline table.

Torch is imported when the command runs, not when the CLI's parser is built (``report`` runs without it).
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from typing import TYPE_CHECKING

from optical.cli._checks import check_run_args, split_list
from optical.cli._main import Subparsers
from optical.atomic import atomic_write_json
from optical.data import BENCHMARKS
from optical.errors import InputError
from optical.experiment import METHODS, MT_SYSTEMS
from optical.paths import runs_dir
from optical.runs import Run, check_run_id, create_run, load_run, lock_run, new_run_id
from optical.studies import Study, create_study, is_study, load_study, parse_seeds, study_run_id

# Flags that make a new config; --resume continues a run with its own config.json and accepts none of them.
_CONFIG_FLAGS = (
    "config", "preset", "dataset", "root", "images", "languages", "methods", "mt", "mt_model", "bitext", "epochs",
    "teacher_epochs", "text_encoder", "seed", "seeds", "bitext_pairs", "run_id", "ot_reg", "ot_cost", "ot_iters",
    "ot_reg_scale", "ot_tol", "ot_grad", "mse_weight", "ot_tokens", "ot_reg_m", "ot_layer", "teacher",
    "student_encoder", "english_term", "weighting",
)

if TYPE_CHECKING:
    from optical.experiment import ExperimentConfig


def register(sub: Subparsers) -> None:
    p = sub.add_parser("run", help="run the experiment (teacher, students, evaluation) and print the table")
    add_config_arguments(p)
    p.add_argument("--seed", type=int, help="training seed (teacher and students: init, data order, dropout)")
    p.add_argument("--seeds", help="a study: one run per seed, e.g. 0,1,2 (runs ID-s0, ID-s1, ...; study folder ID)")
    p.add_argument("--run-id", help="folder name under cache/runs (default: timestamp); with --seeds the study's")
    p.add_argument("--resume", metavar="RUN",
                   help="continue a killed run (id or folder) from its checkpoints, or a study with its seeds not done")
    p.set_defaults(func=_run)


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The flags ``config_from_args`` reads (all but ``--seed`` and ``--run-id``); ``sweep`` takes them too."""
    p.add_argument("--config", help="JSON file of ExperimentConfig settings (command-line flags override it)")
    p.add_argument("--preset", choices=["full", "quick"], help="built-in settings (default: full)")
    p.add_argument("--dataset", choices=list(BENCHMARKS),
                   help="benchmark (default: stamps, built in; art4apps after `prepare --with art4apps`)")
    p.add_argument("--root", help="multi30k: the multi30k/dataset checkout; captions: the folder with images/ "
                                  "and captions.tsv")
    p.add_argument("--images", help="multi30k: the Flickr30k image folder")
    p.add_argument("--languages", help="comma-separated locales, e.g. de,fr,ga,zu")
    p.add_argument("--methods", help=f"comma-separated, some of: {','.join(METHODS)}")
    p.add_argument("--mt", choices=list(MT_SYSTEMS),
                   help="translate-test: hf (default, --mt-model) or apertium (every language with an installed pair)")
    p.add_argument("--mt-model", help="translate-test: HF seq2seq model name or path ('{lang}' is replaced)")
    p.add_argument("--bitext", help="extra student bitext per language, e.g. de=multi30k:PATH,fr=multi30k:PATH "
                                    "(added to the dataset's own train pairs)")
    p.add_argument("--epochs", type=int, help="student epochs")
    p.add_argument("--teacher-epochs", type=int, help="teacher epochs (early stopping on val)")
    p.add_argument("--text-encoder", help="built-in name, HF name or local path of the text tower")
    p.add_argument("--teacher", metavar="clip:NAME_OR_PATH",
                   help="a pretrained teacher used as is, not trained: any transformers CLIPModel (HF name or "
                        "folder), e.g. clip:openai/clip-vit-base-patch32; images are embedded by its vision tower")
    p.add_argument("--student-encoder", metavar="NAME_OR_PATH",
                   help="the students' text model (built-in, HF name or folder, e.g. xlm-roberta-base) plus a new "
                        "projection to the teacher's width (default: a copy of the teacher's text side)")
    p.add_argument("--ot-reg", type=float, help="OT entropic regularisation epsilon (> 0; default 0.05)")
    p.add_argument("--ot-reg-scale", choices=["absolute", "relative"],
                   help="what --ot-reg is measured in: absolute (default: the cost's units) or relative (each "
                        "pair's cost spread, the std of its doubly centred cost: the same sharpness of plan "
                        "whatever the scale of the costs) (ot.reg_scale)")
    p.add_argument("--ot-cost", help="OT token cost: cosine (default), sqeuclidean (unnormalised states; reg "
                                     "in their units) or sqeuclidean-mean (divided by its mean per pair)")
    p.add_argument("--ot-iters", type=int, help="Sinkhorn iteration cap (default 60); the marginal error at stop "
                                                "is recorded in the run's plan diagnostics")
    p.add_argument("--ot-tol", type=float, help="Sinkhorn stopping tolerance on each pair's row marginal (L2; "
                                                "default 1e-4)")
    p.add_argument("--ot-grad", help="OT gradient: envelope (default) or autodiff")
    p.add_argument("--ot-tokens", help="tokens that carry OT mass: all (default), no-special (not <s> </s>), "
                                       "content (nor the 'query:' prefix)")
    p.add_argument("--ot-reg-m", type=float, help="optical-uot: marginal relaxation tau (> 0; default 1)")
    p.add_argument("--ot-layer", type=int, metavar="K",
                   help="token states OPTICAL aligns: -1 (default) the last layer's, projected; K >= 1 the hidden "
                        "states after transformer layer K, unprojected (K must be a layer the students train)")
    p.add_argument("--bitext-pairs", type=_pairs_cap, help="at most N bitext pairs per language, or 'all' "
                   "(default): the same sample for every method and seed")
    p.add_argument("--mse-weight", type=float, help="optical+mse: weight of the MSE term (default 1)")
    p.add_argument("--weighting", choices=["scale-free", "fixed"],
                   help="optical+mse: scale-free (default: each term divided by its own value at each step, so both "
                        "gradients count whatever the terms' units) or fixed (the plain weighted sum) (ot.weighting)")
    p.add_argument("--english-term", type=_on_off, metavar="on|off",
                   help="on (default): every student also reads the English side of each pair, its loss the mean "
                        "of the foreign and the English term (the same loss against the teacher's English states), "
                        "for every method alike (mse, optical, ...); off: the foreign side only (ot.english)")
    p.add_argument("--device", help="auto (default), cpu, cuda or cuda:N; with --resume it may differ from the run's")


def _on_off(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return value == "on"


def _pairs_cap(text: str) -> int | str:
    if text.strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pairs or 'all', got {text!r}") from None


# argparse dest -> ExperimentConfig.ot field
_OT_FLAGS = {"ot_reg": "reg", "ot_reg_scale": "reg_scale", "ot_cost": "cost", "ot_iters": "n_iter", "ot_tol": "tol",
             "ot_grad": "grad", "ot_tokens": "tokens", "ot_reg_m": "reg_m", "ot_layer": "layer",
             "mse_weight": "mse_weight", "english_term": "english", "weighting": "weighting"}


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The preset (or --config file), then each given flag on top; the models it names are found (InputError)."""
    from optical.experiment import ExperimentConfig, check_models, preset

    config = ExperimentConfig.from_file(args.config) if args.config else preset(args.preset or "full")
    data = config.to_dict()
    for key in ("dataset", "root", "images", "mt", "mt_model", "text_encoder", "device", "seed"):
        if getattr(args, key, None) is not None:
            data[key] = getattr(args, key)
    for key in ("languages", "methods"):
        if getattr(args, key) is not None:
            data[key] = split_list(getattr(args, key), key)
    if args.teacher is not None:
        data["teacher_model"] = args.teacher
    if args.student_encoder is not None:
        data["student_encoder"] = args.student_encoder
    if args.bitext:
        data["bitext"] = parse_bitext_flag(args.bitext)
    if args.bitext_pairs is not None:
        data["bitext_pairs"] = None if args.bitext_pairs == "all" else args.bitext_pairs
    if args.epochs is not None:
        data["student"]["epochs"] = args.epochs
    if args.teacher_epochs is not None:
        data["teacher"]["epochs"] = args.teacher_epochs
    for flag, key in _OT_FLAGS.items():
        if getattr(args, flag) is not None:
            data["ot"][key] = getattr(args, flag)
    config = ExperimentConfig.from_dict(data, args.config or "command line")
    check_models(config)  # a teacher or student encoder that cannot be found fails before any run folder exists
    return config


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


def _resumed_config(args: argparse.Namespace) -> tuple[ExperimentConfig, dict, str]:
    """The config of the run ``--resume`` names (inside cache/runs), with only ``--device`` changed; its
    ``config.json`` as written; its id."""
    from optical.experiment import ExperimentConfig

    _no_config_flags(args)
    run = load_run(args.resume, writable=True)
    written = run.config
    config = ExperimentConfig.from_dict(written, run.path / "config.json")
    if args.device is not None:
        config.device = args.device
    return config, written, run.run_id


def _no_config_flags(args: argparse.Namespace) -> None:
    given = [f"--{key.replace('_', '-')}" for key in _CONFIG_FLAGS if getattr(args, key) is not None]
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
    from optical.experiment import format_report

    rank, world_size, _ = world_info_from_env()
    if world_size > 1 and not (args.run_id or args.resume):
        raise InputError("under torchrun, pass --run-id ID (or --resume ID) so every process uses the same run folder")
    if args.resume and is_study(args.resume) or args.seeds:
        return _study(args, rank)
    if args.resume:
        config, written, run_id = _resumed_config(args)
    else:
        config = config_from_args(args)
        run_id = check_run_id(args.run_id) if args.run_id is not None else new_run_id()
        written = config.to_dict()
    metrics = _one_run(config, written, run_id)
    if metrics:
        print(format_report(metrics))
    return 0


def _one_run(config: ExperimentConfig, written: dict, run_id: str) -> dict:
    """Run (or continue) ``run_id`` with ``config``; ``written`` is its config.json (a resumed run keeps its own:
    older runs have the flat OT keys). Returns metrics.json's content (empty on ranks other than 0)."""
    from optical.distill.distributed import resolve_device, world_info_from_env
    from optical.experiment import run_experiment

    rank, _, local_rank = world_info_from_env()
    device = resolve_device(config.device, local_rank)  # before any folder exists
    with ExitStack() as stack:
        if rank == 0:  # the main process locks the folder and writes config and status; the others only train in it
            stack.enter_context(lock_run(runs_dir() / run_id))
            run = create_run(written, run_id)
        else:
            run = Run(runs_dir() / run_id)
        try:
            if rank == 0:
                run.set_status(device=str(device))
                print(f"run folder: {run.path}", flush=True)
            return run_experiment(config, run)
        except BaseException as err:
            if rank == 0 and run.status["state"] == "running":  # raised before run_experiment recorded it
                run.mark_failed(err)
            raise


def _study(args: argparse.Namespace, rank: int) -> int:
    """``--seeds S,...`` (a new or reopened study) or ``--resume STUDY``: run every seed whose run is not done, in
    turn, then print the study's summary."""
    from optical.experiment import ExperimentConfig, format_report, summarize_runs

    if args.resume:
        _no_config_flags(args)
        study = load_study(args.resume)
        if study.path.resolve().parent != runs_dir().resolve():
            raise InputError(f"{study.path}: only studies inside {runs_dir()} can be continued (nothing is written "
                             "elsewhere)")
        seeds, base = study.seeds, study.data["config"]
    else:
        if args.seed is not None:
            raise InputError("--seed and --seeds exclude each other: --seeds 0,1,2 runs one run per seed")
        seeds, base = parse_seeds(args.seeds), config_from_args(args).to_dict()
        study_id = check_run_id(args.run_id) if args.run_id is not None else new_run_id("study")
        study = create_study(base, study_id, seeds) if rank == 0 else Study(runs_dir() / study_id)
    todo = study.missing_seeds_of(seeds)  # every process reads the same run folders before any starts
    with ExitStack() as stack:
        if rank == 0:
            stack.enter_context(lock_run(study.path))
            done = [s for s in seeds if s not in todo]
            print(f"study folder: {study.path} (seeds {seeds}; done already: {done or 'none'})", flush=True)
        for seed in todo:
            config = ExperimentConfig.from_dict({**base, "seed": seed}, study.path / "study.json")
            if args.device is not None:
                config.device = args.device
            print(f"study {study.study_id}: seed {seed}", flush=True)
            _one_run(config, config.to_dict(), study_run_id(study.study_id, seed))
    if rank == 0:
        metrics = summarize_runs(study.runs())
        atomic_write_json(study.path / "metrics.json", metrics)  # what the app's Home shows of the study
        print(format_report(metrics))
    return 0
