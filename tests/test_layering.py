"""Imports run one way: no cycle among messenger's modules, nor among its top-level packages.

The import graph is read from the source (ast), so an import inside a function or under
``TYPE_CHECKING`` counts like any other: a cycle hidden in a lazy import is still a cycle.
Two granularities are checked: modules (``messenger.bot.handlers.staff``) and top-level units
(``messenger.bot``, ``messenger.channels``, ``messenger.config``, …), the stricter one.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "messenger"

Graph = Mapping[str, set[str]]


def module_graph(root: Path, package: str = "messenger") -> dict[str, set[str]]:
    """Every module under ``root`` and the modules of ``package`` it imports."""
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import; write it absolute"
                base = node.module or ""
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    imported.add(target if target in modules else base)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        graph[name] = {target for target in imported if target in modules and target != name}
    return graph


def unit_graph(graph: Graph, package: str = "messenger") -> dict[str, set[str]]:
    """The module graph folded to top-level units of ``package``: ``messenger.bot.keyboards`` → ``messenger.bot``."""

    def unit(module: str) -> str:
        return ".".join(module.split(".")[:2])

    units: dict[str, set[str]] = {unit(m): set() for m in graph if m != package}
    for module, targets in graph.items():
        if module == package:
            continue
        units[unit(module)].update(unit(t) for t in targets if t != package and unit(t) != unit(module))
    return units


def cycles(graph: Graph) -> list[list[str]]:
    """One example path for each strongly connected group of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_loop(graph, group) for group in groups]


def _loop(graph: Graph, group: set[str]) -> list[str]:
    """A readable loop through ``group``: start at its first member and follow edges inside it."""
    start = min(group)
    path, seen = [start], {start}
    node = start
    while True:
        following = sorted(t for t in graph[node] if t in group)
        if start in following and len(path) > 1:
            return [*path, start]
        unseen = [t for t in following if t not in seen]
        if not unseen:
            return [*path, start]
        node = unseen[0]
        path.append(node)
        seen.add(node)


def test_no_import_cycle_between_modules() -> None:
    found = cycles(module_graph(PACKAGE))

    assert found == [], "import cycles: " + "; ".join(" → ".join(loop) for loop in found)


def test_no_import_cycle_between_top_level_packages() -> None:
    found = cycles(unit_graph(module_graph(PACKAGE)))

    assert found == [], "import cycles: " + "; ".join(" → ".join(loop) for loop in found)


@pytest.mark.parametrize("module", ["messenger.config", "messenger.content", "messenger.clock"])
def test_the_bottom_modules_import_nothing_of_ours(module: str) -> None:
    assert module_graph(PACKAGE)[module] == set()


def test_handler_modules_do_not_import_each_other() -> None:
    graph = module_graph(PACKAGE)
    handlers = {m for m in graph if m.startswith("messenger.bot.handlers.")}

    assert {m: graph[m] & handlers for m in handlers if graph[m] & handlers} == {}


# The checker itself, on small packages written for the purpose: a cycle it cannot see would
# let every test above pass.
CASES = [
    pytest.param({"a.py": "import pkg.b", "b.py": ""}, [], [], id="one way"),
    pytest.param(
        {"a.py": "from pkg.b import x", "b.py": "def f():\n    from pkg import a"},
        [["pkg.a", "pkg.b", "pkg.a"]],
        [["pkg.a", "pkg.b", "pkg.a"]],
        id="a lazy import closes a module cycle",
    ),
    pytest.param(
        {
            "x/__init__.py": "",
            "x/one.py": "from pkg.y.two import f",
            "y/__init__.py": "",
            "y/two.py": "",
            "y/three.py": "from pkg.x import one",
        },
        [],
        [["pkg.x", "pkg.y", "pkg.x"]],
        id="a package cycle without a module cycle",
    ),
    pytest.param(
        {"a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.b", "b.py": "import pkg.a"},
        [["pkg.a", "pkg.b", "pkg.a"]],
        [["pkg.a", "pkg.b", "pkg.a"]],
        id="TYPE_CHECKING imports count",
    ),
]


@pytest.mark.parametrize(("files", "module_cycles", "unit_cycles"), CASES)
def test_the_checker_finds_cycles(
    tmp_path: Path, files: dict[str, str], module_cycles: list[list[str]], unit_cycles: list[list[str]]
) -> None:
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    (tmp_path / "__init__.py").write_text("")

    graph = module_graph(tmp_path, "pkg")

    assert cycles(graph) == module_cycles
    assert cycles(unit_graph(graph, "pkg")) == unit_cycles
