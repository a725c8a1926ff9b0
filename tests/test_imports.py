"""The package's import graph has no cycles, and each stage's folder says what it is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.tier("unit")

PACKAGE = Path(__file__).resolve().parents[1] / "exporter"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules `path` imports, at any depth in the file (a function-level
    import closes a cycle at run time just as well)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {name: imports_of(path, modules) - {name} for name, path in paths.items()}
    # Importing a.b.c runs a/__init__ and a/b/__init__ first, except the packages the
    # importer itself sits in: those are already being imported when it runs.
    for name in graph:
        graph[name] |= {parent for dep in graph[name] for parent in _parents(dep)} & modules
        graph[name] -= {name, *_parents(name)}
    return graph


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    # The test above can fail: a planted cycle is found.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# The flow runs one way: printer list -> sessions (printer/, fleet/) -> metric lines -> HTTP.
# A stage may import the stages before it, never those after it.
FORBIDDEN_ARROWS = [
    ("exporter.metrics", "exporter.fleet"),
    ("exporter.metrics", "exporter.web"),
    ("exporter.printer", "exporter.fleet"),
    ("exporter.printer", "exporter.metrics"),
    ("exporter.inventory", "exporter.printer"),
    ("exporter.inventory", "exporter.fleet"),
    ("exporter.printer", "exporter.simulator"),
]


def backward_imports(graph: dict[str, set[str]]) -> list[str]:
    def within(module: str, stage: str) -> bool:
        return module == stage or module.startswith(stage + ".")

    return sorted(f"{module} imports {dep}"
                  for module, deps in graph.items() for dep in deps
                  for source, target in FORBIDDEN_ARROWS
                  if within(module, source) and within(dep, target))


def test_the_flow_runs_one_way() -> None:
    assert backward_imports(import_graph()) == []


def test_a_backward_import_is_found() -> None:
    graph = {"exporter.metrics.collector": {"exporter.fleet.reconcile", "exporter.printer.status"},
             "exporter.fleet.rendered": {"exporter.metrics.printer_lines"}}
    assert backward_imports(graph) == [
        "exporter.metrics.collector imports exporter.fleet.reconcile"]


def test_few_modules_sit_beside_the_stage_folders() -> None:
    # The top level wires (cli, config) and holds what every stage shares; anything
    # else belongs to the stage it serves.
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= 6, top


@pytest.mark.parametrize("stage", ["inventory", "printer", "fleet", "metrics", "web"])
def test_each_stage_says_what_it_takes_and_hands_on(stage: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
    assert doc and "Takes" in doc and "hands on" in doc
