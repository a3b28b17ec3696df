"""The architecture of assistant/: its import graph, read from the source with `ast` (nothing is
imported), has no cycle, neither between modules nor between the top-level sub-packages (text,
ingest, embedding, store, query, answer, api, evaluate) and top-level modules (settings, errors,
i18n, ui, cli, feedback, ...), each of which is one node.

Every `import` and `from ... import` counts, wherever it is: at module level, inside a function,
under `if TYPE_CHECKING:`; a dependency deferred to run time is still a dependency. Relative imports
are resolved against the importing module's package. An import names the most specific module of
assistant/ it reaches: `from assistant.store import index` is an edge to assistant.store.index (a
submodule), `from assistant.store import Index` one to assistant.store (the package's __init__).
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from pathlib import Path

ROOT = "assistant"
# Not conftest's REPO: conftest imports the package, and this test must also run (with --noconftest)
# when an import cycle keeps the package from importing.
PACKAGE = Path(__file__).resolve().parent.parent / ROOT
# The layers the package is organised in; each must exist, so the check cannot pass by finding nothing.
SUB_PACKAGES = {"text", "ingest", "embedding", "store", "query", "answer", "api", "evaluate"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "assistant.query.fusion"
    target: str  # the module of assistant/ it reaches, e.g. "assistant.store.backends"
    where: str  # "assistant/query/fusion.py:13"
    how: str  # "" at module level, else "in a function" or "under TYPE_CHECKING"

    def __str__(self) -> str:
        return f"{self.where} imports {self.target}" + (f" ({self.how})" if self.how else "")


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by its dotted name; a package's __init__.py is the package's name."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _resolve(name: str, modules) -> str | None:
    """The module of the package `name` reaches: itself, or the nearest enclosing package that
    exists; None outside the package."""
    if name != ROOT and not name.startswith(ROOT + "."):
        return None
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name if name in modules else None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _ImportStatements(ast.NodeVisitor):
    """Every Import and ImportFrom node of a tree, with where it sits."""

    def __init__(self):
        self.found: list[tuple[ast.Import | ast.ImportFrom, str]] = []
        self.context: list[str] = []

    def _inside(self, node: ast.AST, how: str) -> None:
        self.context.append(how)
        self.generic_visit(node)
        self.context.pop()

    def visit_FunctionDef(self, node):
        self._inside(node, "in a function")

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.visit(node.test)
        self.context.append("under TYPE_CHECKING")
        for child in node.body:
            self.visit(child)
        self.context.pop()
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node):
        self.found.append((node, self.context[-1] if self.context else ""))

    visit_ImportFrom = visit_Import


def imports_of(module: str, source: str, modules, *, is_package: bool = False,
               filename: str = "<source>") -> list[Import]:
    """The imports of assistant/ modules in `source`, the text of `module` (a package's __init__
    when `is_package`), resolved against `modules` (the names of the modules that exist)."""
    visitor = _ImportStatements()
    visitor.visit(ast.parse(source, filename=filename))
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node, how in visitor.found:
        if isinstance(node, ast.Import):
            targets = [_resolve(alias.name, modules) for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _resolve(base, modules)
                       for alias in node.names]
        for target in dict.fromkeys(targets):
            if target is not None and target != module:
                found.append(Import(module, target, f"{filename}:{node.lineno}", how))
    return found


def package_imports(package: Path = PACKAGE) -> list[Import]:
    modules = module_names(package)
    found = []
    for name, path in modules.items():
        found += imports_of(name, path.read_text(encoding="utf-8"), modules, is_package=path.name == "__init__.py",
                            filename=str(path.relative_to(package.parent)))
    return found


def area(module: str) -> str:
    """The node of the package-level graph a module belongs to: its top-level sub-package
    (assistant.store.backends.faiss -> store) or itself (assistant.settings -> settings)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def graph_of(edges) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    return graph


