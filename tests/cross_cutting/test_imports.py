"""The package's import graph stays layered and acyclic (issue 12): parsed with ast, every import counted."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import npnet

PACKAGE = Path(npnet.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """npnet module -> the npnet modules it imports anywhere in its source (module level or inside functions)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets.add(node.module)
                targets |= {f"{node.module}.{alias.name}" for alias in node.names}
        # Importing an ancestor package (``from npnet import x``) is the package Python is already
        # initialising; the edge that matters is to the submodule ``npnet.x``.
        graph[name] = {t for t in targets if t in modules and t != name and not name.startswith(t + ".")}
    return graph


def test_models_never_imports_the_tools_built_on_it():
    imported = import_graph()["npnet.models"]
    for tool in ("npnet.interop", "npnet.testing", "npnet.cli", "npnet.sklearn", "npnet.gradcheck",
                 "npnet.pytest_plugin", "npnet.report", "npnet.tutorial"):
        assert tool not in imported, f"npnet.models imports {tool}"


def test_trace_is_pure_numpy_teaching():
    """trace reads a model's public surface and imports no npnet module (no Keras, no models)."""
    assert import_graph()["npnet.trace"] == set()


def test_the_import_graph_has_no_cycles():
    graph = import_graph()
    assert "npnet.models" in graph["npnet"] and "npnet.layers.dense" in graph["npnet.layers"]   # edges are seen
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_import_npnet_gives_its_tools_as_attributes():
    """``import npnet`` then ``npnet.gradcheck``, ``npnet.testing``, ... as the README and docs write them (issue 17)."""
    written = set()
    for doc in ("README.md", "docs/backprop.md", "docs/bugs.md"):
        written |= set(re.findall(r"\bnpnet\.(\w+)\.\w+", (PACKAGE.parent / doc).read_text()))
    public = {name for name in map(module_name, PACKAGE.rglob("*.py")) if name.count(".") == 1
              and not name.split(".")[1].startswith("_")}
    assert {"gradcheck", "trace", "testing"} <= written and "npnet.plots" in public
    assert set(npnet._ON_FIRST_USE) <= {name.split(".")[1] for name in public}
    names = sorted(written | {name.split(".")[1] for name in public})
    code = f"import npnet\nfor name in {names!r}: getattr(npnet, name)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)
    assert "matplotlib" not in subprocess.run(
        [sys.executable, "-c", "import sys, npnet; print(sorted(sys.modules))"], check=True, cwd=PACKAGE.parent,
        capture_output=True, text=True).stdout   # the tools load on first use, not with npnet
