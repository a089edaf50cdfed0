"""The layout holds: imports run one way between layers, no import cycle, no project module over 400 lines.

Every project module (tests, migrations and benchmarks aside for imports; tests and migrations aside
for size) is parsed with `ast`; nothing is imported or run. docs/reference/architecture.md gives
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
# Inside web/, one package per audience (DESIGN.md, « Layout »), in the same one-way order: an audience may use
# the ones below it (the API serves what the pages serve; the declaration wizard's later steps are task pages),
# never one beside or above it. The modules at web/'s root (access.py, forms.py, ...) are shared by every audience.
WEB_LAYERS = [
    {"web.auth"},                   # who is who: sessions, login, single sign-on, CSRF, error pages
    {"web.shared"},                 # web/*.py: the visibility model, form rendering, logs
    {"web.casework"},               # inbox, task pages, dossiers, journal
    {"web.declaration"},            # the declaration wizard and the autosave of every form
    {"web.owners", "web.administration", "web.knowledge", "web.audit"},
    {"web.api"},                    # the JSON API over the same functions as the pages
    {"web"},                        # the package that registers them all
]
WEB_RANK = {unit: rank for rank, units in enumerate(WEB_LAYERS) for unit in units}
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


def web_unit(module: str) -> str:
    """The audience package of a web module (`web.casework.tasks` -> `web.casework`), `web.shared` for web/*.py."""
    parts = module.split(".")
    if len(parts) == 1:
        return "web"
    return f"web.{parts[1]}" if f"web.{parts[1]}" in WEB_RANK else "web.shared"


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that go up a layer or sideways to another unit of the same layer, and unplaced units."""
    problems = [f"{name} n'a pas de couche dans LAYERS" for name in sorted({unit(m) for m in graph} - RANK.keys())]
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            source_unit, target_unit = unit(module), unit(target)
            if source_unit == target_unit == "web":
                source_unit, target_unit = web_unit(module), web_unit(target)
                ranks = WEB_RANK
            else:
                ranks = RANK
            if source_unit == target_unit or source_unit not in ranks or target_unit not in ranks:
                continue
            if ranks[target_unit] >= ranks[source_unit]:
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
                           ("web.casework.tasks", "workflow.commands"), ("web.api.tasks", "web.casework.tasks"), ("audit.replayer", "workflow.context"),
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


def test_web_audiences_import_one_way():
    """Inside web/, an audience never reaches into one beside or above it: case work importing the process owners'
    deployment, or the shared visibility model importing a page, is reported; the API using case work is not."""
    graph = {"web.casework.tasks": {"web.owners.deploys", "web.access", "web.auth.login"},
             "web.access": {"web.casework.inbox"}, "web.api.tasks": {"web.casework.tasks", "web.access"},
             "web.owners.admin": {"web.administration.accounts", "web.owners.deploys"}}
    assert layering_violations(graph) == ["web.access -> web.casework.inbox", "web.casework.tasks -> web.owners.deploys",
                                          "web.owners.admin -> web.administration.accounts"]
    real = import_graph()
    assert {web_unit(m) for m in real if unit(m) == "web"} == WEB_RANK.keys()
    planted = {**real, "web.casework.tasks": real["web.casework.tasks"] | {"web.owners.deploys"}}
    assert layering_violations(planted) == ["web.casework.tasks -> web.owners.deploys"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_400_lines():
    """Modules stay small: split by job before a file passes 400 lines (tests and migrations aside)."""
    files = project_files({"tests", "migrations", "node_modules", "instance"})
    assert len(files) >= 64 and ROOT / "workflow" / "commands.py" in files
    sizes = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines()) for path in files}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