def tangles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (or of a node with an edge to
    itself), each sorted, in the order of their first node: every node of one is on a cycle with
    every other."""
    nodes = sorted(set(graph) | {t for targets in graph.values() for t in targets})

    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in graph.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    reach = {node: reachable(node) for node in nodes}
    found, done = [], set()
    for start in nodes:
        if start not in done and start in reach[start]:
            component = sorted(node for node in reach[start] if start in reach[node])
            done.update(component)
            found.append(component)
    return found


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle, as a path [a, b, ..., a], through each tangle (strongly connected
    component) from its first node; [] when the graph has no cycle."""
    cycles = []
    for component in tangles(graph):
        start, inside = component[0], set(component)
        previous, todo = {}, deque([start])  # breadth first, inside the component: the shortest way back
        while todo:
            node = todo.popleft()
            if start in graph.get(node, ()):
                path = []
                while node != start:
                    path.append(node)
                    node = previous[node]
                cycles.append([start, *reversed(path), start])
                break
            for target in sorted(graph.get(node, ())):
                if target in inside and target not in previous and target != start:
                    previous[target] = node
                    todo.append(target)
    return cycles


def _explain(graph: dict[str, set[str]], examples: dict[tuple[str, str], list[Import]], what: str) -> str:
    cycles, components = find_cycles(graph), tangles(graph)
    lines = [f"{len(cycles)} import cycle(s) between {what}:"]
    for cycle, component in zip(cycles, components):
        lines.append("  " + " -> ".join(cycle))
        for source, target in zip(cycle, cycle[1:]):
            found = examples[source, target]
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            lines.append(f"      {source} -> {target}: {found[0]}{more}")
        if len(component) > len(cycle) - 1:
            lines.append(f"    the tangle it is part of, all on cycles with each other: {', '.join(component)}")
    return "\n".join(lines)


def test_the_cycle_finder_finds_cycles_in_a_hand_made_graph():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) == []
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "x"}, "d": {"a"}, "x": set()}) == [["a", "b", "c", "a"]]
    # the shortest way round, and one cycle per tangle
    assert find_cycles({"a": {"b", "d"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}}) == [
        ["a", "d", "a"], ["e", "f", "e"]]
    assert find_cycles({"a": {"a"}}) == [["a", "a"]]
    assert tangles({"a": {"b", "d"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"a"}}) == [["a", "b", "c", "d"]]


def test_imports_are_found_anywhere_and_relative_ones_resolved():
    modules = {"assistant", "assistant.store", "assistant.store.index", "assistant.store.backends",
               "assistant.store.backends.faiss", "assistant.settings", "assistant.query", "assistant.query.fusion"}
    source = (
        "from __future__ import annotations\n"
        "import numpy\n"
        "import assistant.settings\n"
        "from . import faiss\n"
        "from .. import index, Index\n"
        "from ...query.fusion import score_fusion\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from assistant.query import Query\n"
        "def later():\n"
        "    from assistant.store.missing import thing\n"
    )
    found = imports_of("assistant.store.backends", source, modules, is_package=True)
    assert [(i.target, i.how) for i in found] == [
        ("assistant.settings", ""),
        ("assistant.store.backends.faiss", ""),
        ("assistant.store.index", ""), ("assistant.store", ""),
        ("assistant.query.fusion", ""),
        ("assistant.query", "under TYPE_CHECKING"),
        ("assistant.store", "in a function"),  # a module that does not exist: its nearest package
    ]
    assert [i.target for i in imports_of("assistant.store.backends.faiss", "from . import base\nfrom .. import index\n",
                                         modules)] == ["assistant.store.backends", "assistant.store.index"]


def test_the_modules_import_each_other_without_a_cycle():
    imports = package_imports()
    modules = module_names()
    assert {f"{ROOT}.{name}" for name in SUB_PACKAGES} <= set(modules), "a sub-package of the architecture is missing"
    assert len(imports) > 50, "the import graph is implausibly small: is PACKAGE the package?"
    examples: dict[tuple[str, str], list[Import]] = {}
    for found in imports:
        examples.setdefault((found.source, found.target), []).append(found)
    graph = graph_of(examples)
    cycles = find_cycles(graph)
    assert not cycles, _explain(graph, examples, "modules")


def test_the_sub_packages_and_top_level_modules_import_each_other_without_a_cycle():
    examples: dict[tuple[str, str], list[Import]] = {}
    for found in package_imports():
        if area(found.source) != area(found.target):
            examples.setdefault((area(found.source), area(found.target)), []).append(found)
    graph = graph_of(examples)
    assert SUB_PACKAGES <= set(graph), f"sub-packages with no import in or out: {SUB_PACKAGES - set(graph)}"
    cycles = find_cycles(graph)
    assert not cycles, _explain(graph, examples, "sub-packages and top-level modules")
