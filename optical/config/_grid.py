"""Sweep grids: ``KEY=V1,V2,...`` over dotted config paths (``ot.reg``, ``bitext_pairs``, ``student.epochs``), each
value parsed by the config field's type (``all`` / ``none`` for "no value" where the field allows None), and the
cross product of the axes as points."""

from __future__ import annotations

import dataclasses
import itertools
import re
import types
import typing
from typing import Any

from optical.config._experiment import ExperimentConfig
from optical.config._settings import OLD_KEYS
from optical.errors import InputError

Point = dict[str, Any]  # dotted key -> value of one grid point
NO_VALUE = ("all", "none", "null")  # spellings of None for fields that allow it (bitext_pairs=all: no cap)
_NOT_SWEPT = {
    "seed": "the seeds are --seeds",
    "teacher.seed": "the seeds are --seeds",
    "student.seed": "the seeds are --seeds",
    "device": "the device is the same for every point (--device)",
}
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_RENAMED = {old: key for old, key in OLD_KEYS.items() if "." in old}  # older dotted names (from_dict reads them too)


def parse_grid(specs: list[str]) -> dict[str, list]:
    """``["ot.reg=0.01,0.05", "bitext_pairs=50,all"]`` -> ``{"ot.reg": [0.01, 0.05], "bitext_pairs": [50, None]}``.

    InputError (naming the spec) for a malformed spec, an unknown or unsweepable key, a repeated key or value, or a
    value its field's type does not take.
    """
    grid: dict[str, list] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = _RENAMED.get(key.strip(), key.strip())
        raw = [v.strip() for v in values.split(",")]
        if not sep or not key or not all(raw):
            raise InputError(f"--grid {spec!r}: expected KEY=V1,V2,... (e.g. ot.reg=0.01,0.05,0.2)")
        if key in grid:
            raise InputError(f"--grid {spec!r}: {key} is given twice; list all its values in one --grid")
        kind = field_type(key)
        parsed = [parse_value(key, kind, v) for v in raw]
        if len(set(map(repr, parsed))) < len(parsed):
            raise InputError(f"--grid {spec!r}: a value is repeated")
        grid[key] = parsed
    return grid


def field_type(key: str) -> Any:
    """The type hint of the ExperimentConfig field at dotted ``key``; InputError naming the allowed keys."""
    if key in _NOT_SWEPT:
        raise InputError(f"--grid {key}: cannot be swept ({_NOT_SWEPT[key]})")
    cls: Any = ExperimentConfig
    parts = key.split(".")
    for depth, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        if part not in hints:
            where = ".".join(parts[:depth])
            allowed = sweepable_keys(cls, where)
            raise InputError(f"--grid: unknown key {key!r}; expected one of {allowed}")
        cls = hints[part]
    if dataclasses.is_dataclass(cls):
        raise InputError(f"--grid {key}: a section; sweep one of its fields: {sweepable_keys(cls, key)}")
    return cls


def sweepable_keys(cls: Any, prefix: str = "") -> list[str]:
    """Dotted keys of the scalar fields of dataclass ``cls`` (sections expanded), under ``prefix``."""
    keys = []
    for name, hint in typing.get_type_hints(cls).items():
        key = f"{prefix}.{name}" if prefix else name
        if dataclasses.is_dataclass(hint):
            keys += sweepable_keys(hint, key)
        elif key not in _NOT_SWEPT and _scalar(hint) is not None:
            keys.append(key)
    return keys


def _scalar(hint: Any) -> tuple[type, bool] | None:
    """(scalar type, whether None is allowed) of a type hint, None when it is not one scalar type."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            return None
        hint = args[0]
    return (hint, optional) if hint in (int, float, str, bool) else None


def parse_value(key: str, hint: Any, text: str) -> Any:
    """``text`` as a value of the field ``key`` whose type hint is ``hint``."""
    scalar = _scalar(hint)
    if scalar is None:
        raise InputError(f"--grid {key}: cannot be swept (not a number, string or flag)")
    kind, optional = scalar
    if text.lower() in NO_VALUE and optional:
        return None
    if text.lower() in NO_VALUE and kind is not str:  # a string field takes "all" as itself (ot.tokens=all)
        raise InputError(f"--grid {key}={text}: {key} needs a value ({kind.__name__})")
    try:
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        return kind(text)
    except ValueError:
        words = {int: "an integer", float: "a number", bool: "true or false"}
        also = f" or {NO_VALUE[0]!r}" if optional else ""
        raise InputError(f"--grid {key}={text}: expected {words.get(kind, kind.__name__)}{also}") from None


def grid_points(grid: dict[str, list]) -> list[Point]:
    """The cross product of the axes, the first key varying slowest."""
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def point_config(base: dict, point: Point, seed: int, source: str) -> ExperimentConfig:
    """``base`` (an ExperimentConfig dict) with ``point``'s values and ``seed``, validated (InputError naming
    ``source``)."""
    data = {**base, "seed": seed}
    for key, value in point.items():
        *sections, name = key.split(".")
        target = data
        for section in sections:
            target[section] = dict(target[section])
            target = target[section]
        target[name] = value
    return ExperimentConfig.from_dict(data, source)


def point_name(point: Point) -> str:
    """A folder-name-safe label such as ``ot.reg-0.05_bitext_pairs-all``."""
    return "_".join(f"{key}-{_NAME_UNSAFE.sub('-', 'all' if v is None else str(v))}" for key, v in point.items())


def format_point(point: Point) -> str:
    """``ot.reg=0.05, bitext_pairs=all`` (for tables and the app)."""
    return ", ".join(f"{key}={'all' if v is None else v}" for key, v in point.items())
