"""The whole experiment in stages: teacher -> each method's text encoder (students distilled, resumable) ->
per-query ranks files -> summary (``metrics.json``, from the ranks files alone) and plans; one process or torchrun.

Ranks datasets: ``test`` holds the comparable sets (every language on the images captioned in every language of
the run: the headline), ``test-full`` each language's full test set, ``task2`` Multi30k's 5-caption sets.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from optical.store import Run, atomic_dir, atomic_write_json
from optical.config import METHODS, TOKEN_MODES, ExperimentConfig, Method
from optical.distill import DualEncoder, ProjectedTextEncoder
from optical.distill import FrozenPrefix
from optical.distill import TeacherTargets, teacher_targets, train_student
from optical.distill import train_teacher
from optical.distill.distributed import DistInfo, barrier, is_main_process, process_group, world_info_from_env
from optical.distill.losses import LOSSES, TokenMass, method_loss, token_ids
from optical.distill.train import TrainState
from optical.data import RetrievalSet, common_images
from optical.encoders import create_image_encoder, create_text_encoder
from optical.errors import InputError
from optical.evaluate import retrieval_metrics
from optical.experiment._data import ExperimentData, ImageCaptionPairs, load_experiment_data
from optical.experiment._model_check import new_student
from optical.experiment._pairs import english_pairs
from optical.experiment._ranking import (
    Encode,
    EvalSet,
    check_gallery,
    gallery_rows,
    method_ranks,
    score_ranks,
    teacher_gallery,
    text_encoding,
    write_gallery,
)
from optical.experiment._teacher_data import teacher_pairs
from optical.experiment._teachers import (
    link_teacher,
    remember_teacher,
    shared_inputs,
    shared_teacher,
    store_teacher,
    teacher_key,
)
from optical.experiment._translate import translate_test_encoder
from optical.experiment._transport_plans import (
    diagnostic_pairs,
    encode_pairs,
    plan_loss,
    transport_sample,
    transport_statistics,
)
from optical.results import RankSource, gallery_groups, ranks_written, write_groups, write_ranks
from optical.scoring import Padded

Progress = Callable[[float, str], None]
PARTIAL_BOOTSTRAP = 100  # bootstrap draws of the partial metrics.json written after each method but the last


def run_experiment(config: ExperimentConfig, run: Run, *, progress: Progress | None = None) -> dict:
    """Run (or resume) every method of ``config`` into ``run`` and return ``metrics.json``'s content.

    ``progress(fraction, message)`` is called at each stage (the app draws it). Completed stages are reused
    when the run folder already holds them. A crash, from the start of the process group on, marks the run
    ``failed`` (the one place that records a failure: ``launch_run`` and the sweeps call this) and re-raises. Under
    torchrun the process group is destroyed on the way out, so a crash on one rank does not leave the others
    waiting; rank 0 writes the status.
    """
    main = world_info_from_env()[0] == 0
    try:
        with process_group(config.device) as info:
            metrics = _run(config, run, info, _reporter(progress, info))
    except BaseException as err:
        if main:
            run.mark_failed(err)
        raise
    if main:
        run.set_status(state="done", finished=time.time())
        run.prune_work()
    return metrics


def _run(config: ExperimentConfig, run: Run, info: DistInfo, report: Progress) -> dict:
    torch.manual_seed(config.seed)
    started = time.time()
    main = is_main_process(info)
    report(0.0, "encoding images")
    image_encoder = create_image_encoder(config.image_encoder)
    data = load_experiment_data(config, image_encoder, progress=main)
    del image_encoder
    report(0.1, f"loading the pretrained teacher {config.clip_teacher}" if config.clip_teacher
           else "training the teacher on English captions")
    teacher, key = _teacher(config, data, run, info)
    test_images, test_paths = teacher_gallery(teacher, data.test_features, data.test_regions), data.test["en"].image_paths
    evals = {
        "test": EvalSet.build(common_images(data.test), test_images, test_paths),
        "test-full": EvalSet.build(data.test, test_images),
    }
    if data.val_foreign:  # the comparable val sets: what settings are chosen on (``report --split val``)
        val_sets = common_images({"en": data.val.retrieval, **data.val_foreign})
        evals["val"] = EvalSet.build(val_sets, teacher_gallery(teacher, data.val.features, data.val.regions),
                                     data.val.retrieval.image_paths)
    if data.task2:
        evals["task2"] = EvalSet.build(data.task2, teacher_gallery(teacher, data.task2_features, data.task2_regions))
    if main:
        write_gallery(run.path, data.test, test_images, teacher.embed_images(data.test_features).numpy())
        for name, ev in evals.items():
            write_groups(run, name, gallery_groups(ev.gallery))
    timing: dict[str, float] = {"prepare_and_teacher_s": time.time() - started}
    students: dict[str, ProjectedTextEncoder] = {}
    distillation: _Distillation | None = None  # built once, by the first student that needs training
    methods = [METHODS[name] for name in config.methods]
    for i, method in enumerate(methods):
        report(0.25 + 0.7 * i / len(methods), f"method {method.name}")
        t0 = time.time()
        if method.trained:
            if not _student_done(run, method.name) and distillation is None:
                distillation = _Distillation.shared(config, data, teacher, key)
                distillation.check_tokens(config.ot.tokens, _token_readers(methods, run), config.ot.english)
            students[method.name] = _student(method, config, teacher, distillation, run, info)
        if main:
            encode = _memoized(_encoder(method, config, teacher, students, info))  # test's captions are test-full's
            for name, ev in evals.items():
                if not ranks_written(run, name, method.name):
                    write_ranks(run, name, method.name, method_ranks(encode, ev, method.name), ev.groups)
            run.set_status(methods_done=[m.name for m in methods[: i + 1]])
            if i < len(methods) - 1:  # the app shows results as each method finishes
                partial = RankSource().summarize([run], n_boot=min(PARTIAL_BOOTSTRAP, config.bootstrap))
                _write_metrics(run, partial, timing)
        timing[f"{method.name}_s"] = time.time() - t0
        barrier(info)
    if main:
        report(0.95, "saving transport-plan samples")
        _write_plans(run, config, data, teacher, students)
        report(0.96, "measuring the transport plans")
        t0 = time.time()
        run.set_status(plan_diagnostics=_measure_plans(config, data, teacher, students))
        timing["plan_diagnostics_s"] = time.time() - t0
        report(0.97, "summarising the ranks")
        _write_metrics(run, RankSource().summarize([run]), timing)
    report(1.0, "done")
    return run.metrics() if main else {}


def _teacher(config: ExperimentConfig, data: ExperimentData, run: Run, info: DistInfo) -> tuple[DualEncoder, str]:
    """The run's teacher and its ``teacher_key`` (recorded in ``status.json``): the run's own if finished, else the
    shared one with that key (memory, then ``cache/teachers/<key>/``), else trained (resuming from the run's
    checkpoint) or, with ``teacher_model``, the pretrained CLIP model as is (``teacher_pretrained`` in
    ``status.json``), and shared. The run's ``teacher/`` folder is hard links to the shared one."""
    key = teacher_key(config, data)
    main = is_main_process(info)
    if main:
        run.set_status(teacher=key, **({"teacher_pretrained": config.teacher_model} if config.teacher_model else {}))
    if (run.teacher_dir / "optical_model.json").is_file():
        return DualEncoder.load(run.teacher_dir).to(info.device).eval(), key
    teacher = shared_teacher(key, info.device)
    if teacher is None:
        if config.clip_teacher:
            teacher, training = DualEncoder.from_clip(config.clip_teacher).to(info.device), None
        else:
            teacher, training = _train_teacher(config, data, run, info)
        if main:
            store_teacher(key, teacher, training)
        remember_teacher(key, teacher)
    if main:
        link_teacher(key, run.teacher_dir)
    barrier(info)
    return teacher.eval(), key


