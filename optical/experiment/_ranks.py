"""Per-query ranks on disk, the stage between the models and the summary.

``ranks/<dataset>/<method>.csv`` (dataset ``test``: the comparable sets, every language on the images captioned in
all of the run's languages; ``test-full``: each language's full test set; ``task2``: Multi30k's 5-caption sets; runs
from before ``test-full`` have only ``test``, their full sets) has the columns
``language,direction,query,group,rank``: query ``query`` (a caption for ``t2i``, a captioned image for ``i2t``)
found its first correct item at 0-based rank ``rank``; ``group`` is the query's image group, an index into
``ranks/<dataset>/groups.json`` (one list of the gallery's groups, each a list of image paths, shared by every
language). ``metrics.json`` is a pure function of these files (``summarize_ranks``). Torch-free.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from optical.atomic import atomic_write_json, atomic_write_text
from optical.data import RetrievalSet
from optical.evaluate import captioned_images
from optical.experiment._metrics import RankPair, summarize_study
from optical.experiment._methods import english_term
from optical.runs import Run, RunFormatError

DATASETS = ("test", "test-full", "task2")
COLUMNS = ["language", "direction", "query", "group", "rank"]
GroupPair = tuple[np.ndarray, np.ndarray]  # (group of each t2i query (Q,), group of each i2t query (I',))


def ranks_dir(run: Run, dataset: str) -> Path:
    return run.path / "ranks" / dataset


def gallery_groups(gallery: RetrievalSet) -> list[list[str]]:
    """The groups of ``gallery`` (which holds every test image), each the list of its image paths; group ``g`` is
    ``gallery.image_groups == g`` (ids are dense, numbered in order of first appearance)."""
    groups: list[list[str]] = [[] for _ in range(int(gallery.image_groups.max()) + 1)] if len(gallery.image_groups) else []
    for path, group in zip(gallery.image_paths, gallery.image_groups):
        groups[int(group)].append(str(path))
    return groups


def query_groups(rs: RetrievalSet, gallery: RetrievalSet) -> GroupPair:
    """Group ids (indices into ``gallery_groups(gallery)``) of ``rs``'s t2i queries (Q,) and i2t queries (I',)."""
    row = {p: i for i, p in enumerate(gallery.image_paths)}
    image_group = gallery.image_groups[[row[p] for p in rs.image_paths]]  # (I,) group of each image of rs
    return image_group[rs.caption_image], image_group[captioned_images(rs.caption_image)]


def write_groups(run: Run, dataset: str, groups: list[list[str]]) -> None:
    """``groups.json`` of ``dataset``, written once (a resumed run keeps the first)."""
    file = ranks_dir(run, dataset) / "groups.json"
    if not file.is_file():
        atomic_write_json(file, groups)


def ranks_written(run: Run, dataset: str, method: str) -> bool:
    return (ranks_dir(run, dataset) / f"{method}.csv").is_file()


def write_ranks(
    run: Run, dataset: str, method: str, ranks: dict[str, RankPair], groups: dict[str, GroupPair]
) -> None:
    """``ranks/<dataset>/<method>.csv`` from ``ranks[lang] = (t2i, i2t)`` and the queries' ``groups[lang]``."""
    write_ranks_file(ranks_dir(run, dataset), method, ranks, groups)


