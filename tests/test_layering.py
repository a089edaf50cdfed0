"""The layout holds: imports run one way between layers, no import cycle, no project module over 400 lines.

Every project module (tests, migrations and benchmarks aside for imports; tests and migrations aside
for size) is parsed with `ast`; nothing is imported or run. The README's "How it is built" gives
the same layer order.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import from a lower layer, or from its own package (or module);
# never from a higher layer, nor from another unit of its own layer.
LAYERS = [
    {"referentiel", "models"},      # the instruction's vocabulary and the tables
    {"migrate", "timekeeping"},     # schema upgrade; clock, business calendar, leases
    {"engine", "mail"},             # SpiffWorkflow wiring; notifications and the outbox sender
    {"knowledge", "accounts"},      # reflex sheets, providers, retex, statistics; structures and users
    {"handlers"},                   # service-task operators
    {"validation"},                 # the deploy-time validator of a BPMN file and its forms
    {"workflow"},                   # the commands, and the sweeps that fire timers through them
    {"cases"},                      # the dossier's journal: notes, attachments, observables, links
    {"audit", "scheduler"},         # history checked and replayed; the process that wakes the sweeps
    {"web", "cli"},                 # the two front doors
    {"app"},                        # the factory that wires everything
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
NOT_LAYERED = {"tests", "migrations", "bench", "node_modules", "processes", "forms", "scripts", "instance"}
MAX_LINES = 400


def project_files(skip: set[str]) -> list[Path]:
    """Python files of the project: root modules and packages (never following symlinks such as .venv)."""
    files = sorted(ROOT.glob("*.py"))
    for folder in sorted(ROOT.iterdir()):
        if folder.is_dir() and not folder.is_symlink() and not folder.name.startswith(".") and folder.name not in skip:
            files += sorted(folder.rglob("*.py"))
    return files


def module_name(path: Path) -> str:
    """Dotted module name of a project file (a package's __init__ is the package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Project modules a file imports, anywhere in it (late imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from pkg import name` imports the module pkg.name when there is one, else pkg.
            targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """{module: project modules it imports} over the layered code."""
    files = project_files(NOT_LAYERED)
    modules = {module_name(path) for path in files}
    return {module_name(path): imports_of(path, modules) - {module_name(path)} for path in files}


def unit(module: str) -> str:
    """The package (or root module) a module belongs to."""
    return module.split(".")[0]


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that go up a layer or sideways to another unit of the same layer, and unplaced units."""
    problems = [f"{name} n'a pas de couche dans LAYERS" for name in sorted({unit(m) for m in graph} - RANK.keys())]
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            source_unit, target_unit = unit(module), unit(target)
            if source_unit == target_unit or source_unit not in RANK or target_unit not in RANK:
                continue
            if RANK[target_unit] >= RANK[source_unit]:
                problems.append(f"{module} -> {target}")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (or a module importing itself)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_the_whole_project():
    """The checks below see every package and the edges that hold the design (so they can fail)."""
    graph = import_graph()
    assert len(graph) >= 59
    assert sum(len(targets) for targets in graph.values()) >= 200
    assert {unit(module) for module in graph} >= RANK.keys()
    for module, target in [("workflow.commands", "engine.runtime"), ("workflow.timers", "workflow.commands"),
                           ("web.tasks", "workflow.commands"), ("audit.replayer", "workflow.context"),
                           ("engine.clockhooks", "timekeeping.clock"), ("app", "cli.process")]:
        assert target in graph[module], (module, target)


def test_imports_run_one_way():
    """web and cli -> workflow -> engine -> models: no import goes up a layer or across to a sibling."""
    assert layering_violations(import_graph()) == []


def test_no_import_cycle():
    """No two project modules import each other, directly or through others."""
    assert cycles(import_graph()) == []


def test_the_checks_catch_what_they_look_for():
    """On a made-up graph, an upward import, a sideways import, a cycle and an unplaced package are reported."""
    graph = {"engine.runtime": {"workflow.commands"}, "workflow.commands": {"engine.runtime"},
             "web.tasks": {"cli.process"}, "cli.process": set(), "paperwork.journal": {"models"}, "models": set()}
    assert layering_violations(graph) == ["paperwork n'a pas de couche dans LAYERS",
                                          "engine.runtime -> workflow.commands", "web.tasks -> cli.process"]
    assert cycles(graph) == [["engine.runtime", "workflow.commands"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_400_lines():
    """Modules stay small: split by job before a file passes 400 lines (tests and migrations aside)."""
    files = project_files({"tests", "migrations", "node_modules", "instance"})
    assert len(files) >= 64 and ROOT / "workflow" / "commands.py" in files
    sizes = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines()) for path in files}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
