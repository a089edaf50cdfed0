"""Dry run of a candidate version: the named scenarios run on it in a throwaway SQLite database, beside the
same scenarios on the active version, and each path is compared step by step (element and role).

Nothing touches the application's database: each version runs in a throwaway application with its own
in-memory SQLite database, migrated and loaded with the demo structures, gone with it. The scenarios run in a
separate process (multiprocessing, forkserver where available, else spawn) that the caller kills when a
scenario runs over its wall-clock budget; inside it, each scenario also has an engine step budget, so a loop
is stopped at the element it loops on. DRY_RUN_SECONDS bounds the whole run. The web upload calls this through
`app.extensions["dry_run"]` (web and cli are siblings); the deployment gate (workflow/gate.py) decides.
"""
from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

from sqlalchemy import select

import migrate
from cli import demo, scenarios
from cli import dryrun_texts as texts
from engine import parsing, runtime, serialization
from models import AuditEvent, Dossier, ProcessDefinition, ProcessInstance, db
from timekeeping import clock as clock_mod
from workflow import deployment, versions

ACTIVE, CANDIDATE = "actuelle", "candidate"
_baseline: dict = {}  # (content hash, step budget) of a version -> its scenario results (a version never changes)
MAX_KEPT = 32


@dataclass(frozen=True)
class Budgets:
    """Engine steps and seconds per scenario, and seconds for the whole dry run."""

    steps: int = 500
    scenario_seconds: float = 20.0
    total_seconds: float = 60.0


# --------------------------------------------------------------------------------------------
# Inside the child process

def _install(xml: str, forms: dict):
    """Store a version in the throwaway database as-is: the dry run must also run what the validator refused."""
    spec, subs = parsing.parse_bpmn(xml, deployment.process_id())
    definition = ProcessDefinition(process_id=spec.name, name=spec.description or spec.name, content_hash=deployment.content_hash_of(xml, forms),
                                   bpmn_xml=xml, forms=forms, spec_json=serialization.spec_to_json(spec, subs),
                                   deployed_at=clock_mod.app_now(), deployed_by="essai")
    db.session.add(definition)
    db.session.flush()
    deployment.set_active(definition)
    db.session.commit()
    return definition


def _describe(dossier_id, definition) -> dict:
    """Path (element ids, with the role of each human task), final state and what the dossier waits on."""
    if dossier_id is None:
        return {"chemin": [], "roles": [], "etat": "", "attente": [], "termine": True, "attend": False}
    dossier = db.session.get(Dossier, dossier_id)
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    visited = db.session.scalars(select(AuditEvent.visited).where(AuditEvent.instance_id == instance.id)
                                 .order_by(AuditEvent.seq)).all()
    # SpiffWorkflow's own tasks (Start, End, boundary splits and joins, loop children) are no element of the diagram.
    path = [name for step in visited for name in step or [] if "." not in name and " " not in name
            and name not in ("Start", "End", "Root")]
    roles = deployment.roles_of(definition)
    human = {name for name, _, _ in deployment.user_tasks(definition)}
    running = instance.status == "running"
    waits = versions.waiting_elements(instance.state_json, deployment.spec_of(definition)[0]) if running else []
    return {"chemin": path, "roles": [roles.get(name, "") if name in human else "" for name in path],
            "etat": dossier.state, "attente": [w for w in waits if w in human], "termine": not running,
            "attend": bool(waits)}


def _last_dossier_id():
    return db.session.scalar(select(Dossier.id).order_by(Dossier.id.desc()).limit(1))


def _element_of(exc: BaseException) -> str | None:
    """The BPMN element an engine failure happened at, when SpiffWorkflow says it."""
    for cause in (exc, exc.__cause__, exc.__context__):
        task = getattr(cause, "task", None)
        spec = getattr(task, "task_spec", None) or getattr(cause, "task_spec", None)
        if spec is not None:
            return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)
    return None