def write_ranks_file(
    folder: Path, method: str, ranks: dict[str, RankPair], groups: dict[str, GroupPair]
) -> None:
    """``folder/<method>.csv`` (a run's ``ranks/<dataset>/`` or an evaluation's ``ranks/``), written atomically."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for lang, pair in ranks.items():
        for direction, values, group in zip(("t2i", "i2t"), pair, groups[lang]):
            if len(values) != len(group):
                raise ValueError(f"{method} {lang} {direction}: {len(values)} ranks for {len(group)} query groups")
            writer.writerows((lang, direction, q, int(g), int(r)) for q, (g, r) in enumerate(zip(group, values)))
    atomic_write_text(folder / f"{method}.csv", out.getvalue())


def load_ranks(run: Run, dataset: str = "test") -> tuple[dict[str, dict[str, RankPair]], dict[str, GroupPair]]:
    """``(ranks[method][lang] = (t2i, i2t), groups[lang] = (t2i_groups, i2t_groups))`` from the ranks files.

    Methods come in the run's config order (those with a file); every array is int64. RunFormatError when the
    run has no ranks files for ``dataset`` or one is damaged.
    """
    return load_ranks_folder(ranks_dir(run, dataset), run.config.get("methods", []))


def load_ranks_folder(
    folder: Path, methods: list[str]
) -> tuple[dict[str, dict[str, RankPair]], dict[str, GroupPair]]:
    """``load_ranks`` of one folder of ranks files: ``methods`` (in that order) that have a file there."""
    methods = [m for m in methods if (folder / f"{m}.csv").is_file()]
    if not methods:
        raise RunFormatError(f"{folder}: no ranks files (the run wrote none yet, or predates ranks/)")
    ranks: dict[str, dict[str, RankPair]] = {}
    groups: dict[str, GroupPair] = {}
    for method in methods:
        columns: dict[str, dict[str, tuple[list[int], list[int]]]] = {}
        file = folder / f"{method}.csv"
        with file.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            if next(reader, None) != COLUMNS:
                raise RunFormatError(f"{file}: expected the columns {','.join(COLUMNS)}")
            try:
                for line, (lang, direction, _query, group, rank) in enumerate(reader, start=2):
                    side = columns.setdefault(lang, {"t2i": ([], []), "i2t": ([], [])})[direction]
                    side[0].append(int(group))
                    side[1].append(int(rank))
            except (ValueError, KeyError) as err:
                raise RunFormatError(f"{file}:{line}: not a ranks row ({err})") from None
        ranks[method] = {}
        for lang, sides in columns.items():
            ranks[method][lang] = tuple(np.array(sides[d][1], dtype=np.int64) for d in ("t2i", "i2t"))
            groups.setdefault(lang, tuple(np.array(sides[d][0], dtype=np.int64) for d in ("t2i", "i2t")))
    return ranks, groups


def has_ranks(run: Run, dataset: str = "test") -> bool:
    folder = ranks_dir(run, dataset)
    return any((folder / f"{m}.csv").is_file() for m in run.config.get("methods", []))


def summarize_ranks(run: Run, n_boot: int | None = None) -> dict:
    """``metrics.json``'s body (without timing) from the run's ranks files alone: no model, no torch.

    ``n_boot`` defaults to the run's ``bootstrap`` setting; the seed is the run's.
    """
    return summarize_runs([run], n_boot)


def summarize_runs(runs: list[Run], n_boot: int | None = None, split: str = "test") -> dict:
    """The summary of a study (runs that differ by training seed; one run: its own summary) from ranks files.

    ``results``/``disparity``/``paired``... come from the comparable sets (``test``), ``results_full`` and
    ``disparity_full`` from each language's full set (``test-full``) when the runs have it; per language and
    method the mean over the runs, intervals resampling runs, then test image groups (``summarize_study``).
    ``split="val"``: the same figures on the comparable val sets alone (what settings are chosen on).
    ``n_boot`` and the bootstrap seed are the first run's settings. RunFormatError when the runs do not share
    the test split or one has no ranks. ``plan_diagnostics`` (only when a run recorded them in ``status.json``): how
    much alignment each method's transport plans carry, over the runs (``_plan_diagnostics``), as ``students`` is
    read from their status.
    """
    if not runs:
        raise ValueError("summarize_runs needs at least one run")
    config = runs[0].config
    n_boot = config.get("bootstrap", 1000) if n_boot is None else n_boot
    seed = config.get("seed", 0)

    def study(dataset: str) -> dict:
        try:
            return summarize_study([load_ranks(run, dataset) for run in runs], n_boot=n_boot, seed=seed)
        except ValueError as err:
            names = ", ".join(run.run_id for run in runs)
            raise RunFormatError(
                f"runs {names} cannot be summarised together ({dataset}): {err}; a study's runs must be one "
                "experiment (same dataset, languages and split) run with different --seed"
            ) from None

    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {split!r}")
    body = study(split)  # intervals resample the runs, then the image groups
    body.update(
        {
            "format": 1,
            "dataset": config.get("dataset"),
            "complete": all(ranks_written(run, split, m) for run in runs for m in run.config.get("methods", [])),
            "runs": [run.run_id for run in runs],
            "students": _students(runs),
            **({"plan_diagnostics": plans} if (plans := _plan_diagnostics(runs)) else {}),
            **({"english_term": term} if (term := english_term(config)) else {}),
        }
    )
    if split == "val":
        body["split"] = "val"
        return body
    if all(has_ranks(run, "test-full") for run in runs):
        full = study("test-full")
        body["results_full"], body["disparity_full"] = full["results"], full["disparity"]
    if all(has_ranks(run, "task2") for run in runs):  # Multi30k's 5-caption variant (en, de): no disparity over two
        body["task2"] = study("task2")["results"]
    return body


_WORST = {"row_error": max, "column_error": max, "iterations": max, "converged": all}  # over runs; the rest: means


def _plan_diagnostics(runs: list[Run]) -> dict | None:
    """The runs' ``plan_diagnostics`` (recorded in ``status.json`` when a run finishes; None when no run has them):
    the split, pairs and settings of the first run that has them, ``runs`` (how many have them) and per method the
    mean over those runs of each figure, the worst of the marginal errors, iterations and convergence."""
    recorded = [d for run in runs if (d := run.status.get("plan_diagnostics"))]
    if not recorded:
        return None
    methods: dict[str, dict] = {}
    for method in dict.fromkeys(m for d in recorded for m in d.get("methods", {})):
        rows = [d["methods"][method] for d in recorded if method in d.get("methods", {})]
        keys = dict.fromkeys(k for row in rows for k in row)
        methods[method] = {key: _combine(key, [row.get(key) for row in rows]) for key in keys}
    first = recorded[0]
    return {**{k: v for k, v in first.items() if k != "methods"}, "runs": len(recorded), "methods": methods}


def _combine(key: str, values: list) -> object:
    """One figure over runs: the worst for errors, iterations and convergence, else the mean (None if none has it)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    if key in _WORST:
        return _WORST[key](values)
    return sum(values) / len(values) if key != "pairs" else values[0]


def _students(runs: list[Run]) -> dict[str, dict[str, list]]:
    """Per student method, the epoch its validation chose and its val mR, one entry per run (None if unrecorded); a
    method that recorded its first step (optical+mse) also has ``weighting``, ``grad_ratio`` and
    ``weighted_grad_ratio`` (|grad OT| / |grad MSE| before and after weighting)."""
    recorded = [run.status.get("students") or {} for run in runs]
    methods = [m for m in runs[0].config.get("methods", []) if any(m in r for r in recorded)]
    students = {
        m: {key: [r.get(m, {}).get(key) for r in recorded] for key in ("best_epoch", "val_mR")} for m in methods
    }
    for method, entry in students.items():
        first = [r.get(method, {}).get("first_step") or {} for r in recorded]
        if any(first):
            entry.update({key: [f.get(key) for f in first] for key in ("weighting", "grad_ratio", "weighted_grad_ratio")})
    return students
