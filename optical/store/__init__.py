"""Where optical keeps its files, torch-free, the bottom layer: the cache's folders, atomic writes, the OS lock of a
folder, run folders (``Run``), the campaigns that list runs (``Study``, ``Sweep``: one ``Campaign`` handle), the
references commands take to them (``resolve_runs``) and the portable image paths of stored galleries."""

from optical.store._atomic import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text
from optical.store._campaigns import Campaign, parse_seeds
from optical.store._files import RunFormatError, read_json
from optical.store._galleries import GALLERY_FORMAT, gallery_images, missing_images, stored_images
from optical.store._locks import RunBusyError, lock_run
from optical.store._paths import (
    REPO_ROOT,
    cache_dir,
    default_cache_dir,
    features_dir,
    models_dir,
    runs_dir,
    sweeps_dir,
    teachers_dir,
)
from optical.store._references import find_campaign, resolve_runs
from optical.store._runs import (
    METRICS_FORMAT,
    RUN_FORMAT,
    RUN_ID_PATTERN,
    RUNTIME_KEYS,
    TEACHER_TRAINING,
    Run,
    check_run_id,
    create_run,
    list_runs,
    load_run,
    new_run_id,
    run_state,
)
from optical.store._studies import Study, study_run_id
from optical.store._sweeps import Sweep

__all__ = [
    "GALLERY_FORMAT",
    "METRICS_FORMAT",
    "REPO_ROOT",
    "RUNTIME_KEYS",
    "RUN_FORMAT",
    "RUN_ID_PATTERN",
    "TEACHER_TRAINING",
    "Campaign",
    "Run",
    "RunBusyError",
    "RunFormatError",
    "Study",
    "Sweep",
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "cache_dir",
    "check_run_id",
    "create_run",
    "default_cache_dir",
    "features_dir",
    "find_campaign",
    "gallery_images",
    "list_runs",
    "load_run",
    "lock_run",
    "missing_images",
    "models_dir",
    "new_run_id",
    "parse_seeds",
    "read_json",
    "resolve_runs",
    "run_state",
    "runs_dir",
    "study_run_id",
    "stored_images",
    "sweeps_dir",
    "teachers_dir",
]
