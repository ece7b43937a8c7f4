"""What a command's run references name: a run (id or folder), a study or a sweep, each read as its runs."""

from __future__ import annotations

from optical.store._campaigns import Campaign
from optical.store._files import RunFormatError
from optical.store._runs import Run, load_run
from optical.store._studies import Study
from optical.store._sweeps import Sweep

CAMPAIGNS: tuple[type[Campaign], ...] = (Study, Sweep)  # a reference is looked up as these, in this order


def find_campaign(ref: str) -> Campaign | None:
    """The study or sweep ``ref`` names, None when it names neither (a run, or nothing)."""
    kind = next((kind for kind in CAMPAIGNS if kind.exists(ref)), None)
    return None if kind is None else kind.load(ref)


def resolve_runs(refs: list[str]) -> tuple[list[Run], list[str]]:
    """The runs ``refs`` name: each a run, or a study or sweep (its started runs, in plan order).

    Returns the runs and notes for the reader (the runs of a study or sweep not done yet); RunFormatError when
    none has started.
    """
    runs: list[Run] = []
    notes: list[str] = []
    for ref in refs:
        campaign = find_campaign(ref)
        if campaign is None:
            runs.append(load_run(ref))
            continue
        if (note := campaign.note()) is not None:
            notes.append(note)
        runs += campaign.started_runs()
    if not runs:
        raise RunFormatError(f"{', '.join(refs)}: no run of it has started yet")
    return runs, notes
