"""Package boundaries: code outside a subpackage imports its public names, never its private ``_`` modules."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = [*(REPO / "optical").rglob("*.py"), *(REPO / "bench").glob("*.py"), *(REPO / "pages").glob("*.py"),
           REPO / "app.py", REPO / "app_resources.py"]


def _private_imports(path: Path, root: Path = REPO) -> list[str]:
    """``optical.<pkg>._<module>`` imports in ``path`` whose ``<pkg>`` is not the file's own subpackage."""
    parts = path.relative_to(root).parts
    own = parts[1] if parts[0] == "optical" and len(parts) > 2 else None
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            pieces = name.split(".")
            private = [i for i, p in enumerate(pieces) if p.startswith("_")]
            if pieces[0] == "optical" and private and pieces[1] != own:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    return found


def test_no_module_imports_another_subpackages_private_modules():
    found = [hit for path in SOURCES for hit in _private_imports(path)]
    assert not found, "import the subpackage's public names instead:\n" + "\n".join(found)


def test_the_checker_sees_a_private_import_across_packages_only(tmp_path):
    (tmp_path / "optical" / "explore").mkdir(parents=True)
    bad = tmp_path / "optical" / "explore" / "_probe.py"
    bad.write_text("from optical.distill._models import DualEncoder\nfrom optical.explore._runs import RunInfo\n")
    assert _private_imports(bad, tmp_path) == ["optical/explore/_probe.py:1: optical.distill._models"]


def _np_loads_without_allow_pickle_false(path: Path, root: Path = REPO) -> list[str]:
    """``np.load(...)`` / ``numpy.load(...)`` calls in ``path`` that do not pass ``allow_pickle=False``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        func = node.func if isinstance(node, ast.Call) else None
        if isinstance(func, ast.Attribute) and func.attr == "load" and isinstance(func.value, ast.Name) \
                and func.value.id in ("np", "numpy"):
            safe = any(k.arg == "allow_pickle" and isinstance(k.value, ast.Constant) and k.value.value is False
                       for k in node.keywords)
            if not safe:
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_every_np_load_refuses_pickles():
    found = [hit for path in SOURCES for hit in _np_loads_without_allow_pickle_false(path)]
    assert not found, "pass allow_pickle=False (a .npy of ours never holds objects):\n" + "\n".join(found)


def test_the_np_load_checker_sees_a_missing_allow_pickle(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import numpy as np\nnp.load('a.npy')\nnp.load('b.npy', allow_pickle=False)\n"
                     "np.load('c.npy', allow_pickle=True)\n")
    assert _np_loads_without_allow_pickle_false(probe, tmp_path) == ["probe.py:2", "probe.py:4"]


def _defined_names(paths: list[Path]) -> set[str]:
    """Every name this project defines: functions, classes, assigned names and attributes, modules, arguments."""
    names = {p.stem for p in paths}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias) and node.asname:
                names.add(node.asname)
    return names


def _foreign_private_uses(path: Path, ours: set[str], root: Path = REPO) -> list[str]:
    """``x._name`` uses in ``path`` of a private name this project does not define (a dependency's internals), and
    imports from a dependency's private module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and node.attr not in ours:
            found.append(f"{path.relative_to(root)}:{node.lineno}: .{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and not node.module.startswith(("optical", "tests")):
            parts = [*node.module.split("."), *(alias.name for alias in node.names)]
            if any(p.startswith("_") and not p.startswith("__") for p in parts):
                found.append(f"{path.relative_to(root)}:{node.lineno}: from {node.module}")
    return sorted(found, key=lambda hit: int(hit.split(":")[1]))


def test_no_private_api_of_a_dependency_is_used():
    """transformers 5.25 broke a private BertModel method the frozen-layer cache called: no ``._name`` of
    transformers, torch, streamlit, POT or the standard library is used anywhere (README, "No private API")."""
    tests = [*(REPO / "tests").rglob("*.py")]
    ours = _defined_names([*SOURCES, *tests])
    found = [hit for path in [*SOURCES, *tests] for hit in _foreign_private_uses(path, ours)]
    assert not found, "use the dependency's public API instead:\n" + "\n".join(found)


def test_the_private_api_checker_sees_a_dependencys_internals(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import argparse\nfrom transformers.modeling_utils import _init_weights\n"
                     "def f(hf, sub: argparse._SubParsersAction):\n    return hf._create_attention_masks(1), hf._mine\n"
                     "class A:\n    def __init__(self):\n        self._mine = 1\n")
    ours = _defined_names([probe])
    assert _foreign_private_uses(probe, ours, tmp_path) == [
        "probe.py:2: from transformers.modeling_utils", "probe.py:3: ._SubParsersAction",
        "probe.py:4: ._create_attention_masks",
    ]
