"""Cached loaders and shared widgets for the pages (streamlit stays out of ``optical``).

``st.cache_resource``: read-only models, galleries, caption embeddings (and token states, for late runs), the
image tower and the background experiment jobs (shared by all sessions). ``st.cache_data``: metrics tables and transport plans. Cache keys
include what changes while a run is running (``metrics.json``'s mtime, the methods done), so partial
results refresh. ``token_region_view`` is the token -> region view of a late-teacher run, shared by Image Search
and Transport Plans.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import numpy as np
import pandas as pd
import streamlit as st

from optical import explore
from optical.data import open_rgb
from optical.errors import OpticalError
from optical.results import disparity_table, headline_table, recall_table, sweep_frame
from optical.store import Run, RunFormatError, Sweep, load_run, new_run_id

if TYPE_CHECKING:
    from optical.scoring import Padded

T = TypeVar("T")
LATE_NOTE = ("The token → region view needs a late-teacher run (`--scoring late`): this run's teacher scores pooled "
             "embeddings, so its gallery has no image regions.")


def stop_with(message: str, kind: str = "error") -> NoReturn:
    getattr(st, kind)(message)
    st.stop()


def or_stop(load: Callable[..., T], *args) -> T:
    """``load(*args)``; an OpticalError (bad run folder, bad input) becomes a message on the page and stops it."""
    try:
        return load(*args)
    except OpticalError as err:
        stop_with(str(err))


def select_run(where=st.sidebar) -> tuple[explore.RunInfo, Run]:
    """The run picker shared by the pages (the choice is kept across pages); stops with a message when unusable."""
    infos = explore.describe_runs()
    if not infos:
        stop_with("No run yet: start the built-in experiment on the Home page.", "info")
    ids = [info.run_id for info in infos]
    wanted = st.session_state.get("run_id")
    index = ids.index(wanted if wanted in ids else explore.default_run(infos).run_id)
    by_id = {info.run_id: info for info in infos}
    run_id = where.selectbox("Run", ids, index=index, format_func=lambda r: by_id[r].label)
    st.session_state["run_id"] = run_id
    info = by_id[run_id]
    if info.state == "unreadable":
        stop_with(f"This run cannot be read: {info.error}")
    if info.state == "failed":
        st.warning(f"This run failed ({info.error}); showing whatever it saved before.")
    elif info.state == "interrupted":
        st.warning(
            f"This run was interrupted; showing what it saved. Continue it with "
            f"`python -m optical run --resume {info.run_id}`."
        )
    elif info.state == "running":
        st.info(f"This run is still running; results so far: {', '.join(info.methods_done) or 'none yet'}.")
    return info, or_stop(load_run, info.path)


def select_evaluation(run: Run, where=st.sidebar) -> str | None:
    """The "Evaluation set" picker: None for the run's own test split, else the name of one of its evaluations
    (``RUN/evals/<name>``, made by ``python -m optical eval``); the choice is kept across pages."""
    options = explore.describe_evaluations(run)
    wanted = st.session_state.get("evaluation")
    choice = where.selectbox("Evaluation set", options, index=options.index(wanted) if wanted in options else 0)
    st.session_state["evaluation"] = choice
    return None if choice == explore.TEST_SPLIT else choice


def _mtime(run: Run, name: str) -> float:
    path = run.path / name
    return path.stat().st_mtime if path.exists() else 0.0


def _metrics_file(evaluation: str | None) -> str:
    return "metrics.json" if evaluation is None else f"evals/{evaluation}/metrics.json"


@st.cache_data(show_spinner=False, max_entries=32)
def _metrics(path: str, mtime: float, evaluation: str | None = None) -> dict:
    return explore.load_metrics(load_run(path), evaluation)


def metrics(run: Run, evaluation: str | None = None) -> dict:
    """``metrics.json`` of the run's test split or of an evaluation (re-read when the file changes)."""
    return or_stop(_metrics, str(run.path), _mtime(run, _metrics_file(evaluation)), evaluation)


@st.cache_data(show_spinner=False, max_entries=64)
def tables(path: str, mtime: float, metric: str = "mR", evaluation: str | None = None) -> dict:
    """Headline (wide), disparity and long recall tables of a run (or an evaluation) for one metric key."""
    data = _metrics(path, mtime, evaluation)
    return {
        "headline": headline_table(data, metric),
        "disparity": disparity_table(data).map(lambda v: f"{v:.2f}" if isinstance(v, float) else v).astype(str),
        "recall": recall_table(data, metric),
        "verdict": data.get("verdict", ""),
    }


