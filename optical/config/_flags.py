"""What the ``run`` and ``sweep`` commands derive from ``SETTINGS``: their config flags, the config the given flags
make over a base, the early torch-free checks of the flags, and the flags ``--resume`` refuses."""

from __future__ import annotations

import argparse
import copy

from optical.config._settings import SETTINGS, Setting
from optical.errors import InputError


def add_config_flags(parser: argparse.ArgumentParser, leave_out: tuple[str, ...] = ()) -> None:
    """A flag per setting that has one, in the table's order, but those in ``leave_out`` (``sweep``: ``--seed``)."""
    for setting in SETTINGS:
        if setting.flag is not None and setting.flag not in leave_out:
            parser.add_argument(setting.flag, type=setting.type, choices=setting.choices, metavar=setting.metavar,
                                help=setting.help)


def flags_over(data: dict, args: argparse.Namespace) -> dict:
    """``data`` (an ``ExperimentConfig`` dict, not changed) with the value of each given flag at its key."""
    data = copy.deepcopy(data)
    for setting, value in _given(args):
        if setting.key is not None:
            *sections, name = setting.key.split(".")
            target = data
            for section in sections:
                target = target.setdefault(section, {})
            target[name] = _read(setting, value)
    return data


def check_flags(args: argparse.Namespace) -> None:
    """InputError for the first given flag whose value its setting's rule refuses, naming the flag (torch-free, so
    a command checks its flags before it imports the model stack)."""
    for setting, value in _given(args):
        value = _read(setting, value)
        if setting.rule is None:
            continue
        try:
            setting.rule(setting.key or setting.dest, value)
        except InputError as err:
            if setting.flag_error is not None:
                raise InputError(setting.flag_error.format(value=value)) from None
            raise InputError(f"{err.message} ({setting.flag})", err.path) from None


def resume_refused(args: argparse.Namespace) -> list[str]:
    """The given flags that ``--resume`` refuses: all but the ``runtime`` ones (``--device``)."""
    return [setting.flag for setting, _ in _given(args) if not setting.runtime]


def _given(args: argparse.Namespace) -> list[tuple[Setting, object]]:
    """(setting, argparse value) of each flag given (not None)."""
    flagged = [s for s in SETTINGS if s.flag is not None]
    return [(s, getattr(args, s.dest)) for s in flagged if getattr(args, s.dest, None) is not None]


def _read(setting: Setting, value: object) -> object:
    return setting.read(value) if setting.read is not None else value
