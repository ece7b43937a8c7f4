"""``evaluate_run``: a finished run's teacher (zero-shot), students and translate-test on any dataset, into
``RUN/evals/<name>/`` (layout: ``optical.results.evaluation_dir``). Eval never trains: it only reads the run's models.

Speed: the students are the teacher's text side with the bottom layers frozen, so those layers (and the word
embeddings) run once per distinct caption for all models (``encode_shared``) and only each model's top layers
run per model; image features come from the content-hash cache of ``encode_image_files``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from optical.store import Run, atomic_dir, atomic_write_json, check_run_id, lock_run
from optical.config import EVAL_PRECISIONS, METHODS, MT_SYSTEMS, ExperimentConfig
from optical.data import closest_language, evaluation_sets, normalize_locale
from optical.distill import DualEncoder, ProjectedTextEncoder
from optical.distill.distributed import resolve_device
from optical.distill.train import autocast_context
from optical.encoders import create_image_encoder, encode_image_files
from optical.errors import InputError
from optical.experiment._data import image_regions
from optical.experiment._ranking import (
    Encode,
    EvalSet,
    encode_shared,
    method_ranks,
    shared_frozen_layers,
    teacher_gallery,
    write_gallery,
)
from optical.experiment._translate import translate_test_encoder
from optical.results import RankSource, evaluation_dir, gallery_groups, write_ranks_file
from optical.scoring import Padded

TRANSLATE = "translate-test"


def evaluate_run(
    run: Run,
    dataset: str,
    *,
    languages: list[str] | None = None,
    root: str | Path | None = None,
    images: str | Path | None = None,
    name: str | None = None,
    mt: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    say: Callable[[str], None] = print,
    progress: bool = False,
) -> dict:
    """Evaluate finished ``run`` on ``dataset`` (``optical.data.BENCHMARKS``) and return the evaluation's
    ``metrics.json`` content.

    ``languages``: default the run's; English is always evaluated (the gallery). ``name``: the folder under
    ``RUN/evals/`` (default ``dataset``; an existing one is replaced). ``mt``: evaluate translate-test with this
    system (``MT_SYSTEMS``) even when the run had none; by default translate-test runs when the run had it, with
    the run's settings. ``device``: where the models run (``resolve_device``: auto, cpu, cuda, cuda:N).
    ``precision``: ``fp32`` (default: on the run's own test split the ranks are the run's own) or ``bf16``
    (autocast while the teacher and the students encode the captions: about 2x faster on a CPU with
    avx512_bf16, ranks may differ at near-ties; translate-test's translations are encoded in fp32).
    ``languages`` not given: the run's that the dataset has (those it lacks are said through ``say``); a tag the
    dataset lacks is read as its bare language when it has that (``de-DE`` as ``de``, said). ``progress``: a tqdm
    bar while the captions are encoded (the CLI's). The run folder's lock is held while writing; the folder
    appears in one rename.
    """
    if run.state != "done":
        raise InputError(f"run {run.run_id} is {run.state}: eval reads a finished run (wait for it, or "
                         f"`python -m optical run --resume {run.run_id}`)")
    name = check_run_id(name or dataset, what="evaluation name", under=run.path / "evals")
    if precision not in EVAL_PRECISIONS:
        raise InputError(f"--precision must be one of {list(EVAL_PRECISIONS)}, got {precision!r}")
    dev = resolve_device(device)
    config = ExperimentConfig.from_dict(run.config, run.path / "config.json")
    methods = list(config.methods)
    if mt is not None:
        if mt not in MT_SYSTEMS:
            raise InputError(f"--mt must be one of {list(MT_SYSTEMS)}, got {mt!r}")
        if mt == "hf" and not config.mt_model:
            raise InputError("--mt hf needs the run to have an --mt-model; use --mt apertium")
        config.mt = mt
        methods += [TRANSLATE] if TRANSLATE not in methods else []
    wanted = [normalize_locale(lang) for lang in (languages or config.languages)]
    codes = ["en", *dict.fromkeys(lang for lang in wanted if lang != "en")]
    started = time.time()

    def log(line: str) -> None:
        say(f"[{time.time() - started:6.1f} s] {line}")

    log(f"loading {dataset} ({', '.join(codes)})")
    sets = evaluation_sets(dataset, codes, root, images, available_only=True)
    codes = _languages_read(codes, list(sets), dataset, given=languages is not None, say=log)
    for lang, rs in sets.items():
        if not rs.captions:
            raise InputError(f"dataset {dataset!r} has no captions in {lang!r} to evaluate; drop it from --languages "
                             f"(`python -m optical data stats --dataset {dataset}` lists its languages)")
    log(f"encoding {len(sets['en'].image_paths)} images with {config.image_encoder} (cached by content hash)")
    image_encoder = create_image_encoder(config.image_encoder)
    features = torch.from_numpy(encode_image_files(sets["en"].image_paths, image_encoder, progress=False))
    teacher = DualEncoder.load(run.teacher_dir).to(dev).eval()
    late = teacher.scoring == "late"
    regions = image_regions(sets["en"].image_paths, image_encoder, config.region_grid) if late else None
    ev = EvalSet.build(sets, teacher_gallery(teacher, features, regions))
    students = {
        m: ProjectedTextEncoder.load(run.student_dir(m), shared_text=teacher.text).to(dev).eval()
        for m in methods if METHODS[m].trained and (run.student_dir(m) / "optical_model.json").is_file()
    }
    methods = [m for m in methods if not METHODS[m].trained or m in students]
    with autocast_context(dev, precision):
        encoders = _encoders(methods, config, teacher, students, ev, dev, log, progress)
    distilled = [lang for lang in dict.fromkeys(normalize_locale(x) for x in config.languages) if lang != "en"]
    settings = {
        "dataset": dataset,
        "root": str(root) if root else None,
        "images": str(images) if images else None,
        "languages": codes,
        "methods": methods,
        "distilled": distilled,
        "mt": config.mt if TRANSLATE in methods else None,
        "device": str(dev),
        "precision": precision,
    }
    ranked = {m: method_ranks(encoders[m], ev, m) for m in methods}
    log("ranked; writing the evaluation and its summary (bootstrap)")
    folder = evaluation_dir(run, name)
    with lock_run(run.path), atomic_dir(folder) as tmp:
        for method, ranks in ranked.items():
            write_ranks_file(tmp / "ranks", method, ranks, ev.groups)
        atomic_write_json(tmp / "ranks" / "groups.json", gallery_groups(ev.gallery))
        atomic_write_json(tmp / "eval.json", settings)
        write_gallery(tmp, sets, ev.images, teacher.embed_images(features).numpy())
        # summarised from the staged ranks files: metrics.json is exactly what `report --eval` recomputes
        summary = RankSource(evaluation=name, folder=tmp).summarize([run])
        metrics = {**summary, "timing": {"eval_s": time.time() - started}}
        atomic_write_json(tmp / "metrics.json", metrics)
    return metrics


def _languages_read(codes: list[str], found: list[str], dataset: str, *, given: bool,
                    say: Callable[[str], None]) -> list[str]:
    """The languages evaluated: ``found`` (what ``evaluation_sets(..., available_only=True)`` read of ``codes``).
    A code read as its bare language is said; one the dataset lacks is an error when ``--languages`` named it (or
    it is English, or nothing but English is left), else said and left out (the run's languages by default)."""
    lacking = [code for code in codes if closest_language(code, found) is None]
    if lacking and (given or "en" in lacking or found == ["en"]):
        which = "--languages" if given else "the run's languages (give some it has with --languages)"
        raise InputError(f"dataset {dataset!r} has no captions in {', '.join(lacking)} to evaluate; drop "
                         f"{'it' if len(lacking) == 1 else 'them'} from {which}; `python -m optical data stats "
                         f"--dataset {dataset}` lists its languages")
    for code in codes:
        read = closest_language(code, found)
        if read not in (None, code):
            say(f"note: {dataset} has no {code} captions; evaluating {read} instead")
    if lacking:
        say(f"note: {dataset} has no captions in {', '.join(lacking)} of the run's languages; evaluating "
            f"{', '.join(found)}")
    return found


def _encoders(
    methods: list[str], config: ExperimentConfig, teacher: DualEncoder, students: dict[str, ProjectedTextEncoder],
    ev: EvalSet, device: torch.device, say: Callable[[str], None], progress: bool = False,
) -> dict[str, Encode]:
    """Each method's ``Encode``: the teacher and the students from embeddings computed once for every caption of
    ``ev`` with the shared frozen layers run once; translate-test through its translator and the teacher. A late
    teacher's methods give token states."""
    models: dict[str, ProjectedTextEncoder] = {"teacher": teacher, **students}
    late = teacher.scoring == "late"
    n_frozen = shared_frozen_layers(list(models.values()))
    texts = [t for rs in ev.sets.values() for t in rs.captions]
    say(f"encoding {len(texts)} captions with {len(models)} models ({n_frozen} shared bottom layers run once) on "
        f"{device}{' in bf16' if torch.is_autocast_enabled(device.type) else ''}"
        f"{': token states (late)' if late else ''}")
    embedded = encode_shared(models, texts, n_frozen, progress=progress, tokens=late)
    offsets, start = {}, 0
    for lang, rs in ev.sets.items():
        offsets[lang] = (start, start + len(rs.captions))
        start += len(rs.captions)

    def lookup(key: str) -> Encode:
        def rows(_texts: list[str], lang: str) -> np.ndarray | Padded:
            start, stop = offsets[lang]
            found = embedded[key]
            return found.rows(range(start, stop)) if isinstance(found, Padded) else found[start:stop]
        return rows

    encoders: dict[str, Encode] = {}
    for m in methods:
        kind = METHODS[m].encoder
        if kind == "translate":
            encoders[m] = translate_test_encoder(config, teacher, device, say=say, late=late)
        else:
            encoders[m] = lookup("teacher" if kind == "teacher" else m)
    return encoders
