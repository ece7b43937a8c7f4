"""The whole experiment: teacher -> students -> evaluation -> run folder, resumable, one process or torchrun."""

from __future__ import annotations

import csv
import io
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from optical.atomic import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text
from optical.distill._models import DualEncoder, ProjectedTextEncoder
from optical.distill._prefix import FrozenPrefix
from optical.distill._student import TeacherTargets, teacher_targets, train_student
from optical.distill._teacher import train_teacher
from optical.distill.distributed import DistInfo, barrier, init_distributed, is_main_process
from optical.distill.losses import OpticalLoss, create_loss
from optical.data import RetrievalSet
from optical.encoders import create_image_encoder, create_text_encoder
from optical.evaluate import retrieval_metrics, retrieval_ranks
from optical.experiment._config import TRAINED_METHODS, ExperimentConfig
from optical.experiment._data import ExperimentData, ImageCaptionPairs, load_experiment_data
from optical.experiment._metrics import RankPair, summarize
from optical.experiment._plans import transport_sample
from optical.experiment._teacher_data import teacher_pairs
from optical.experiment._translate import load_translator, translate
from optical.runs import Run

Progress = Callable[[float, str], None]


def run_experiment(config: ExperimentConfig, run: Run, *, progress: Progress | None = None) -> dict:
    """Run (or resume) every method of ``config`` into ``run`` and return ``metrics.json``'s content.

    ``progress(fraction, message)`` is called at each stage (the app draws it). Completed stages are reused
    when the run folder already holds them; a crash marks the run ``failed`` and re-raises.
    """
    info = init_distributed(config.device)
    report = _reporter(progress, info)
    try:
        metrics = _run(config, run, info, report)
    except BaseException as err:
        if is_main_process(info):
            run.set_status(state="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        raise
    if is_main_process(info):
        run.set_status(state="done", finished=time.time())
    return metrics


def _run(config: ExperimentConfig, run: Run, info: DistInfo, report: Progress) -> dict:
    torch.manual_seed(config.seed)
    started = time.time()
    report(0.0, "encoding images")
    image_encoder = create_image_encoder(config.image_encoder)
    data = load_experiment_data(config, image_encoder, progress=is_main_process(info))
    del image_encoder
    report(0.1, "training the teacher on English captions")
    teacher = _teacher(config, data, run, info)
    test_images = teacher.embed_images(data.test_features).numpy()
    task2_images = teacher.embed_images(data.task2_features).numpy() if data.task2 else None
    if is_main_process(info):
        _write_gallery(run, data, test_images)
    ranks: dict[str, dict[str, RankPair]] = {}
    task2_ranks: dict[str, dict[str, RankPair]] = {}
    timing: dict[str, float] = {"prepare_and_teacher_s": time.time() - started}
    methods = list(config.methods)
    ctx = _Context(config, data, teacher, run, info)
    for i, method in enumerate(methods):
        report(0.25 + 0.7 * i / len(methods), f"method {method}")
        t0 = time.time()
        encode = _method_encoder(method, ctx)
        if is_main_process(info):
            ranks[method] = {
                lang: _ranks(encode, lang, rs, data.test["en"], test_images) for lang, rs in data.test.items()
            }
            if data.task2:
                task2_ranks[method] = {
                    lang: _ranks(encode, lang, rs, data.task2["en"], task2_images) for lang, rs in data.task2.items()
                }
        timing[f"{method}_s"] = time.time() - t0
        if is_main_process(info):
            _write_metrics(run, config, ranks, timing, task2_ranks)
            run.set_status(methods_done=list(ranks))
        barrier(info)
    report(0.97, "saving transport-plan samples")
    if is_main_process(info):
        _write_plans(run, config, data, teacher, info)
    report(1.0, "done")
    return run.metrics() if is_main_process(info) else {}


def _teacher(config: ExperimentConfig, data: ExperimentData, run: Run, info: DistInfo) -> DualEncoder:
    """Load the run's teacher if finished, else train it (resuming from its checkpoint) and save it."""
    if (run.teacher_dir / "optical_model.json").is_file():
        return DualEncoder.load(run.teacher_dir).to(info.device).eval()
    text = create_text_encoder(config.text_encoder)
    teacher = DualEncoder(text, config.embed_dim, data.train.features.shape[1]).to(info.device)
    teacher.freeze(config.teacher_train_layers)
    pairs = teacher_pairs(config, data, progress=is_main_process(info))
    train_teacher(
        teacher,
        pairs.captions,
        pairs.features,
        pairs.groups,
        config.teacher,
        info,
        run.path / "work" / "teacher",
        validate=lambda: _val_mr(teacher, data.val, info),
        prefix=FrozenPrefix.for_top_layers(teacher, config.teacher_train_layers, pairs.captions),
    )
    if is_main_process(info):
        atomic_write_json(run.path / "teacher_data.json", {"counts": pairs.counts, "excluded": pairs.excluded})
    if is_main_process(info):
        with atomic_dir(run.teacher_dir) as tmp:
            teacher.save(tmp)
    barrier(info)
    return teacher.eval()


def _val_mr(teacher: DualEncoder, val: ImageCaptionPairs, info: DistInfo) -> float:
    """English val mR of the teacher (early stopping); every rank computes it so all stop together."""
    images = teacher.embed_images(val.features).numpy()
    text = teacher.encode(val.captions).numpy()  # restores the training mode it found
    t2i, i2t = retrieval_ranks(text, images, val.retrieval.caption_image, val.retrieval.image_groups)
    return retrieval_metrics(t2i, i2t)["mR"]


@dataclass
class _Context:
    """What every method of one run reads; ``shared`` holds what the first trained student builds for the rest."""

    config: ExperimentConfig
    data: ExperimentData
    teacher: DualEncoder
    run: Run
    info: DistInfo
    shared: dict = field(default_factory=dict)


def _method_encoder(method: str, ctx: _Context) -> Callable[[list[str], str], np.ndarray]:
    """A function (captions, language) -> normalised embeddings (N, D) for ``method``."""
    teacher, config, info = ctx.teacher, ctx.config, ctx.info
    if method == "zero-shot":
        return lambda texts, lang: teacher.encode(texts).numpy()
    if method == "translate-test":
        def encode(texts: list[str], lang: str) -> np.ndarray:
            if lang == "en":
                return teacher.encode(texts).numpy()
            model, tokenizer = load_translator(config.mt_model, lang, info.device)
            return teacher.encode(translate(texts, model, tokenizer)).numpy()

        return encode
    student = _student(method, ctx)
    return lambda texts, lang: student.encode(texts).numpy()


@dataclass
class _Distillation:
    """What every student shares, built once per run: pooled bitext, teacher targets, frozen-layer cache."""

    english_index: list[int]
    foreign: list[str]
    targets: TeacherTargets
    prefix: FrozenPrefix | None

    @classmethod
    def build(cls, config: ExperimentConfig, data: ExperimentData, teacher: DualEncoder) -> _Distillation:
        english: dict[str, int] = {}
        english_index, foreign = [], []
        for pairs in data.bitext.values():
            for en, fo in pairs:
                english_index.append(english.setdefault(en, len(english)))
                foreign.append(fo)
        # students start as the teacher's text side, so its frozen layers are theirs
        prefix = FrozenPrefix.for_top_layers(teacher, config.student_train_layers, foreign)
        return cls(english_index, foreign, teacher_targets(teacher, list(english)), prefix)


def _student(method: str, ctx: _Context) -> ProjectedTextEncoder:
    """Load the finished student for ``method`` or distil it from the pooled bitext of all languages."""
    config, teacher, run, info, shared = ctx.config, ctx.teacher, ctx.run, ctx.info, ctx.shared
    folder = run.student_dir(method)
    if (folder / "optical_model.json").is_file():
        return ProjectedTextEncoder.load(folder, shared_text=teacher.text).to(info.device).eval()
    if "distillation" not in shared:
        shared["distillation"] = _Distillation.build(config, ctx.data, teacher)
    d = shared["distillation"]
    student = teacher.text_side().to(info.device)
    student.freeze(config.student_train_layers)
    torch.manual_seed(config.seed)
    loss = create_loss(method, **_loss_options(method, config))
    train_student(
        student, d.targets, d.english_index, d.foreign, loss, config.student, info, run.path / "work" / method,
        desc=method, prefix=d.prefix,
    )
    if is_main_process(info):
        with atomic_dir(folder) as tmp:
            student.save(tmp)
    barrier(info)
    return student.eval()


def _loss_options(method: str, config: ExperimentConfig) -> dict:
    """The config's hyperparameters that ``create_loss(method)`` takes."""
    ot = {"reg": config.ot_reg, "cost": config.ot_cost, "n_iter": config.ot_iters}
    return {"mse": {}, "optical": ot, "optical+mse": {**ot, "mse_weight": config.mse_weight}}[method]


def _ranks(encode: Callable, lang: str, rs: RetrievalSet, gallery: RetrievalSet, images: np.ndarray) -> RankPair:
    """Ranks of language ``lang``'s test set; ``images`` (I, D) embeds ``gallery``, which holds every test image."""
    row = {p: i for i, p in enumerate(gallery.image_paths)}
    own = images[[row[p] for p in rs.image_paths]]
    return retrieval_ranks(encode(rs.captions, lang), own, rs.caption_image, rs.image_groups)


def _write_gallery(run: Run, data: ExperimentData, test_images: np.ndarray) -> None:
    """The test gallery for the app: image paths, groups, every language's captions, and embeddings (I, D)."""
    en = data.test["en"]
    row = {p: i for i, p in enumerate(en.image_paths)}
    captions = {
        lang: {"texts": list(rs.captions), "image": [row[rs.image_paths[int(i)]] for i in rs.caption_image]}
        for lang, rs in data.test.items()
    }
    atomic_write_json(
        run.path / "gallery.json",
        {"images": [str(p) for p in en.image_paths], "groups": [str(g) for g in en.image_groups], "captions": captions},
    )
    buffer = io.BytesIO()
    np.save(buffer, test_images.astype(np.float32))
    atomic_write_bytes(run.path / "gallery.npy", buffer.getvalue())


def _write_metrics(run: Run, config: ExperimentConfig, ranks: dict, timing: dict, task2_ranks: dict) -> None:
    body = summarize(ranks, n_boot=config.bootstrap, seed=config.seed)
    body.update({"format": 1, "dataset": config.dataset, "timing": timing, "complete": list(ranks) == config.methods})
    if task2_ranks:  # Multi30k's 5-caption variant (en, de): recalls and CIs, no disparity over two languages
        body["task2"] = summarize(task2_ranks, n_boot=config.bootstrap, seed=config.seed)["results"]
    atomic_write_json(run.path / "metrics.json", body)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["method", "language", "direction", "query", "rank"])
    for method, by_lang in ranks.items():
        for lang, pair in by_lang.items():
            for direction, values in zip(("t2i", "i2t"), pair):
                writer.writerows((method, lang, direction, q, int(r)) for q, r in enumerate(values))
    atomic_write_text(run.path / "ranks.csv", out.getvalue())


