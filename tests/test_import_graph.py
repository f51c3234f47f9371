"""No import cycles: between modules, and between the pipeline's stage folders.

The graph is read from the sources with ``ast``: every ``import`` and ``from ... import``
counts, at module level and inside functions alike (a function-level import still ties the
two modules together; it only hides the cycle until run time). Imports under
``if TYPE_CHECKING:`` count too. ``importlib.import_module`` calls of registries (the lazy
decoder and reader tables) are not edges: they name their modules as data.

Stages: the folders under ``src/dronewatch`` (``sources``, ``protocols``, ``track``,
``alerts``...), each a node; an import from one folder's module into another's is an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "dronewatch"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, dict[str, int]]:
    """Module -> {imported dronewatch module: first line}."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                # "from pkg import mod" imports the module pkg.mod
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module
                           for a in node.names]
            for target in targets:
                while target and target not in modules:  # "import a.b.c" of an attribute...
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _stage(module: str) -> str | None:
    parts = module.split(".")
    folder = PACKAGE.joinpath(*parts[1:2])
    return parts[1] if len(parts) > 1 and folder.is_dir() else None


def stage_graph(graph: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for module, edges in graph.items():
        here = _stage(module)
        if here is None:
            continue
        for target, line in edges.items():
            there = _stage(target)
            if there is not None and there != here:
                out.setdefault(here, {}).setdefault(there, line)
        out.setdefault(here, {})
    return out


def _describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    edges = [f"{a} -> {b} (line {graph[a][b]})"
             for a in component for b in graph[a] if b in component]
    return "; ".join(edges)


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "dronewatch.model" in graph["dronewatch.decode"]
    # function-level imports count: the CLI imports its subcommands lazily by name only,
    # but decode.py imports observe inside a function
    assert "dronewatch.track.observe" in graph["dronewatch.cli.decode"]
    # a cycle is found
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [
        ["a", "b", "c"]
    ]


@pytest.mark.parametrize("level", ["modules", "stages"])
def test_no_import_cycles(level: str) -> None:
    graph = import_graph()
    if level == "stages":
        graph = stage_graph(graph)
    found = cycles(graph)
    assert not found, "\n".join(_describe(c, graph) for c in found)
