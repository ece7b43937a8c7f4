"""The layers of ``optical``, checked over the import graph (every import statement, at module level or inside a
function): each subpackage imports only those below it, so there is no cycle between subpackages; no cycle between
modules either (inside a subpackage); nothing imports the CLI but ``__main__``; nothing imports streamlit (the app's
pages do, the library does not); and the foundations and the results-on-disk modules load without torch."""

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
    {"encoders", "evaluate", "scoring"},  # towers; metrics from ranks; late-interaction scores
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


def _module_name(path: Path, root: Path) -> str:
    """``optical/store/_runs.py`` -> ``optical.store._runs``; a package's ``__init__.py`` is the package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_graph(root: Path = PACKAGE) -> dict[str, dict[str, str]]:
    """module -> {imported module of the package: where ("path:line")}, over every import statement (module level
    or in a function; relative ones resolved). ``from optical.x import name`` imports ``optical.x.name`` where that is
    a module, else ``optical.x``; ``import optical.x.y`` imports ``optical.x.y``."""
    files = {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, dict[str, str]] = {module: {} for module in files}
    for module, path in files.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module  # from . import x / from ..y import x: the package, level - 1 up
                if node.level:
                    base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in files:  # a name of a module, not a module: that module
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].setdefault(target, f"{path.relative_to(root.parent)}:{node.lineno}")
    return graph


def _strongly_connected(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` (Tarjan's algorithm, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in graph:
        if start in index:
            continue
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(graph[start]))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(graph[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:  # every successor done
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while not component or component[-1] != node:
                        component.append(stack.pop())
                        on_stack.discard(component[-1])
                    components.append(sorted(component))
    return components


def _import_cycles(root: Path = PACKAGE) -> list[str]:
    """Each import cycle between modules: its modules, then the imports that close it."""
    graph = _module_graph(root)
    found = []
    for component in sorted(c for c in _strongly_connected(graph) if len(c) > 1):
        edges = [f"  {graph[a][b]}: {a} imports {b}" for a in component for b in graph[a] if b in component]
        found.append(" <-> ".join(component) + "\n" + "\n".join(edges))
    return found


def test_no_import_cycle_between_modules():
    found = _import_cycles()
    assert not found, "import cycles between modules:\n" + "\n".join(found)


def test_the_checker_sees_a_cycle_through_a_function_a_package_and_a_relative_import(tmp_path):
    files = {
        "__init__.py": "",
        "errors.py": "",
        "a/__init__.py": "from optical.a._x import f\n",
        "a/_x.py": "from optical import errors\n\n\ndef f():\n    from optical.b import g\n",  # b: the package
        "b/__init__.py": "from ._y import g\n",
        "b/_y.py": "import optical.a\n\n\ndef g():\n    pass\n",
        "c.py": "from optical.b._y import g\nfrom optical.errors import InputError\n",  # imports into it: no cycle
    }
    for name, text in files.items():
        (tmp_path / "optical" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "optical" / name).write_text(text)
    graph = _module_graph(tmp_path / "optical")
    assert graph["optical.a._x"] == {"optical.errors": "optical/a/_x.py:1", "optical.b": "optical/a/_x.py:5"}
    assert graph["optical.c"] == {"optical.b._y": "optical/c.py:1", "optical.errors": "optical/c.py:2"}
    assert _import_cycles(tmp_path / "optical") == [
        "optical.a <-> optical.a._x <-> optical.b <-> optical.b._y\n"
        "  optical/a/__init__.py:1: optical.a imports optical.a._x\n"
        "  optical/a/_x.py:5: optical.a._x imports optical.b\n"
        "  optical/b/__init__.py:1: optical.b imports optical.b._y\n"
        "  optical/b/_y.py:1: optical.b._y imports optical.a"
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
