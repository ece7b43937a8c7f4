"""Per-query ranks on disk, the stage between the models and the summary.

``ranks/<dataset>/<method>.csv`` (dataset ``test``: the comparable sets, every language on the images captioned in
all of the run's languages; ``test-full``: each language's full test set; ``task2``: Multi30k's 5-caption sets; runs
from before ``test-full`` have only ``test``, their full sets) has the columns
``language,direction,query,group,rank``: query ``query`` (a caption for ``t2i``, a captioned image for ``i2t``)
found its first correct item at 0-based rank ``rank``; ``group`` is the query's image group, an index into
``ranks/<dataset>/groups.json`` (one list of the gallery's groups, each a list of image paths, shared by every
language). ``metrics.json`` is a pure function of these files (``RankSource.summarize``). Torch-free.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from optical.data import RetrievalSet
from optical.evaluate import captioned_images
from optical.results._metrics import RankPair
from optical.store import Run, RunFormatError, atomic_write_json, atomic_write_text

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


def load_ranks_folder(
    folder: Path, methods: list[str]
) -> tuple[dict[str, dict[str, RankPair]], dict[str, GroupPair]]:
    """``(ranks[method][lang] = (t2i, i2t), groups[lang] = (t2i_groups, i2t_groups))`` from the ranks files of
    ``folder`` (a run's ``ranks/<dataset>/`` or an evaluation's ``ranks/``): ``methods`` (in that order) that have a
    file there; every array is int64. RunFormatError when there is none or one is damaged."""
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
