"""Reading run folders for the app: an overview of every run, its metrics, its models and its test gallery.

Heavy modules (torch, transformers) are imported inside the functions that load models, so listing runs
and drawing their tables stays fast (the app's Home renders before any model is loaded).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from optical.errors import OpticalError
from optical.results import evaluation_dir, evaluation_gallery, evaluation_metrics, list_evaluations
from optical.store import Run, RunFormatError, gallery_images, list_runs, missing_images

if TYPE_CHECKING:
    import faiss

    from optical.distill import DualEncoder, ProjectedTextEncoder


@dataclass
class RunInfo:
    """One line of the run overview: ``state`` is ``Run.state`` (running | done | failed | interrupted), or
    unreadable with ``error`` set."""

    run_id: str
    path: Path
    state: str
    methods_done: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    dataset: str | None = None
    started: float | None = None
    error: str | None = None
    has_results: bool = False  # metrics.json exists (partial while running)
    metrics_error: str | None = None  # why metrics.json does not read (``Run.metrics``), None when it does

    @property
    def label(self) -> str:
        return f"{self.run_id} ({self.state})"

    @property
    def problem(self) -> str:
        """What is wrong with the run, in one line (the runs table's "problem" column): its error, why its
        metrics.json does not read, or that it has none yet; empty for a readable run."""
        if self.error or self.metrics_error:
            return "; ".join(e for e in (self.error, self.metrics_error) if e)
        return "" if self.has_results else "no results yet (no metrics.json)"


def describe_runs(root: Path | None = None, *, check_metrics: bool = True) -> list[RunInfo]:
    """Every run folder under ``cache/runs`` (newest first), unreadable ones included with their error;
    ``check_metrics``: read each metrics.json to say why one does not read (``RunInfo.metrics_error``)."""
    infos = []
    for run in list_runs(root):
        try:
            status, state, config = run.status, run.state, run.config
        except RunFormatError as err:
            infos.append(RunInfo(run.run_id, run.path, "unreadable", error=str(err)))
            continue
        has_results = (run.path / "metrics.json").is_file()
        infos.append(
            RunInfo(
                run.run_id,
                run.path,
                state,
                methods_done=list(status.get("methods_done") or []),
                languages=list(config.get("languages") or []),
                dataset=config.get("dataset"),
                started=status.get("started"),
                error=status.get("error"),
                has_results=has_results,
                metrics_error=_metrics_error(run) if has_results and check_metrics else None,
            )
        )
    return infos


def _metrics_error(run: Run) -> str | None:
    """Why ``run``'s metrics.json does not read (format, missing keys, corrupt JSON), None when it does."""
    try:
        run.metrics()
    except RunFormatError as err:
        return str(err)
    return None


def default_run(infos: list[RunInfo]) -> RunInfo:
    """The run the pages open on: the newest finished run whose metrics.json reads (``Run.metrics``); without
    one, the newest with results, else the newest. ``infos`` is ``describe_runs`` output (newest first, not empty)."""
    for info in infos:
        if info.state == "done" and info.has_results:
            try:
                Run(info.path).metrics()
            except RunFormatError:
                continue
            return info
    return next((info for info in infos if info.has_results), infos[0])


def resource_fit(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Points and least-squares lines of a metric against log10 CC-100 size, per method.

    ``table`` is ``optical.results.recall_table`` output. English and languages without a size (unseen by
    XLM-R) are left out, as in ``optical.evaluate.disparity``. Returns ``(points, fits)``: points with a
    ``log10_gib`` column; fits with ``method, slope, intercept, n`` (slope: points per 10x more data).
    """
    from optical.evaluate import log_size_fit

    points = table[(table["language"] != "en") & table["cc100_gib"].notna()].copy()
    points["log10_gib"] = np.log10(points["cc100_gib"].astype(float))
    rows = []
    for method, group in points.groupby("method", sort=False):
        fit = log_size_fit(group["value"].to_numpy()[None, :], group["cc100_gib"].astype(float).to_numpy())
        slope, intercept = float(fit["slope"][0]), float(fit["intercept"][0])
        if np.isfinite(slope):
            rows.append({"method": method, "slope": slope, "intercept": intercept, "n": len(group)})
    return points, pd.DataFrame(rows, columns=["method", "slope", "intercept", "n"])


@dataclass
class RunModels:
    """The models of one run: the teacher (``zero-shot`` is the teacher applied to any language) and students."""

    teacher: DualEncoder
    students: dict[str, ProjectedTextEncoder]
    config: dict

    @property
    def text_models(self) -> dict[str, ProjectedTextEncoder]:
        """Method -> text model: ``zero-shot`` (the teacher) first, then each student."""
        return {"zero-shot": self.teacher, **self.students}


def load_models(run: Run) -> RunModels:
    """Load the teacher and every finished student; students share the teacher's frozen word embeddings.

    A model folder that is missing, of another format or damaged raises an OpticalError naming it.
    """
    from optical.config import METHODS
    from optical.distill import DualEncoder, ProjectedTextEncoder

    config = run.config
    if not (run.teacher_dir / "optical_model.json").is_file():
        raise RunFormatError(f"{run.teacher_dir}: the run has no teacher yet (incomplete or failed run)")
    teacher = _load(DualEncoder.load, run.teacher_dir)
    students = {
        method: _load(ProjectedTextEncoder.load, run.student_dir(method), shared_text=teacher.text)
        for method in config.get("methods", [])
        if method in METHODS and METHODS[method].trained and (run.student_dir(method) / "optical_model.json").is_file()
    }
    return RunModels(teacher, students, config)


def _load(loader, folder: Path, **kwargs):
    """``loader(folder)`` in eval mode, with errors of damaged folders (not OpticalErrors) turned into one."""
    try:
        return loader(folder, **kwargs).eval()
    except OpticalError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise RunFormatError(f"{folder}: cannot load the model ({type(err).__name__}: {err})") from None


@dataclass
class Gallery:
    """A run's test gallery: image files, groups of interchangeable images, captions per language, embeddings.

    ``embeddings`` (I, D) are the teacher's L2-normalised image embeddings; ``captions[lang]`` holds
    ``texts`` (Q,) and ``image`` (Q,) indices into ``images``. ``missing``: why some image files cannot be shown
    (naming the folder to restore), None when all are here. ``regions`` (I, R, D), float16 and memory-mapped, for a
    late-teacher run only: the teacher's normalised regions of each image, a row-major ``region_side`` squared grid
    (``gallery_regions.npy``); ``embeddings`` are then the pooled ones, late search's prefilter.
    """

    images: list[Path]
    groups: list[str]
    captions: dict[str, dict[str, list]]
    embeddings: np.ndarray
    missing: str | None = None
    regions: np.ndarray | None = None

    @property
    def late(self) -> bool:
        """Whether the gallery has regions (a late-teacher run): search it with ``search_images_late``."""
        return self.regions is not None

    @property
    def region_side(self) -> int:
        """The side of the region grid (R = side**2); 0 without regions."""
        return 0 if self.regions is None else round(self.regions.shape[1] ** 0.5)

    @functools.cached_property
    def index(self) -> np.ndarray | faiss.Index:
        """What ``optical.evaluate.search`` searches: the array, or a faiss index for large galleries."""
        from optical.evaluate import FAISS_MIN_GALLERY, build_index

        return build_index(self.embeddings) if len(self.embeddings) >= FAISS_MIN_GALLERY else self.embeddings

    def test_pairs(self, language: str) -> list[tuple[str, str, int]]:
        """(caption in ``language``, an English caption of the same image, image index) for each test caption."""
        from optical.experiment import english_pairs

        english = self.captions.get("en", {"texts": [], "image": []})
        entry = self.captions.get(language, {"texts": [], "image": []})
        return english_pairs(entry["texts"], entry["image"], english["texts"], english["image"])

    def relevant(self, image: int) -> set[int]:
        """Images interchangeable with ``image`` (same group): any of them is a correct hit."""
        return {i for i, g in enumerate(self.groups) if g == self.groups[image]}


def load_gallery(run: Run, evaluation: str | None = None) -> Gallery:
    """Read ``gallery.json`` and ``gallery.npy`` of the run's test split, or of its evaluation ``evaluation``
    (``RUN/evals/<name>/``); RunFormatError when they are missing or disagree. Image paths resolve against this
    machine's cache or the recorded dataset folder (``optical.store.gallery_images``), so a copied run folder finds them."""
    data = run.gallery() if evaluation is None else evaluation_gallery(run, evaluation)
    folder = run.path if evaluation is None else evaluation_dir(run, evaluation)
    file = folder / "gallery.npy"
    try:
        embeddings = np.load(file, allow_pickle=False)  # a gallery is plain float32, never pickled objects
    except FileNotFoundError:
        raise RunFormatError(f"{file}: missing (the run is incomplete)") from None
    except (OSError, ValueError) as err:
        raise RunFormatError(f"{file}: unreadable ({err})") from None
    stored = folder / "gallery.json"
    try:
        gallery = Gallery(gallery_images(data, stored), list(data["groups"]), dict(data["captions"]), embeddings)
    except (KeyError, TypeError, AttributeError) as err:
        raise RunFormatError(f"{stored}: not a gallery this version reads ({err!r})") from None
    if embeddings.ndim != 2 or len(embeddings) != len(gallery.images) or len(gallery.groups) != len(gallery.images):
        raise RunFormatError(
            f"{folder}: gallery.npy has shape {embeddings.shape} for {len(gallery.images)} images in gallery.json"
        )
    gallery.missing = missing_images(data, stored, gallery.images)
    if run.config.get("scoring", "pooled") == "late":
        gallery.regions = _load_regions(folder / "gallery_regions.npy", embeddings)
    return gallery


def _load_regions(file: Path, embeddings: np.ndarray) -> np.ndarray:
    """``gallery_regions.npy`` (I, R, D) memory-mapped, checked against the pooled ``embeddings`` (I, D) and for a
    square grid; RunFormatError otherwise."""
    try:
        regions = np.load(file, mmap_mode="r", allow_pickle=False)  # float16 as written; read rows on demand
    except FileNotFoundError:
        raise RunFormatError(f"{file}: missing (a late-teacher run writes it with gallery.npy)") from None
    except (OSError, ValueError) as err:
        raise RunFormatError(f"{file}: unreadable ({err})") from None
    side = round(regions.shape[1] ** 0.5) if regions.ndim == 3 else 0
    if regions.ndim != 3 or regions.shape[0] != len(embeddings) or regions.shape[2] != embeddings.shape[1] \
            or side * side != regions.shape[1]:
        raise RunFormatError(f"{file}: shape {regions.shape}, expected ({len(embeddings)}, side*side, "
                             f"{embeddings.shape[1]}) for gallery.npy {embeddings.shape}")
    return regions


def describe_evaluations(run: Run) -> list[str]:
    """What the pages' "Evaluation set" selector offers: ``TEST_SPLIT`` (the run's own) then each evaluation."""
    return [TEST_SPLIT, *list_evaluations(run)]


def load_metrics(run: Run, evaluation: str | None = None) -> dict:
    """``metrics.json`` of the run's test split (``Run.metrics``) or of its evaluation ``evaluation``."""
    return run.metrics() if evaluation is None else evaluation_metrics(run, evaluation)


TEST_SPLIT = "test split"