def _run_one(name: str, clock, steps: int, definition, names: dict, on_step=None) -> dict:
    before = _last_dossier_id()
    error, blocking, expected = None, False, None
    try:
        with runtime.step_budget(steps, on_step):
            scenarios.run(name, clock)
    except runtime.StepBudgetExceeded as exc:
        error, blocking = texts.over_steps(name, exc.steps, exc.element_id, names), True
    except scenarios.TaskNotOpen as exc:
        expected = exc.spec_name
    except Exception as exc:  # noqa: BLE001 - a scenario the candidate cannot follow is a finding
        error = texts.engine_error(getattr(exc, "message", None) or str(exc), names, _element_of(exc))
        blocking = True
    db.session.rollback()
    last = _last_dossier_id()
    found = _describe(last if last != before else None, definition)
    waits = found.pop("attend")
    if expected is not None:  # the script cannot go on: a path difference, unless the dossier is stuck
        error = texts.not_open(expected, found["attente"], names)
    if not blocking and not found["termine"] and not waits:
        error, blocking = texts.stuck(name, found["chemin"][-1] if found["chemin"] else None, names), True
    return {**found, "erreur": error, "bloquant": blocking}


def _child(make_app, jobs: list, steps: int, conn) -> None:
    """Run the scenarios of each (key, xml, forms, names) job, reporting on `conn` as it goes."""
    for key, xml, forms, wanted in jobs:
        clock = clock_mod.FrozenClock()
        throwaway = make_app("sqlite://", clock)
        throwaway.logger.disabled = True  # a scenario's failure is a finding of the report, not a server error
        with throwaway.app_context():
            try:
                migrate.upgrade()
                try:
                    definition = _install(xml, forms)
                except Exception as exc:  # noqa: BLE001 - a file the engine cannot load fails every scenario
                    reason = texts.engine_error(getattr(exc, "message", None) or str(exc), {})
                    for name in wanted:
                        conn.send(("resultat", key, name, _failed(f"la version ne peut pas être chargée ({reason})")))
                    continue
                names = {**versions.element_names(definition), **_labels(xml)}
                conn.send(("noms", key, names))
                demo.load_demo(password="essai-jetable")
                for name in wanted:
                    conn.send(("debut", key, name))
                    def where(spec, key=key, name=name):
                        conn.send(("etape", key, name, getattr(spec, "bpmn_id", None) or spec.name))
                    conn.send(("resultat", key, name, _run_one(name, clock, steps, definition, names, where)))
            finally:
                db.session.remove()
                db.engine.dispose()
    conn.send(("fin",))
    conn.close()


def _labels(xml: str) -> dict:
    """{id: name} of every named element of a BPMN text (a looping task's spec has no name of its own)."""
    return {el.get("id"): el.get("name") for el in parsing.parse_xml(xml).iter() if el.get("id") and el.get("name")}


def _failed(error: str) -> dict:
    return {"chemin": [], "roles": [], "etat": "", "attente": [], "termine": False, "erreur": error, "bloquant": True}


# --------------------------------------------------------------------------------------------
# In the caller: one child process at a time, killed when a scenario runs over its time

def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        # The server loads the application and the anonymization engine once (knowledge/preload.py); each
        # dry run's child is then forked from it, clean.
        context.set_forkserver_preload(["app", "knowledge.preload"])
        return context
    return multiprocessing.get_context("spawn")


def _run_versions(make_app, jobs: list, budgets: Budgets, deadline: float) -> tuple[dict, dict]:
    """({key: {scenario: result}}, {key: {element id: label}}) for each (key, xml, forms) job."""
    context = _context()
    todo = [(key, name) for key, _, _ in jobs for name in scenarios.SCENARIOS]
    results: dict = {key: {} for key, _, _ in jobs}
    names: dict = {key: {} for key, _, _ in jobs}
    while todo:
        if time.monotonic() >= deadline:
            for key, name in todo:
                results[key][name] = _failed(texts.not_run("durée de l'essai dépassée"))
            break
        wanted = [(key, xml, forms, [n for k, n in todo if k == key]) for key, xml, forms in jobs]
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(make_app, [j for j in wanted if j[3]], budgets.steps, sender),
                                daemon=True)
        child.start()
        sender.close()
        current, started, progressed, element = None, time.monotonic(), False, None
        try:
            while True:
                limit = deadline if current is None else min(deadline, started + budgets.scenario_seconds)
                if not receiver.poll(max(0.0, limit - time.monotonic())):
                    if current is not None:
                        key, name = current
                        over = time.monotonic() - started >= budgets.scenario_seconds
                        results[key][name] = _failed(texts.over_time(name, budgets.scenario_seconds, element,
                                                                     names[key]) if over
                                                     else texts.not_run("durée de l'essai dépassée"))
                        todo.remove(current)
                    break
                message = receiver.recv()
                progressed = True
                if message[0] == "debut":
                    current, started, element = (message[1], message[2]), time.monotonic(), None
                elif message[0] == "etape":
                    element = message[3]
                elif message[0] == "noms":
                    names[message[1]] = message[2]
                elif message[0] == "resultat":
                    results[message[1]][message[2]] = message[3]
                    todo.remove((message[1], message[2]))
                    current = None
                else:
                    break
        except (EOFError, OSError):
            if current is not None:
                results[current[0]][current[1]] = _failed(f"le scénario {current[1]} a interrompu l'essai")
                todo.remove(current)
            elif not progressed:
                for key, name in todo:
                    results[key][name] = _failed(texts.not_run("l'essai n'a pas pu démarrer"))
                todo = []
        finally:
            if child.is_alive():
                child.kill()
            child.join(5)
            receiver.close()
    return results, names