def _train_teacher(
    config: ExperimentConfig, data: ExperimentData, run: Run, info: DistInfo
) -> tuple[DualEncoder, dict]:
    """Train a teacher on the English train captions (early stopping on val), checkpointing in the run's work/;
    returns it with the epoch its validation chose (``_chosen``)."""
    text = create_text_encoder(config.text_encoder)
    teacher = DualEncoder(text, config.embed_dim, data.train.features.shape[1], config.scoring).to(info.device)
    teacher.freeze(config.teacher_train_layers)
    pairs = teacher_pairs(config, data, progress=is_main_process(info))
    state = train_teacher(
        teacher,
        pairs.captions,
        pairs.features,
        pairs.groups,
        config.teacher,
        info,
        run.path / "work" / "teacher",
        validate=lambda: _val_mr(teacher, data.val, info),
        prefix=FrozenPrefix.for_top_layers(teacher, config.teacher_train_layers, pairs.captions),
        regions=pairs.caption_regions() if config.scoring == "late" else None,
    )
    if is_main_process(info):
        atomic_write_json(run.path / "teacher_data.json", {"counts": pairs.counts, "excluded": pairs.excluded})
    return teacher.eval(), _chosen(state)


def _chosen(state: TrainState) -> dict:
    """What ``status.json`` (students) and ``teacher/training.json`` record of a training: the epoch validation
    chose (the last without validation), the epochs run and the best val mR."""
    return {"best_epoch": state.best_epoch or state.epoch, "epochs_run": state.epoch, "val_mR": state.best_score}


