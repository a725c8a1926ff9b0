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


# The stages in the order docs/architecture.md draws them: each may import those before
# it, never one after it. fleet/ comes after metrics/ because it hands the metric lines of
# its sessions on (in-process or from its worker processes). http_server/ is generic: it
# imports no stage. The simulator is a test instrument: it may speak the printer's
# vocabulary, and no stage imports it. cli and config wire the stages together, so no
# stage imports them, except the one arrow ALLOWED names.
STAGE_ORDER = ("inventory", "printer", "metrics", "fleet", "web")
WIRING = ("cli", "config")
# web/healthcheck.py is a client of the exporter's own pages that reads serve's flags
# through config.py; it is to leave web/ for a home of the commands.
ALLOWED = {("exporter.web.healthcheck", "exporter.config")}


def stage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def backward_imports(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, deps in graph.items():
        source = stage_of(module)
        for dep in deps:
            target = stage_of(dep)
            if target == source or (module, dep) in ALLOWED:
                continue
            if target in WIRING and source not in WIRING and source != "__main__":
                wrong = True
            elif source == "http_server":
                wrong = target in STAGE_ORDER or target == "simulator"
            elif target == "simulator":
                wrong = source in STAGE_ORDER or source == "http_server"
            elif source == "simulator":
                wrong = target not in ("inventory", "printer") and target in STAGE_ORDER
            elif source in STAGE_ORDER and target in STAGE_ORDER:
                wrong = STAGE_ORDER.index(target) > STAGE_ORDER.index(source)
            else:
                wrong = False
            if wrong:
                found.append(f"{module} imports {dep}")
    return sorted(found)


def test_the_flow_runs_one_way() -> None:
    assert backward_imports(import_graph()) == []


def test_a_backward_import_is_found() -> None:
    graph = {"exporter.metrics.collector": {"exporter.fleet.sessions", "exporter.printer.status"},
             "exporter.fleet.local_fleet": {"exporter.metrics.printer_lines"},
             "exporter.http_server.connection": {"exporter.web.app", "exporter.text"},
             "exporter.printer.session": {"exporter.simulator.fleet"},
             "exporter.inventory.postgres": {"exporter.config"},
             "exporter.cli": {"exporter.simulator.fleet", "exporter.web.app"}}
    assert backward_imports(graph) == [
        "exporter.http_server.connection imports exporter.web.app",
        "exporter.inventory.postgres imports exporter.config",
        "exporter.metrics.collector imports exporter.fleet.sessions",
        "exporter.printer.session imports exporter.simulator.fleet"]


def test_few_modules_sit_beside_the_stage_folders() -> None:
    # The top level wires (cli, config) and holds what every stage shares; anything
    # else belongs to the stage it serves.
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= 6, top


@pytest.mark.parametrize("stage", ["inventory", "printer", "fleet", "metrics", "web",
                                   "http_server"])
def test_each_stage_says_what_it_takes_and_hands_on(stage: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
    assert doc and "Takes" in doc and "hands on" in doc
