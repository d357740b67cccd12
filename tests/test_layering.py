"""No import circles among the project's modules, and the gateway's stages stacked in order.

Every import counts: at module level, inside a function, or under ``TYPE_CHECKING``.
An import moved into a function or behind ``TYPE_CHECKING`` still ties the two modules
together; it only hides the circle from the interpreter. When two modules need the same
type, it belongs in a lower module that both import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What ``pip install fame-gateway`` installs.
INSTALLED = (ROOT / "gateway", ROOT / "resolvers", ROOT / "connectors")
#: Everything with a module the project imports: the installed packages, the demo world
#: (a distribution of its own) and the benchmark.
PACKAGES = (*INSTALLED, ROOT / "demo" / "fame_demo", ROOT / "bench")

#: module -> {imported project module: line numbers of the imports}
Graph = dict[str, dict[str, list[int]]]

#: The stages of a request, lowest first: each imports only from its own layer and the ones
#: below it, so any stage can be read, tested and changed without the ones above it.
#: Packages in one layer sit side by side and do not import each other either.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("gateway.core",),
    ("connectors",),
    ("gateway.config",),
    ("gateway.decide",),
    ("gateway.governance",),
    ("gateway.pipeline",),
    ("gateway.audit",),
    ("gateway.edge", "resolvers"),
    # The rest of the package: the top-level modules (request, service, app, cli) that tie
    # the stages together. A module's layer is the lowest one naming it, so this comes last.
    ("gateway",),
)


def project_modules(packages: Iterable[Path]) -> dict[str, Path]:
    """Every module of the packages (their directories), by dotted name."""
    modules: dict[str, Path] = {}
    for package in packages:
        for file in sorted(package.rglob("*.py")):
            parts = list(file.relative_to(package.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = file
    return modules


def import_graph(modules: Mapping[str, Path]) -> Graph:
    """Which project modules each module imports, with the lines that do it."""

    def known(name: str) -> str | None:
        # ``import a.b.c`` of a name inside a module: the longest prefix that is a module.
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: Graph = {}
    for name, file in modules.items():
        is_package = file.name == "__init__.py"
        edges: dict[str, list[int]] = {}
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [known(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = package[: len(package) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                # ``from a import b`` imports the module a.b when there is one.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else known(base)
                    for alias in node.names
                ]
            for target in targets:
                if target is not None and target != name:
                    edges.setdefault(target, []).append(node.lineno)
        graph[name] = edges
    return graph


def circles(graph: Graph) -> list[list[str]]:
    """One circle through each group of modules that import each other, as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    #: The depth-first path being walked: each module with the imports it has left to follow.
    work: list[tuple[str, Iterator[str]]] = []

    def enter(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        work.append((module, iter(sorted(graph[module]))))

    # Tarjan's strongly connected components, iteratively: no recursion limit to meet.
    for start in sorted(graph):
        if start in index:
            continue
        enter(start)
        while work:
            module, targets = work[-1]
            for target in targets:
                if target not in index:
                    enter(target)
                    break
                if target in on_stack:
                    low[module] = min(low[module], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    group: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == module:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return [_shortest_circle(graph, group) for group in groups]


def _shortest_circle(graph: Graph, group: list[str]) -> list[str]:
    # Breadth-first from the group's first module back to itself, inside the group.
    members = set(group)
    start = group[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for module in frontier:
            for target in sorted(graph[module]):
                if target not in members:
                    continue
                if target == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in came_from:
                    came_from[target] = module
                    following.append(target)
        frontier = following
    raise AssertionError(f"{group} is not a circle")


def describe(graph: Graph, modules: Mapping[str, Path], circle: list[str]) -> str:
    """``a (a.py:12) -> b (b.py:40) -> a``: each step with the line that imports the next."""
    steps = [
        f"{module} ({modules[module].relative_to(ROOT)}:"
        f"{','.join(map(str, sorted(set(graph[module][target]))))})"
        for module, target in pairwise(circle)
    ]
    return " -> ".join([*steps, circle[-1]])


def imports_run_on_loading(file: Path) -> set[str]:
    """The modules ``file`` imports outside any function: those loading it imports."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(file.read_text(), str(file)))
    return found


def layer_of(module: str, layers: Iterable[Iterable[str]]) -> tuple[int, str] | None:
    """The lowest layer naming the module (or a package holding it), and that name."""
    for number, members in enumerate(layers):
        for member in members:
            if module == member or module.startswith(member + "."):
                return number, member
    return None


def layer_breaches(
    graph: Graph, modules: Mapping[str, Path], layers: Iterable[Iterable[str]]
) -> list[str]:
    """Every import from a layer to a higher one, or across to a neighbour in the same layer."""
    layers = [tuple(members) for members in layers]
    found: list[str] = []
    for module, targets in sorted(graph.items()):
        own = layer_of(module, layers)
        if own is None:
            continue
        for target, lines in sorted(targets.items()):
            theirs = layer_of(target, layers)
            if theirs is None or theirs[1] == own[1] or theirs[0] < own[0]:
                continue
            where = "above it" if theirs[0] > own[0] else "beside it"
            file = modules[module]
            shown = file.relative_to(ROOT) if file.is_relative_to(ROOT) else file
            found.extend(
                f"{shown}:{line}: {module} ({own[1]}) imports {target} ({theirs[1]}, {where})"
                for line in sorted(set(lines))
            )
    return found


def test_no_import_circles() -> None:
    modules = project_modules(PACKAGES)
    graph = import_graph(modules)
    found = [describe(graph, modules, circle) for circle in circles(graph)]
    assert not found, "import circles among project modules:\n  " + "\n  ".join(found)


def test_the_stages_stack_in_order() -> None:
    modules = project_modules(PACKAGES)
    found = layer_breaches(import_graph(modules), modules, LAYERS)
    assert not found, "imports against the order of the layers:\n  " + "\n  ".join(found)


def test_every_installed_module_is_in_a_layer() -> None:
    # Only top-level modules may fall through to the last layer, ``gateway``: a new
    # subpackage is a new stage, and has to be given its place in LAYERS.
    unplaced = []
    for name in project_modules(INSTALLED):
        placed = layer_of(name, LAYERS)
        if placed is None or (placed[1] == "gateway" and name.count(".") > 1):
            unplaced.append(name)
    assert not unplaced, f"these belong to no layer in LAYERS: {unplaced}"


def test_the_installed_gateway_loads_without_the_demo() -> None:
    installed = project_modules(INSTALLED)
    graph = import_graph(project_modules(PACKAGES))
    # Only the commands that run the demo reach for it, and say how to get it if it is missing.
    reaching = {name for name in installed if any(t.startswith("fame_demo") for t in graph[name])}
    assert reaching <= {"gateway.cli"}, f"these import the demo world: {sorted(reaching)}"
    loading = {
        name
        for name, file in installed.items()
        if any(m.split(".")[0] == "fame_demo" for m in imports_run_on_loading(file))
    }
    assert not loading, f"these import the demo world when loaded: {sorted(loading)}"


def test_a_circle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("from typing import TYPE_CHECKING\n")
    (package / "a.py").write_text("from pkg import low\nfrom pkg.b import thing\n")
    (package / "b.py").write_text(
        "from pkg import low\n\n\ndef thing():\n    from . import a\n    return a\n"
    )
    graph = import_graph(project_modules([package]))
    assert graph["pkg.b"] == {"pkg.low": [1], "pkg.a": [5]}
    assert circles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]


def test_a_circle_behind_type_checking_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import pkg.b\n")
    (package / "b.py").write_text("import pkg.c\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.a import A\n"
    )
    assert circles(import_graph(project_modules([package]))) == [
        ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    ]


def test_an_import_from_a_lower_layer_is_found(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "low").mkdir(parents=True)
    (package / "high").mkdir()
    for init in (package, package / "low", package / "high"):
        (init / "__init__.py").write_text("")
    (package / "side.py").write_text("import pkg.high.top\n")
    (package / "high" / "top.py").write_text("from pkg.low import base\n")
    (package / "low" / "base.py").write_text("\n\ndef late():\n    from pkg.high import top\n")
    modules = project_modules([package])
    found = layer_breaches(import_graph(modules), modules, [("pkg.low",), ("pkg.high", "pkg.side")])
    assert found == [
        f"{package / 'low' / 'base.py'}:4: pkg.low.base (pkg.low) imports pkg.high.top"
        " (pkg.high, above it)",
        f"{package / 'side.py'}:1: pkg.side (pkg.side) imports pkg.high.top (pkg.high, beside it)",
    ]