def _val_mr(teacher: DualEncoder, val: ImageCaptionPairs, info: DistInfo) -> float:
    """English val mR of the teacher by its own scoring (early stopping; ``fit`` calls it on rank 0 and broadcasts
    the score)."""
    images = check_gallery(teacher_gallery(teacher, val.features, val.regions), "teacher: the val image embeddings")
    text = text_encoding(teacher, teacher.scoring == "late")(val.captions)  # restores the training mode it found
    check_gallery(text, "teacher: the English val caption embeddings")
    t2i, i2t = score_ranks(text, images, val.retrieval.caption_image, val.retrieval.image_groups)
    return retrieval_metrics(t2i, i2t)["mR"]


@dataclass
class _Distillation:
    """What every student shares, built once per run: pooled bitext, teacher targets, frozen-layer cache."""

    english_index: list[int]
    foreign: list[str]
    english: list[str]  # the unique English sentences, rows of ``targets``
    targets: TeacherTargets
    prefix: FrozenPrefix | None  # over foreign + english
    # token roles and IDF weights over this bitext (foreign side: student, English: teacher and student-english)
    mass: TokenMass
    # each foreign language's val set and its images' embeddings (I, D), or regions (I, R, D) for a late teacher
    val: list[tuple[RetrievalSet, np.ndarray | Padded]]
    # ``ot.tokens`` mode -> the bitext sentences (quoted, with their language) in which it keeps no token
    massless: dict[str, list[str]]
    # the same for the English sentences as the students tokenize them (read with the English term, ``ot.english``)
    massless_english: dict[str, list[str]]

    @classmethod
    def build(cls, config: ExperimentConfig, data: ExperimentData, teacher: DualEncoder) -> _Distillation:
        index: dict[str, int] = {}
        english_index, foreign = [], []
        for pairs in data.bitext.values():
            for en, fo in pairs:
                english_index.append(index.setdefault(en, len(index)))
                foreign.append(fo)
        english = list(index)
        # students start as the teacher's text side (its frozen layers are theirs) or on their own encoder
        template = new_student(config, teacher).to(teacher.proj.weight.device) if config.student_encoder else teacher
        prefix = FrozenPrefix.for_top_layers(template, config.student_train_layers, foreign + english)
        val_images = teacher_gallery(teacher, data.val.features, data.val.regions)
        row = {p: i for i, p in enumerate(data.val.retrieval.image_paths)}
        val = [(rs, gallery_rows(val_images, [row[p] for p in rs.image_paths])) for rs in data.val_foreign.values()]
        targets = teacher_targets(teacher, english, layer=config.ot.layer)  # the token states OPTICAL compares
        foreign_ids = token_ids(template.text, foreign)
        # the English sentences as the students read them (the English term): the teacher's ids unless they have
        # their own encoder
        english_ids = token_ids(template.text, english) if template is not teacher else targets.input_ids
        mass = TokenMass.from_bitext(template.text, foreign_ids, targets.input_ids, teacher.text, english_ids)
        languages = [lang for lang, pairs in data.bitext.items() for _ in pairs]  # of each foreign sentence
        massless = {
            mode: list(dict.fromkeys(
                [f"{foreign[i]!r} ({languages[i]})" for i in mass.massless(foreign_ids, "student", mode)]
                + [f"{english[i]!r} (en)" for i in mass.massless(targets.input_ids, "teacher", mode)]
            ))
            for mode in TOKEN_MODES
        }
        massless_english = {
            mode: [f"{english[i]!r} (en)" for i in mass.massless(english_ids, "student-english", mode)]
            for mode in TOKEN_MODES
        }
        return cls(english_index, foreign, english, targets, prefix, mass, val, massless, massless_english)

    def check_tokens(self, tokens: str, methods: list[str], english: bool = False) -> None:
        """InputError naming the bitext sentences in which the ``ot.tokens`` mode ``tokens`` keeps no token, when
        ``methods`` (those about to train that read it) are not empty: caught before training, not by the
        transport in the middle of an epoch. ``english``: the students also read the English sentences (the
        English term), so those are checked as they tokenize them too."""
        extra = self.massless_english.get(tokens, []) if english else []
        empty = list(dict.fromkeys(self.massless.get(tokens, []) + extra))
        if not empty or not methods:
            return
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise InputError(
            f"--ot-tokens {tokens} leaves no token to transport in {len(empty)} bitext caption(s) that "
            f"{', '.join(methods)} would train on: {shown}; remove them from the bitext or use another --ot-tokens"
        )

    def val_mr(self, student: ProjectedTextEncoder, method: str = "student") -> float:
        """Mean val mR of ``student`` (of ``method``) over the foreign languages (its early stopping), against the
        teacher's val image embeddings."""
        scores = []
        for rs, images in self.val:
            text = text_encoding(student, isinstance(images, Padded))(rs.captions)
            check_gallery(text, f"{method}: the val caption embeddings")
            t2i, i2t = score_ranks(text, images, rs.caption_image, rs.image_groups)
            scores.append(retrieval_metrics(t2i, i2t)["mR"])
        return float(np.mean(scores))

    @classmethod
    def shared(
        cls, config: ExperimentConfig, data: ExperimentData, teacher: DualEncoder, key: str
    ) -> _Distillation:
        """``build``'s result, shared in this process by runs with the same teacher ``key``, bitext, student encoder,
        student layers and ``ot.layer`` (the points of a sweep that differ only in other loss settings)."""
        shared_by = [key, config.student_encoder, config.student_train_layers, data.bitext, config.ot.layer]
        digest = hashlib.sha256(json.dumps(shared_by, sort_keys=True).encode())
        return shared_inputs(f"distillation-{digest.hexdigest()}", lambda: cls.build(config, data, teacher))