def _write_plans(run: Run, config: ExperimentConfig, data: ExperimentData, teacher: DualEncoder, info: DistInfo) -> None:
    """Plans of the first ``plan_samples`` test pairs per language, for zero-shot and every trained student."""
    loss = OpticalLoss(reg=config.ot_reg, cost=config.ot_cost, n_iter=config.ot_iters)
    models = {"zero-shot": teacher}
    for method in config.methods:
        if method in TRAINED_METHODS:
            models[method] = ProjectedTextEncoder.load(run.student_dir(method), shared_text=teacher.text).to(info.device)
    english = data.test["en"]
    en_by_image = {int(img): cap for cap, img in zip(english.captions, english.caption_image)}
    samples = []
    for lang, rs in data.test.items():
        if lang == "en":
            continue
        pairs = [(cap, en_by_image[int(img)]) for cap, img in zip(rs.captions, rs.caption_image) if int(img) in en_by_image]
        for foreign, en in pairs[: config.plan_samples]:
            for method, model in models.items():
                samples.append({"method": method, "language": lang, **transport_sample(model, teacher, foreign, en, loss)})
    atomic_write_json(run.path / "plans.json", samples)


def _reporter(progress: Progress | None, info: DistInfo) -> Progress:
    def report(fraction: float, message: str) -> None:
        if not is_main_process(info):
            return
        if progress is not None:
            progress(fraction, message)
        else:
            print(f"[{fraction:4.0%}] {message}", flush=True)

    return report

