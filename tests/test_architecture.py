"""The layers of ``optical``, checked over the import graph (every import statement, at module level or inside a
function): each subpackage imports only those below it, so there is no cycle between subpackages; nothing imports
the CLI but ``__main__``; nothing imports streamlit (the app's pages do, the library does not); and the foundations
and the results-on-disk modules load without torch."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "optical"

# Bottom to top. A unit (a subpackage, or a top-level module of optical) may import units of a lower layer only.
LAYERS: list[set[str]] = [
    {"errors"},  # foundations
    {"store"},  # folders: cache paths, atomic writes, locks, runs, studies, sweeps, stored galleries
    {"data"},  # datasets
    {"config"},  # the experiment's settings, torch-free
    {"transport"},  # optimal transport
    {"encoders", "evaluate"},  # towers; metrics from ranks
    {"results", "distill"},  # ranks, summaries and tables on disk; models, losses and training
    {"experiment"},  # the pipeline
    {"explore"},  # what the app reads
    {"cli"},
    {"__main__"},
]
TORCH_FREE = ("optical.errors", "optical.store", "optical.data", "optical.config", "optical.evaluate",
              "optical.results", "optical.cli")


def _unit(path: Path) -> str:
    """The unit a source file belongs to: its subpackage, or its own name for a top-level module."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every absolute import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _violations(root: Path = PACKAGE) -> list[str]:
    layer = {unit: i for i, units in enumerate(LAYERS) for unit in units}
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == root:
            continue
        src = _unit(path) if root == PACKAGE else path.relative_to(root).with_suffix("").parts[0]
        for line, module in _imports(path):
            where = f"{path.relative_to(root.parent)}:{line}: {module}"
            if module.split(".")[0] == "streamlit":
                found.append(f"{where} (the library does not import streamlit)")
            if not module.startswith("optical."):
                continue
            dst = module.split(".")[1]
            if dst == src:
                continue
            if src not in layer or dst not in layer:
                found.append(f"{where} (a unit no layer lists: add it to LAYERS)")
            elif layer[dst] >= layer[src]:
                found.append(f"{where} ({src}, layer {layer[src]}, imports {dst}, layer {layer[dst]})")
    return found


def test_each_layer_imports_only_those_below_it():
    found = _violations()
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_the_checker_sees_an_upward_import_and_streamlit(tmp_path):
    probe = tmp_path / "optical" / "transport" / "_probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("import streamlit as st\n\ndef f():\n    from optical.experiment import METHODS\n")
    (tmp_path / "optical" / "data").mkdir()
    (tmp_path / "optical" / "data" / "_ok.py").write_text("from optical.errors import InputError\n")
    assert _violations(tmp_path / "optical") == [
        "optical/transport/_probe.py:1: streamlit (the library does not import streamlit)",
        "optical/transport/_probe.py:4: optical.experiment (transport, layer 4, imports experiment, layer 7)",
    ]


def test_the_foundations_and_results_on_disk_load_without_torch():
    code = (f"import importlib, sys\nfor name in {TORCH_FREE!r}:\n    importlib.import_module(name)\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'streamlit') if m in sys.modules)\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_report_of_a_run_loads_without_torch(tmp_path):
    code = """
import sys
import numpy as np
from optical.cli import main
from optical.config import ExperimentConfig
from optical.results import write_groups, write_ranks
from optical.store import create_run
run = create_run(ExperimentConfig(languages=["de"], methods=["zero-shot"], bootstrap=20).to_dict(), "r")
groups = np.arange(4)
write_groups(run, "test", [[f"{i}.png"] for i in range(4)])
ranks = {lang: (np.array([0, 1, 0, 2]), np.array([0, 0, 1, 3])) for lang in ("en", "de")}
write_ranks(run, "test", "zero-shot", ranks, {lang: (groups, groups) for lang in ranks})
assert main(["report", "r"]) == 0
print(sorted(m for m in ("torch", "transformers", "streamlit") if m in sys.modules))
"""
    env = {**os.environ, "OPTICAL_CACHE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert "zero-shot" in out.stdout and out.stdout.strip().splitlines()[-1] == "[]", out.stdout