def run_tables(run: Run, metric: str = "mR", evaluation: str | None = None) -> dict:
    return or_stop(tables, str(run.path), _mtime(run, _metrics_file(evaluation)), metric, evaluation)


@st.cache_data(show_spinner="Summarising the sweep's runs…", max_entries=8)
def _sweep_table(path: str, done: int, split: str, evaluation: str | None, evaluated: tuple[str, ...]) -> pd.DataFrame:
    return sweep_frame(Sweep.load(path), split=split, evaluation=evaluation)


def sweep_table(info: explore.SweepInfo, split: str = "test", evaluation: str | None = None) -> pd.DataFrame:
    """A sweep's table (``optical.results.sweep_frame``) on ``split`` (``test`` or ``val``) or on its runs'
    ``evaluation``, summarised again when another of its runs finishes or is evaluated."""
    return or_stop(_sweep_table, str(info.sweep.path), info.done, split, evaluation, tuple(info.evaluations))


def _one_torch_thread() -> None:
    """Interactive queries run on one torch thread: a one-sentence forward pass gains nothing from more, and
    OpenMP threads stall when other processes (a background experiment) hold the cores (e5-small, 2 busy
    cores: 20 ms per query on one thread, about 950 ms on two)."""
    import torch

    torch.set_num_threads(1)


@st.cache_resource(show_spinner="Loading the run's models…", max_entries=2)
def _models(path: str, methods: tuple[str, ...]) -> explore.RunModels:
    _one_torch_thread()
    return explore.load_models(load_run(path))


def models(info: explore.RunInfo) -> explore.RunModels:
    """Teacher and students of a run (students added as a running run finishes them)."""
    return or_stop(_models, str(info.path), tuple(info.methods_done))


@st.cache_resource(show_spinner="Loading the gallery…", max_entries=4)
def _gallery(path: str, evaluation: str | None = None) -> explore.Gallery:
    return explore.load_gallery(load_run(path), evaluation)


def gallery(info: explore.RunInfo, evaluation: str | None = None) -> explore.Gallery:
    """The run's test gallery, or that of its evaluation ``evaluation``."""
    return or_stop(_gallery, str(info.path), evaluation)


@st.cache_resource(show_spinner="Loading the image tower…")
def _image_encoder(name: str):
    from optical.encoders import create_image_encoder

    _one_torch_thread()
    return create_image_encoder(name)


def image_encoder(info: explore.RunInfo):
    config = or_stop(lambda: load_run(info.path).config)
    return or_stop(_image_encoder, config.get("image_encoder", "efficientnet-lite0"))


@st.cache_resource(show_spinner="Embedding the captions…", max_entries=16)
def _caption_embeddings(path: str, methods: tuple[str, ...], language: str, evaluation: str | None = None
                        ) -> dict[str, np.ndarray]:
    loaded, texts = _models(path, methods), _gallery(path, evaluation).captions[language]["texts"]
    return {method: model.encode(texts).numpy() for method, model in loaded.text_models.items()}


def caption_embeddings(info: explore.RunInfo, language: str, evaluation: str | None = None) -> dict[str, np.ndarray]:
    """Method -> embeddings (Q, D) of the gallery's captions in ``language`` (test split or ``evaluation``)."""
    return or_stop(_caption_embeddings, str(info.path), tuple(info.methods_done), language, evaluation)


@st.cache_resource(show_spinner="Reading the captions' tokens…", max_entries=16)
def _caption_tokens(path: str, methods: tuple[str, ...], language: str, evaluation: str | None = None
                    ) -> dict[str, Padded]:
    loaded, texts = _models(path, methods), _gallery(path, evaluation).captions[language]["texts"]
    return {method: model.encode_tokens(texts) for method, model in loaded.text_models.items()}


def caption_tokens(info: explore.RunInfo, language: str, evaluation: str | None = None) -> dict[str, Padded]:
    """Method -> token states (Q, L, D) of the gallery's captions in ``language``: what a late run scores."""
    return or_stop(_caption_tokens, str(info.path), tuple(info.methods_done), language, evaluation)


@st.cache_data(show_spinner="Computing the transport plan…", max_entries=256)
def _plan(path: str, methods: tuple[str, ...], method: str, foreign: str, english: str) -> dict:
    try:
        saved = load_run(path).plans()
    except RunFormatError:  # a running run writes its samples last
        saved = []
    for sample in saved:
        if (sample["method"], sample["foreign"], sample["english"]) == (method, foreign, english):
            return sample
    loaded = _models(path, methods)
    return explore.plan_for_pair(loaded.text_models[method], loaded.teacher, foreign, english, loaded.config)