def _student_done(run: Run, method: str) -> bool:
    return (run.student_dir(method) / "optical_model.json").is_file()


def _token_readers(methods: list[Method], run: Run) -> list[str]:
    """The students of ``methods`` still to train whose loss reads the ``ot.tokens`` option (the OT losses)."""
    return [m.name for m in methods if m.trained and not _student_done(run, m.name)
            and "tokens" in LOSSES[m.loss].OPTIONS]


def _student(
    method: Method, config: ExperimentConfig, teacher: DualEncoder, distillation: _Distillation | None, run: Run,
    info: DistInfo,
) -> ProjectedTextEncoder:
    """Load the finished student of ``method`` or distil it with its loss from the pooled bitext (``distillation``)."""
    folder = run.student_dir(method.name)
    if _student_done(run, method.name):
        return ProjectedTextEncoder.load(folder, shared_text=teacher.text).to(info.device).eval()
    if distillation is None:
        raise ValueError(f"student {method.name!r} needs training but no distillation inputs were built")
    torch.manual_seed(config.seed)  # before the student is built: a new projection (--student-encoder) draws from it
    student = new_student(config, teacher).to(info.device)
    student.freeze(config.student_train_layers)
    state = train_student(
        student, distillation.targets, distillation.english_index, distillation.foreign, method_loss(method, config.ot),
        config.student, info, run.path / "work" / method.name, desc=method.name, prefix=distillation.prefix,
        mass=distillation.mass, english=distillation.english,
        validate=(lambda: distillation.val_mr(student, method.name)) if distillation.val else None,
    )
    if is_main_process(info):
        with atomic_dir(folder) as tmp:
            student.save(tmp)
        # optical+mse: the first step's gradient norms of its terms and their ratio, before and after weighting
        chosen = {**_chosen(state), **({"first_step": state.first_step} if state.first_step else {})}
        run.set_status(students={**run.status.get("students", {}), method.name: chosen})
    barrier(info)
    return student.eval()