def _difference(old: list, new: list) -> dict:
    """Where two paths part: the common start, then what each does after it."""
    common = 0
    while common < min(len(old), len(new)) and old[common] == new[common]:
        common += 1
    return {"identique": old == new, "commun": common, "avant": [s[0] for s in old[common:]],
            "apres": [s[0] for s in new[common:]]}


def _row(name: str, old: dict, new: dict, old_names: dict, new_names: dict) -> dict:
    old_path = list(zip(old.get("chemin", []), old.get("roles", [])))
    new_path = list(zip(new.get("chemin", []), new.get("roles", [])))
    ecart = _difference(old_path, new_path)
    same = (old_path == new_path and old.get("etat") == new.get("etat")
            and old.get("attente", []) == new.get("attente", []))
    ecart["identique"] = same
    common = ecart["commun"]
    return {"nom": name, "titre": scenarios.SCENARIOS[name].title, "chemin": new.get("chemin", []),
            "roles": new.get("roles", []), "etat": new.get("etat", ""), "erreur": new.get("erreur"),
            "attente": new.get("attente", []), "bloquant": bool(new.get("bloquant")),
            "etat_actuel": old.get("etat", ""), "erreur_actuelle": old.get("erreur"),
            "attente_actuelle": old.get("attente", []), "ecart": ecart, "different": not same,
            "etapes_avant": texts.steps(old.get("chemin", [])[common:], old.get("roles", [])[common:], old_names),
            "etapes_apres": texts.steps(new.get("chemin", [])[common:], new.get("roles", [])[common:], new_names),
            "attente_noms": [new_names.get(w) or w for w in new.get("attente", [])],
            "attente_actuelle_noms": [old_names.get(w) or w for w in old.get("attente", [])]}


def _cacheable(results: dict) -> bool:
    """Results that depend on the version only (not on the time the run was given) can be reused."""
    return not any("dépasse son budget (" in (r.get("erreur") or "") and " s)" in (r.get("erreur") or "")
                   or (r.get("erreur") or "").startswith(("non exécuté", "le scénario "))
                   for r in results.values())


def dry_run(make_app, xml: str, forms: dict, active_xml: str | None, active_forms: dict | None,
            active_hash: str | None, seconds: float, budgets: Budgets | None = None) -> list[dict]:
    """Each named scenario on the candidate and on the active version (if any): path with roles, final state,
    what it waits on, error (blocking or not), and the difference; `seconds` bounds the whole run. A version's
    results are kept by content hash and step budget (a version never changes), so each runs once here."""
    budgets = budgets or Budgets(total_seconds=seconds)
    deadline = time.monotonic() + seconds
    versions_run = {CANDIDATE: (deployment.content_hash_of(xml, forms), xml, forms)}
    if active_xml is not None:
        versions_run[ACTIVE] = (active_hash, active_xml, active_forms)
    jobs = [(key, text, form_set) for key, (digest, text, form_set) in versions_run.items()
            if (digest, budgets.steps) not in _baseline]
    ran, names = _run_versions(make_app, jobs, budgets, deadline) if jobs else ({}, {})
    found = {}
    for key, (digest, _, _) in versions_run.items():
        if key in ran:
            found[key] = (ran[key], names[key])
            if _cacheable(ran[key]):
                if len(_baseline) >= MAX_KEPT:
                    _baseline.pop(next(iter(_baseline)))
                _baseline[(digest, budgets.steps)] = found[key]
        else:
            found[key] = _baseline[(digest, budgets.steps)]
    (new_results, new_names), (old_results, old_names) = found[CANDIDATE], found.get(ACTIVE, ({}, {}))
    rows = [_row(name, old_results.get(name, {}), new_results.get(name, {}), old_names, new_names)
            for name in scenarios.SCENARIOS]
    if active_xml is None:
        for row in rows:
            row["different"] = False
    return rows
