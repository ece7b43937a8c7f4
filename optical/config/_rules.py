"""What a setting's values may be. Each rule is called with the config key and the value and raises InputError
naming the key and what it allows; ``ExperimentConfig.validate`` adds where the config came from, the CLI's early
checks add the flag."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from optical.config._methods import METHODS
from optical.config._teacher_sources import check_teacher_sources
from optical.config._train import cuda_index
from optical.data import normalize_locale
from optical.errors import InputError

Rule = Callable[[str, object], None]  # (config key, value) -> None, or InputError


@dataclass(frozen=True)
class Choice:
    """One of ``values``."""

    values: tuple[str, ...]

    def __call__(self, key: str, value: object) -> None:
        if value not in self.values:
            raise InputError(f"{key} must be one of {list(self.values)}, got {value!r}")


@dataclass(frozen=True)
class Bound:
    """A number (an integer when ``integer``) >= ``low`` (> when ``strict``), or one of ``also``; ``meaning`` is
    said after the bound (" (-1: all but the word embeddings)")."""

    low: float
    strict: bool = False
    integer: bool = False
    also: tuple[object, ...] = ()
    meaning: str = ""

    def __call__(self, key: str, value: object) -> None:
        if value in self.also and not isinstance(value, bool):
            return
        is_number = isinstance(value, int if self.integer else (int, float)) and not isinstance(value, bool)
        if not (is_number and (value > self.low if self.strict else value >= self.low)):
            kind = "an integer" if self.integer else "a number"
            raise InputError(f"{key} must be {kind} {'>' if self.strict else '>='} {self.low}{self.meaning}, "
                             f"got {value!r}")


def boolean(key: str, value: object) -> None:
    """True or false."""
    if not isinstance(value, bool):
        raise InputError(f"{key} must be true or false, got {value!r}")


def config_file(key: str, value: object) -> None:
    """An existing file (``--config``)."""
    if not Path(value).is_file():
        raise InputError("config file not found", value)


def device(key: str, value: object) -> None:
    """auto, cpu, cuda or cuda:N (whether CUDA is here is asked when a run resolves it)."""
    cuda_index(value)


def languages(key: str, value: object) -> None:
    """A non-empty list of known language codes."""
    if not value:
        raise InputError("no languages given")
    for lang in value:
        normalize_locale(lang)  # an unknown code raises InputError naming it


def methods(key: str, value: object) -> None:
    """Declared methods (``register_method``)."""
    bad = [m for m in value if m not in METHODS]
    if bad:
        raise InputError(f"unknown methods {bad}; expected some of {list(METHODS)}")


def teacher_sources(key: str, value: object) -> None:
    """What the teacher trains on (``check_teacher_sources``)."""
    check_teacher_sources(value)