def plan(info: explore.RunInfo, method: str, foreign: str, english: str) -> dict:
    """The plan of ``method``'s student for a pair: the run's saved sample if it has one, else computed."""
    return or_stop(_plan, str(info.path), tuple(info.methods_done), method, foreign, english)


def image_label(gallery: explore.Gallery) -> Callable[[int], str]:
    """``format_func`` of an image picker: index, file name and group."""
    return lambda i: f"{i}: {gallery.images[i].stem} ({gallery.groups[i]})"


def token_region_view(
    info: explore.RunInfo, gallery: explore.Gallery, *, language: str, method: str, foreign: str, english: str,
    image: int, key: str,
) -> None:
    """The token -> region view of a late-teacher run: for the pair (``foreign``, read by ``method``'s student;
    ``english``, read by the teacher) and gallery image ``image``, each side's tokens to pick from, the picked
    token's cosine with every region over the image, the OT plan between the two token sequences with both
    picks outlined, and every token's map. Picking a foreign token picks, on the English side, the token the plan
    sends most of its mass to."""
    loaded = models(info)
    bar = st.progress(0.0, text=f"Matching the {language} tokens to the image's regions…")
    regions = gallery.regions[image]  # (R, D) of the memory map
    maps = {"foreign": or_stop(explore.token_regions, loaded.text_models[method], foreign, regions)}
    bar.progress(1 / 3, text="Matching the English tokens to the image's regions…")
    maps["english"] = or_stop(explore.token_regions, loaded.teacher, english, regions)
    bar.progress(2 / 3, text="Computing the transport plan…")
    sample = plan(info, method, foreign, english)
    bar.empty()
    picture = None
    if gallery.images[image].is_file():
        try:
            picture = explore.tower_view(open_rgb(gallery.images[image]), loaded.config.get("image_encoder", ""))
        except OpticalError:
            picture = None
    if picture is None:
        st.caption("The image file is not here: the maps are drawn without it.")
    lo = float(min(m.similarity.min() for m in maps.values()))
    hi = float(max(m.similarity.max() for m in maps.values()))
    linked = len(sample["foreign_tokens"]) == len(maps["foreign"].tokens) and \
        len(sample["english_tokens"]) == len(maps["english"].tokens)

    left, right = st.columns(2)
    labels = {side: explore.axis_labels(m.tokens) for side, m in maps.items()}
    pair_key = f"{key}-{method}-{zlib.crc32(repr((foreign, english)).encode()):08x}"  # a new pair: new picks
    chosen = left.radio(f"{language} token ({method})", range(len(labels["foreign"])), horizontal=True,
                        index=maps["foreign"].first_content, format_func=labels["foreign"].__getitem__,
                        key=f"{pair_key}-foreign")
    partner = explore.plan_partner(sample, chosen) if linked else None
    default = partner[0] if partner else maps["english"].first_content
    answer = right.radio("English token (teacher)", range(len(labels["english"])), horizontal=True, index=default,
                         format_func=labels["english"].__getitem__, key=f"{pair_key}-english-{chosen}")
    for column, side, token, who in ((left, "foreign", chosen, f"{language}, {method}"),
                                     (right, "english", answer, "English, teacher")):
        grid = maps[side].grid(token)
        title = f"{labels[side][token]} ({who}) · best cos {grid.max():.3f}"
        column.plotly_chart(explore.region_figure(grid, picture, title, lo, hi), key=f"{key}-{side}-map")
    if partner:
        st.caption(f"The plan sends {partner[1]:.0%} of `{maps['foreign'].tokens[chosen]}`'s mass to "
                   f"`{maps['english'].tokens[partner[0]]}`: where both maps light up the same part of the picture, "
                   "the foreign word landed where its translation does.")
    if linked:
        st.plotly_chart(explore.plan_figure(sample, "plan", language, method, (chosen, answer), height=360),
                        key=f"{key}-plan")
    else:
        st.caption("The plan's tokens differ from the models' (a sample of other token states): not drawn.")
    with st.expander("Every token's map"):
        for side, who in (("foreign", f"{language} ({method})"), ("english", "English (teacher)")):
            st.plotly_chart(explore.token_grid_figure(maps[side], title=who), key=f"{key}-{side}-grid")


@st.cache_resource
def jobs() -> dict[str, explore.ExperimentJob]:
    """Experiments started from this app (one server process), by run id."""
    return {}


def start_experiment(preset: str) -> explore.ExperimentJob:
    run_id = new_run_id(f"app-{preset}")
    job = explore.ExperimentJob(run_id, explore.experiment_commands(preset, run_id)).start()
    jobs()[run_id] = job
    return job