def _encoder(
    method: Method, config: ExperimentConfig, teacher: DualEncoder, students: dict[str, ProjectedTextEncoder],
    info: DistInfo,
) -> Encode:
    """How ``method`` embeds captions, by its encoder kind: the teacher, translation then the teacher, its student;
    as token states for a late teacher."""
    late = teacher.scoring == "late"
    if method.encoder == "translate":
        return translate_test_encoder(config, teacher, info.device, say=print, late=late)
    encode = text_encoding(teacher if method.encoder == "teacher" else students[method.name], late)
    return lambda texts, lang: encode(texts)


def _memoized(encode: Encode) -> Encode:
    """``encode`` that embeds each (caption, language) once: the comparable sets' captions recur in the full ones.
    A language ``encode`` cannot read (None) stays unreadable. Token states (late) are kept per caption unpadded."""
    seen: dict[tuple[str, str], np.ndarray | torch.Tensor] = {}

    def cached(texts: list[str], lang: str) -> np.ndarray | Padded | None:
        new = [t for t in dict.fromkeys(texts) if (t, lang) not in seen]
        if new:
            rows = encode(new, lang)
            if rows is None:
                return None
            seen.update(zip([(t, lang) for t in new], rows.unpadded() if isinstance(rows, Padded) else rows))
        if not texts:
            return encode(texts, lang)
        found = [seen[(t, lang)] for t in texts]
        return Padded.stack(found) if isinstance(found[0], torch.Tensor) else np.stack(found)

    return cached


def _write_metrics(run: Run, summary: dict, timing: dict) -> None:
    atomic_write_json(run.path / "metrics.json", {**summary, "timing": timing})


def _measure_plans(
    config: ExperimentConfig, data: ExperimentData, teacher: DualEncoder, students: dict[str, ProjectedTextEncoder],
) -> dict:
    """``status.json``'s ``plan_diagnostics`` (``RankSource.summarize`` carries it into ``metrics.json``): how much
    alignment the run's OT plans carry, per trained student and for the teacher as is (``zero-shot``, the
    reference), over one fixed sample of val pairs (test pairs when the run has no foreign val captions):
    ``optical.experiment.plan_statistics`` of each (the teacher's English states encoded once), and the settings
    and pairs it was measured with."""
    split = "val" if data.val_foreign else "test"
    if split == "val":
        pairs = diagnostic_pairs(data.val_foreign, data.val.retrieval)
    else:
        pairs = diagnostic_pairs({k: v for k, v in data.test.items() if k != "en"}, data.test["en"])
    loss = plan_loss(config.ot)
    # batches of similar lengths: less padding to encode (the same pairs whatever the order)
    texts = sorted(((foreign, english) for _lang, foreign, english in pairs), key=lambda p: (len(p[0]), len(p[1])))
    methods, english = {}, None
    for method, model in {"zero-shot": teacher, **students}.items():
        batches = encode_pairs(model, teacher, texts, config.ot.layer, method, config.student.batch_size, english)
        english = [t_out for _s_out, t_out in batches]  # the teacher's English states: the same for every method
        methods[method] = transport_statistics(batches, loss)
    return {
        "split": split,
        "pairs": len(pairs),
        "languages": sorted({lang for lang, _, _ in pairs}),
        "settings": {key: getattr(config.ot, key) for key in ("reg", "reg_scale", "n_iter", "tol", "tokens", "cost")},
        "methods": methods,
    }


def _write_plans(
    run: Run, config: ExperimentConfig, data: ExperimentData, teacher: DualEncoder,
    students: dict[str, ProjectedTextEncoder],
) -> None:
    """Plans of the first ``plan_samples`` test pairs per language, for the teacher as is (zero-shot) and each student
    (in memory: ``students``)."""
    loss = plan_loss(config.ot)
    teacher_methods = [name for name in config.methods if METHODS[name].encoder == "teacher"]
    models = {**{name: teacher for name in teacher_methods}, **students}
    english = data.test["en"]
    samples = []
    for lang, rs in data.test.items():
        if lang == "en":
            continue
        pairs = english_pairs(rs.captions, rs.caption_image, english.captions, english.caption_image)
        for foreign, en, _image in pairs[: config.plan_samples]:
            for method, model in models.items():
                sample = transport_sample(model, teacher, foreign, en, loss, layer=config.ot.layer, name=method)
                samples.append({"method": method, "language": lang, **sample})
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

