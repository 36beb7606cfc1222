"""The house's rules, read from the source: no import circle (imports inside functions count), plugins
import only the engine's core and media, and the engine's folders stay small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("w2s", "teachers", "students", "distortions")
PLUGINS = ("teachers", "students", "distortions")
# what a plugin may import of the engine (w2s/core/__init__.py says why)
PLUGIN_MAY_IMPORT = ("w2s.core", "w2s.media")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every project module ``path`` imports, at module level or inside a function: ``from a.b import c``
    counts as ``a.b.c`` when that is a module, else ``a.b``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        out |= {n for n in names if n in modules}
    return out


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_hidden_circle_and_ignores_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circle_among_the_projects_modules():
    found = cycles(import_graph())
    assert not found, "import circles (an import inside a function counts too): " + "; ".join(
        " <-> ".join(c) for c in found)


def test_no_circle_between_the_plugin_packages():
    """teachers may use students (a saved student is a teacher); students never import teachers."""
    graph = import_graph()
    package_edges = {(a.split(".")[0], b.split(".")[0]) for a, bs in graph.items() for b in bs}
    assert ("students", "teachers") not in package_edges


@pytest.mark.parametrize("package", PLUGINS)
def test_plugins_import_only_the_engines_core_and_media(package):
    graph = import_graph()
    wrong = sorted(f"{a} imports {b}" for a, bs in graph.items() if a.split(".")[0] == package
                   for b in bs if b.startswith("w2s") and not b.startswith(PLUGIN_MAY_IMPORT))
    assert not wrong, wrong


def test_the_engine_stays_readable():
    """At most 10 modules at the top of w2s/, none over 400 lines, no function over 60 (the argument
    parser, a declarative table, excepted)."""
    top = sorted(p.name for p in (ROOT / "w2s").glob("*.py"))
    assert len(top) <= 10, top
    long_modules, long_functions = [], []
    for path in (ROOT / "w2s").rglob("*.py"):
        text = path.read_text()
        if text.count("\n") > 400:
            long_modules.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "parser":
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not long_modules, long_modules
    assert not long_functions, long_functions
