"""The lock files: every range has an exact pin, the two locks agree, and the environment the tests run in is
the lock's (what CI tests is what a fresh machine installs with the README's commands)."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def _pins(name: str) -> dict[str, str]:
    """{canonical package name: version} of a lock file's ``name==version`` lines."""
    pins = {}
    for line in (REPO / name).read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", line):
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _ranges(name: str) -> list[Requirement]:
    """The requirements of a ranges file, following ``-r``."""
    out = []
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            out += _ranges(line[3:].strip())
        elif line:
            out.append(Requirement(line))
    return out


def test_every_range_is_pinned_within_it_and_the_locks_agree():
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    for lock, ranges in ((runtime, "requirements.txt"), (dev, "requirements-dev.txt")):
        for req in _ranges(ranges):
            name = canonicalize_name(req.name)
            assert name in lock, f"{req.name} of {ranges} has no pin"
            assert req.specifier.contains(lock[name], prereleases=True), f"{name}=={lock[name]} outside {req}"
    assert {k: v for k, v in dev.items() if k in runtime} == runtime
    assert runtime["torch"] == "2.13.0"  # the release, matched to the CPU build on disk (scripts/lock.sh)


@pytest.mark.lock
def test_the_environment_is_the_lock():
    wrong = {}
    for name, version in _pins("requirements-dev.lock").items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong[name] = (version, None)
            continue
        if Version(installed).public != Version(version).public:  # 2.13.0+cpu is torch 2.13.0
            wrong[name] = (version, installed)
    assert not wrong, f"installed versions differ from requirements-dev.lock (locked, installed): {wrong}"
