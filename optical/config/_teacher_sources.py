"""What the teacher may train on (``ExperimentConfig.teacher_sources``; ``optical.experiment`` reads the pairs)."""

from __future__ import annotations

from pathlib import Path

from optical.errors import InputError

TEACHER_SOURCES = ("dataset", "stamps", "openclipart", "imagenet-prototypes", "captions:DIR")


def check_teacher_sources(sources: list[str], source: str | Path = "<config>") -> None:
    """``InputError`` for an unknown source name or a ``captions:`` source without a folder."""
    if not isinstance(sources, list) or not sources:
        raise InputError(f"'teacher_sources' must be a non-empty list of {', '.join(TEACHER_SOURCES)}", source)
    for name in sources:
        if not isinstance(name, str) or not (name in TEACHER_SOURCES[:-1] or name.startswith("captions:")):
            raise InputError(f"unknown teacher source {name!r}; expected some of {', '.join(TEACHER_SOURCES)}",
                             source)
        if name.startswith("captions:") and not (Path(name.removeprefix("captions:")) / "captions.tsv").is_file():
            raise InputError(f"teacher source {name!r}: no captions.tsv in that folder", source)
