"""The layers of ``optical``, checked over the import graph (every import statement, at module level or inside a
function): each subpackage imports only those below it, so there is no cycle between subpackages; nothing imports
the CLI but ``__main__``; nothing imports streamlit (the app's pages do, the library does not); and the foundations
and the results-on-disk modules load without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "optical"

# Bottom to top. A unit (a subpackage, or a top-level module of optical) may import units of a lower layer only.
LAYERS: list[set[str]] = [
    {"errors", "paths", "atomic", "lazy"},  # foundations
    {"transport", "data"},  # optimal transport; datasets
    {"encoders", "evaluate", "runs"},  # towers; metrics from ranks; run folders
    {"studies", "galleries", "distill"},  # studies over runs; stored galleries; models, losses and training
    {"experiment"},  # the pipeline
    {"explore"},  # what the app reads
    {"cli"},
    {"__main__"},
]
TORCH_FREE = ("optical.errors", "optical.paths", "optical.atomic", "optical.runs", "optical.studies",
              "optical.galleries", "optical.data", "optical.evaluate", "optical.cli")


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
        "optical/transport/_probe.py:4: optical.experiment (transport, layer 1, imports experiment, layer 4)",
    ]


def test_the_foundations_and_results_on_disk_load_without_torch():
    code = (f"import importlib, sys\nfor name in {TORCH_FREE!r}:\n    importlib.import_module(name)\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'streamlit') if m in sys.modules)\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
