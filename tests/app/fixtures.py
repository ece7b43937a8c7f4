"""A tiny run folder for the app's tests and bench, built directly (no experiment run): tiny random models,
a few PNG stamps, the gallery, metrics from random ranks, transport-plan samples; plus broken runs. And the app
under streamlit's AppTest, for the page tests."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import numpy as np
import torch

from optical.config import ExperimentConfig, parse_grid
from optical.distill._models import DualEncoder, ProjectedTextEncoder
from optical.experiment import design_sweep, plan_loss, plan_statistics, sweep_run_config, transport_sample
from optical.results import RankSource, summarize_seed, write_groups, write_ranks
from optical.store import RUN_FORMAT, TEACHER_TRAINING, Run, Sweep, atomic_write_bytes, atomic_write_json
from optical.encoders import create_text_encoder
from tests.fakes import CLIP_DIM, png_bytes, tiny_towers

if TYPE_CHECKING:  # streamlit only once a page test opens the app
    from streamlit.testing.v1 import AppTest

IMAGE_DIM = CLIP_DIM  # the tiny CLIP image tower's features: the fixture's config names that tower
# (english caption, group, colour, {language: caption}) per gallery image; images 0 and 1 share a caption group
STAMPS = [
    ("a red apple", "apple", (220, 30, 30), {"de": "ein roter apfel", "fr": "une pomme rouge", "ga": "ull dearg", "zu": "i apula"}),
    ("a red apple", "apple", (200, 40, 40), {"de": "der apfel", "fr": "la pomme", "ga": "an t ull", "zu": "apula"}),
    ("the green tree", "tree", (30, 160, 60), {"de": "der gruene baum", "fr": "l arbre vert", "ga": "an crann", "zu": "isihlahla"}),
    ("a blue boat", "boat", (30, 60, 200), {"de": "ein blaues boot", "fr": "un bateau bleu", "ga": "bad gorm", "zu": "isikebhe"}),
    ("the dog", "dog", (120, 90, 40), {"de": "der hund", "fr": "le chien", "ga": "an madra", "zu": "inja"}),
    ("the cat", "cat", (90, 90, 90), {"de": "die katze", "fr": "le chat", "ga": "an cat", "zu": "ikati"}),
]
LANGUAGES = ["en", "de", "fr", "ga", "zu"]
METHODS = ["zero-shot", "mse", "optical"]
TINY_TEACHER_KEY = "0123456789abcdef"  # what the runner records in status.json (a cache/teachers key)
TINY_TEACHER_TRAINING = {"best_epoch": 3, "epochs_run": 5, "val_mR": 41.3}  # teacher/training.json


def build_runs(root: Path) -> dict[str, Path]:
    """Under ``root`` (an OPTICAL_CACHE): the tiny run ``tiny`` and the broken runs the app must explain.

    Returns run id -> folder: ``tiny`` (done, complete), ``failed`` (failed before any result), ``interrupted``
    (marked running, but its process is gone), ``old-format``
    (status of another format version), ``no-metrics`` (done, but metrics.json and models are missing).
    """
    runs = root / "runs"
    images = _write_images(root / "stamps-images")
    _tiny_run(runs / "tiny", images, root / "models")
    config = {"dataset": "stamps", "languages": LANGUAGES[1:], "methods": METHODS}
    atomic_write_json(runs / "failed" / "config.json", config)
    atomic_write_json(
        runs / "failed" / "status.json",
        {"format": RUN_FORMAT, "state": "failed", "error": "RuntimeError: out of memory", "methods_done": []},
    )
    atomic_write_json(runs / "interrupted" / "config.json", config)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    atomic_write_json(
        runs / "interrupted" / "status.json",
        {"format": RUN_FORMAT, "state": "running", "pid": dead.pid, "host": socket.gethostname(), "methods_done": []},
    )
    atomic_write_json(runs / "old-format" / "config.json", config)
    atomic_write_json(runs / "old-format" / "status.json", {"format": 0, "state": "done"})
    atomic_write_json(runs / "no-metrics" / "config.json", config)
    atomic_write_json(runs / "no-metrics" / "status.json", {"format": RUN_FORMAT, "state": "done", "methods_done": METHODS})
    return {name: runs / name for name in ("tiny", "failed", "interrupted", "old-format", "no-metrics")}


def _write_images(folder: Path) -> list[Path]:
    paths = []
    for i, (_, _, colour, _) in enumerate(STAMPS):
        path = folder / f"stamp{i}.png"
        atomic_write_bytes(path, png_bytes(colour))
        paths.append(path)
    return paths


# the evaluation "drawings" of the tiny run (as `optical eval` writes it): four of the images, English, German and
# Lakota (lkt), a language the students were not distilled on
EVAL_CAPTIONS = {
    "en": ["an apple drawing", "a tree drawing", "a boat drawing", "a dog drawing"],
    "de": ["ein apfel", "ein baum", "ein boot", "ein hund"],
    "lkt": ["taspan", "can", "wata", "sunka"],
}


def _tiny_eval(folder: Path, teacher: DualEncoder, images: list[Path], rng: np.random.Generator) -> None:
    """``RUN/evals/drawings``: eval.json, metrics.json (from random ranks) and the gallery of four images; as if
    encoded with ``--precision bf16``."""
    shown = images[2:6]
    with torch.no_grad():
        features = torch.from_numpy(rng.normal(size=(len(shown), IMAGE_DIM)).astype(np.float32))
        embeddings = teacher.encode_image_features(features).numpy().astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, embeddings)
    atomic_write_bytes(folder / "gallery.npy", buffer.getvalue())
    captions = {lang: {"texts": texts, "image": list(range(len(shown)))} for lang, texts in EVAL_CAPTIONS.items()}
    atomic_write_json(folder / "gallery.json", {"images": [str(p) for p in shown],
                                                "groups": [p.stem for p in shown], "captions": captions})
    ranks = {m: {lang: (rng.integers(0, 4, size=4), rng.integers(0, 4, size=4)) for lang in EVAL_CAPTIONS}
             for m in METHODS}
    metrics = summarize_seed(ranks, n_boot=50, seed=0)
    metrics.update({"format": 1, "eval": "drawings", "dataset": "art4apps", "distilled": LANGUAGES[1:],
                    "precision": "bf16", "complete": True, "timing": {}})
    atomic_write_json(folder / "metrics.json", metrics)
    atomic_write_json(folder / "eval.json", {"dataset": "art4apps", "root": None, "images": None,
                                             "languages": list(EVAL_CAPTIONS), "methods": METHODS,
                                             "distilled": LANGUAGES[1:], "mt": None, "device": "cpu",
                                             "precision": "bf16"})


LATE_RUN = "tiny-late"  # the late-teacher run of ``build_late_run``


def build_late_run(root: Path) -> Path:
    """Under ``root`` (an OPTICAL_CACHE): the stamp images and only the tiny run ``tiny-late``, as ``tiny`` but with
    a late-scoring teacher (``scoring="late"``): its gallery.npy holds the pooled embeddings of the images' tiny-CLIP
    features and gallery_regions.npy their 4 x 4 patch regions (R = 16), both through the teacher's image head;
    no evaluation. Returns the run folder."""
    images = _write_images(root / "stamps-images")
    return _tiny_run(root / "runs" / LATE_RUN, images, root / "models", scoring="late")


def _late_gallery(path: Path, teacher: DualEncoder, config: ExperimentConfig, images: list[Path]) -> None:
    """gallery.npy (I, D) pooled and gallery_regions.npy (I, R, D) float16 of ``images``, as a late run writes them."""
    from optical.data import open_rgb
    from optical.encoders import create_image_encoder
    from optical.scoring import Padded, pool_grid

    encoder = create_image_encoder(config.image_encoder)
    with torch.no_grad():
        pixels = torch.stack([encoder.preprocess(open_rgb(p)) for p in images])
        features, regions = encoder(pixels), pool_grid(encoder.regions(pixels), config.region_grid)
    embedded = teacher.embed_regions(Padded(regions, torch.ones(regions.shape[:2], dtype=torch.bool)))
    for name, array in (("gallery.npy", teacher.embed_images(features).numpy().astype(np.float32)),
                        ("gallery_regions.npy", embedded.values.numpy().astype(np.float16))):
        buffer = io.BytesIO()
        np.save(buffer, array)
        atomic_write_bytes(path / name, buffer.getvalue())


def _tiny_run(path: Path, images: list[Path], models: Path, scoring: str = "pooled") -> Path:
    config = ExperimentConfig(
        languages=LANGUAGES[1:], methods=METHODS, **tiny_towers(models), embed_dim=16, bootstrap=50, plan_samples=2,
        scoring=scoring,
    )
    atomic_write_json(path / "config.json", config.to_dict())
    teacher = DualEncoder(create_text_encoder(config.text_encoder), config.embed_dim, IMAGE_DIM, scoring=scoring)
    teacher.freeze(1)  # as the experiment trains it: the run folders store the delta on the tiny base
    teacher.save(path / "teacher")
    atomic_write_json(path / "teacher" / TEACHER_TRAINING, TINY_TEACHER_TRAINING)
    students: dict[str, ProjectedTextEncoder] = {"zero-shot": teacher}
    for seed, method in enumerate(METHODS[1:], start=1):
        student = teacher.text_side()
        student.freeze(1)  # as the experiment trains them: word embeddings frozen, so the app shares them
        torch.manual_seed(seed)
        with torch.no_grad():
            student.proj.weight.add_(0.5 * torch.randn_like(student.proj.weight))
        student.save(path / "students" / method)
        students[method] = student

    rng = np.random.default_rng(0)
    with torch.no_grad():
        gallery = teacher.encode_image_features(torch.from_numpy(rng.normal(size=(len(STAMPS), IMAGE_DIM)).astype(np.float32)))
    buffer = io.BytesIO()
    np.save(buffer, gallery.numpy().astype(np.float32))
    atomic_write_bytes(path / "gallery.npy", buffer.getvalue())
    if scoring == "late":  # the images' own features instead, pooled and per region
        _late_gallery(path, teacher, config, images)
    captions = {"en": {"texts": [s[0] for s in STAMPS], "image": list(range(len(STAMPS)))}}
    for lang in LANGUAGES[1:]:
        captions[lang] = {"texts": [s[3][lang] for s in STAMPS], "image": list(range(len(STAMPS)))}
    atomic_write_json(
        path / "gallery.json", {"images": [str(p) for p in images], "groups": [s[1] for s in STAMPS], "captions": captions}
    )

    ranks = {
        method: {
            lang: (rng.integers(0, 3 + 2 * i, size=len(STAMPS)), rng.integers(0, 3 + 2 * i, size=len(STAMPS)))
            for i, lang in enumerate(LANGUAGES)
        }
        for method in METHODS
    }
    loss = plan_loss(config.ot)
    pairs = [(s[3][lang], s[0]) for lang in LANGUAGES[1:] for s in STAMPS]  # as the runner's plan_diagnostics
    diagnostics = {"split": "test", "pairs": len(pairs), "languages": LANGUAGES[1:], "runs": 1,
                   "settings": {"reg": loss.reg, "reg_scale": loss.reg_scale, "n_iter": loss.n_iter, "tol": loss.tol,
                                "tokens": loss.tokens, "cost": loss.cost},
                   "methods": {m: plan_statistics(model, teacher, pairs, loss) for m, model in students.items()}}
    metrics = summarize_seed(ranks, n_boot=config.bootstrap, seed=0)
    metrics.update({"format": 1, "dataset": "stamps", "timing": {}, "complete": True, "plan_diagnostics": diagnostics})
    atomic_write_json(path / "metrics.json", metrics)

    plans = [
        {"method": method, "language": lang, **transport_sample(model, teacher, STAMPS[i][3][lang], STAMPS[i][0], loss)}
        for lang in LANGUAGES[1:]
        for i in range(config.plan_samples)
        for method, model in students.items()
    ]
    atomic_write_json(path / "plans.json", plans)
    if scoring == "pooled":
        _tiny_eval(path / "evals" / "drawings", teacher, images, rng)
    atomic_write_json(
        path / "status.json",
        {"format": RUN_FORMAT, "state": "done", "error": None, "started": 0.0, "finished": 1.0, "methods_done": METHODS,
         "teacher": TINY_TEACHER_KEY},
    )
    return path


SWEEP_GRID = ["ot.reg=0.05,0.2", "bitext_pairs=4,all"]
SWEEP_EVAL = "drawings"  # the evaluation that build_sweep gives the runs of seed 0


def build_sweep(root: Path, sweep_id: str = "tiny-sweep") -> Path:
    """Under ``root`` (an OPTICAL_CACHE): a finished 2 x 2 sweep over two seeds of tiny runs holding only their
    config, status and random test and val ranks files (what the Sweeps page reads), seed 0's runs with an evaluation
    ``SWEEP_EVAL``; returns the sweep folder."""
    base = ExperimentConfig(languages=LANGUAGES[1:], methods=METHODS, bootstrap=50)
    with mock.patch.dict(os.environ, {"OPTICAL_CACHE": str(root)}):
        sweep = Sweep.create(design_sweep(base, parse_grid(SWEEP_GRID), [0, 1], sweep_id))
        planned = sweep.planned()
    group_ids = {g: i for i, g in enumerate(dict.fromkeys(s[1] for s in STAMPS))}
    gids = np.array([group_ids[s[1]] for s in STAMPS])
    groups = [[f"stamp{i}.png" for i, s in enumerate(STAMPS) if group_ids[s[1]] == g] for g in group_ids.values()]
    rng = np.random.default_rng(1)
    for index, (point, seed, run_id) in enumerate(planned):
        run = Run(root / "runs" / run_id)
        atomic_write_json(run.path / "config.json", sweep_run_config(sweep, point, seed).to_dict())
        run.set_status(state="done", error=None, started=0.0, finished=1.0, methods_done=METHODS, sweep=sweep_id)
        for split in ("test", "val"):
            write_groups(run, split, groups)
            for m, method in enumerate(METHODS):
                spread = 2 + (index + m) % 4 + (split == "val")
                ranks = {lang: (rng.integers(0, spread, len(STAMPS)), rng.integers(0, spread, len(STAMPS)))
                         for lang in LANGUAGES}
                write_ranks(run, split, method, ranks, {lang: (gids, gids) for lang in LANGUAGES})
        if seed == 0:  # seed 0's runs evaluated on another dataset (their test ranks, as if it were one)
            folder = run.path / "evals" / SWEEP_EVAL
            shutil.copytree(run.path / "ranks" / "test", folder / "ranks")
            atomic_write_json(folder / "eval.json", {"dataset": "art4apps", "root": None, "images": None,
                                                     "languages": LANGUAGES, "methods": METHODS, "distilled": ["de"]})
            atomic_write_json(folder / "metrics.json", RankSource(evaluation=SWEEP_EVAL).summarize([run]))
    return sweep.path


# --- the app under streamlit's AppTest ---------------------------------------------------------------------------

APP = Path(__file__).resolve().parents[2] / "app.py"
TRANSPORT, RECALL, SEARCH = "pages/1_Transport_Plans.py", "pages/2_Recall_by_Language.py", "pages/3_Image_Search.py"


def open_app(page: str | None = None, run_id: str | None = None) -> AppTest:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    if run_id:
        at.session_state["run_id"] = run_id
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)
