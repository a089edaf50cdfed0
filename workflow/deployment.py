"""Deployment and definitions: a BPMN file and its forms stored as a version identified by content,
the latest version, the parsed spec of a version, its user tasks.
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import current_app, has_request_context, request
from sqlalchemy import bindparam, select

from engine import parsing, serialization
from engine.errors import EngineError
from models import ActiveVersion, DeploymentEvent, ProcessDefinition, db
from timekeeping import clock as clock_mod
from validation import lanes, validator
from workflow import canonical


def forms_dir() -> Path:
    """Folder of the JSON Schema forms."""
    return Path(current_app.config["FORMS_DIR"])


def read_bpmn(bpmn_path: str | Path) -> str:
    """A BPMN file's text; a file not in UTF-8 is a 422 naming it."""
    try:
        return parsing.load_bpmn_file(bpmn_path)
    except UnicodeDecodeError:
        raise EngineError(f"Le fichier BPMN est invalide : {Path(bpmn_path).name} doit être encodé en UTF-8.", 422) from None


def deploy(bpmn_path: str | Path, actor: str = "système", forms_path: str | Path | None = None) -> ProcessDefinition:
    """Store a BPMN file with its forms as a definition version; the same content deploys once."""
    return deploy_xml(read_bpmn(bpmn_path), actor, forms_path, filename=Path(bpmn_path).name)


def current_forms(forms_path: str | Path | None = None) -> dict:
    """{file name: JSON} of the forms a deployment would pin."""
    folder = Path(forms_path) if forms_path else forms_dir()
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def process_id() -> str:
    """The process id this application runs: deployments replace its versions, never another's."""
    return current_app.config["PROCESS_ID"]


_validated: set = set()  # content hashes found valid in this process (validation depends on content only)


def content_hash_of(xml: str, forms: dict) -> str:
    """The identity of a version: its BPMN text and its forms."""
    return serialization.sha256(serialization.canonical_json({"bpmn": xml, "forms": forms}))


def known_version(xml: str, forms: dict) -> ProcessDefinition | None:
    """The deployed version with this content, or with the same meaning (layout aside), if any."""
    found = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.content_hash
                                                              == content_hash_of(xml, forms)))
    return found or same_meaning(xml, forms)


def deploy_xml(xml: str, actor: str = "système", forms_path: str | Path | None = None,
               filename: str = "processus.bpmn", forms: dict | None = None, comment: str = "",
               checked: validator.Report | None = None, on_stored=None) -> ProcessDefinition:
    """Validate BPMN text with its forms (given, or the forms folder's) and store it as a definition version.

    The same content deploys once; a new version becomes the active one (an audited deployment event),
    while a content equal to an existing version changes nothing (a restart never undoes a rollback).
    This stores and activates: the deploy paths (web, modeller, `flask deploy`, start) go through the gate
    (workflow/gate.py), which runs the dry run first; `checked` is the gate's clean validator report, and
    `on_stored(definition)` adds rows in the same transaction.
    """
    forms = current_forms(forms_path) if forms is None else forms
    content_hash = content_hash_of(xml, forms)
    existing = known_version(xml, forms)
    if existing is not None:
        return existing
    if checked is not None and checked.ok and checked.spec is not None:
        spec, subs = checked.spec, checked.subprocess_specs
    elif (content_hash, process_id()) in _validated:
        spec, subs = parsing.parse_bpmn(xml, process_id())
    else:
        report = validator.ensure_valid(xml, forms, filename, process_id(), lint=current_app.config["BPMN_LINT"])
        spec, subs = report.spec, report.subprocess_specs
        if current_app.config["BPMN_LINT"] and not report.linted:
            current_app.logger.warning("bpmnlint absent (npm ci) : ses règles n'ont pas été vérifiées pour %s", filename)
        _validated.add((content_hash, process_id()))
    definition = ProcessDefinition(process_id=spec.name, name=spec.description or spec.name,
                                   content_hash=content_hash, bpmn_xml=xml, forms=forms,
                                   spec_json=serialization.spec_to_json(spec, subs), deployed_at=clock_mod.app_now(),
                                   deployed_by=actor)
    db.session.add(definition)
    db.session.flush()
    previous = _active_row(definition.process_id)
    record_event(definition, "deploiement", actor, comment, previous.definition_id if previous else None)
    set_active(definition, previous)
    if on_stored is not None:
        on_stored(definition)
    db.session.commit()
    return definition


def _active_row(bound_to: str) -> ActiveVersion | None:
    return db.session.get(ActiveVersion, bound_to)


def set_active(definition: ProcessDefinition, row: ActiveVersion | None = None) -> None:
    """Point new dossiers of the definition's process id at it (the caller commits)."""
    row = row or _active_row(definition.process_id)
    # What is kept of the active version is read again: the request's own answer, and what follows activations().
    current_app.extensions["activations"] = activations() + 1
    if has_request_context():
        request.environ.pop("signalement.active_definitions", None)
    if row is None:
        db.session.add(ActiveVersion(process_id=definition.process_id, definition_id=definition.id,
                                     changed_at=clock_mod.app_now()))
    else:
        row.definition_id, row.changed_at = definition.id, clock_mod.app_now()


def activations() -> int:
    """How many times this application has activated a version (in this process): what is kept per process of
    the active version (the inbox's task filter) is read again when it changes."""
    return current_app.extensions.get("activations", 0)


def record_event(definition: ProcessDefinition, action: str, actor: str, comment: str = "",
                 previous_id: int | None = None, details: dict | None = None) -> DeploymentEvent:
    """Add a deployment event (deploiement, activation, migration) to the history (the caller commits)."""
    event = DeploymentEvent(process_id=definition.process_id, definition_id=definition.id, previous_id=previous_id,
                            action=action, actor=actor, at=clock_mod.app_now(), comment=comment or "",
                            details=details or {})
    db.session.add(event)
    return event


# Built once (models/kept.py says why): every declaration reads it.
ACTIVE_DEFINITION = select(ProcessDefinition).join(ActiveVersion, ActiveVersion.definition_id == ProcessDefinition.id
                                                   ).where(ActiveVersion.process_id == bindparam("_process"))


def active_definition(bound_to: str | None = None) -> ProcessDefinition:
    """The version new dossiers start on: the activated one, else the latest of the process id."""
    key = bound_to or process_id()
    # Within a web request the answer is kept (a declaration asks for it to check its blocks, then to start);
    # set_active forgets it. Outside requests (the scheduler, the command line) it is read each time.
    # (Kept in the request's environ, not in g: g belongs to the application context, which may outlive it.)
    kept = request.environ.setdefault("signalement.active_definitions", {}) if has_request_context() else {}
    found = kept.get(key)
    if found is not None and found in db.session:
        return found
    # One round trip: the definition through its pointer.
    found = db.session.scalar(ACTIVE_DEFINITION, {"_process": key})
    if found is None:  # nothing activated yet: the latest deployed, not kept (a deployment may follow)
        return latest_definition(bound_to)
    kept[key] = found
    return found


_meaning_cache: dict = {}


def _meaning_of(definition: ProcessDefinition) -> str:
    if definition.content_hash not in _meaning_cache:
        _meaning_cache[definition.content_hash] = canonical.canonical_text(definition.bpmn_xml)
    return _meaning_cache[definition.content_hash]


def same_meaning(xml: str, forms: dict) -> ProcessDefinition | None:
    """The deployed version equal in meaning (same process, same forms; layout, namespace prefixes and
    attributes at their BPMN default aside: workflow/canonical.py), if any."""
    try:
        wanted = canonical.canonical_text(xml)
    except Exception:  # noqa: BLE001 - unreadable files are reported by the validator
        return None
    for definition in db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_id == process_id())
                                         .order_by(ProcessDefinition.id.desc())):
        if definition.forms == forms and _meaning_of(definition) == wanted:
            return definition
    return None


def latest_definition(bound_to: str | None = None) -> ProcessDefinition:
    """The most recently deployed definition of a process id (by default, the one this application runs)."""
    query = (select(ProcessDefinition).where(ProcessDefinition.process_id == (bound_to or process_id()))
             .order_by(ProcessDefinition.id.desc()).limit(1))
    definition = db.session.scalar(query)
    if definition is None:
        raise EngineError("Aucun processus n'est déployé.", 503)
    return definition


_spec_cache: dict = {}
_roles_cache: dict = {}


def spec_of(definition: ProcessDefinition):
    """Parsed spec of a definition, cached by content hash (definitions never change)."""
    key = definition.content_hash
    if key not in _spec_cache:
        _spec_cache[key] = serialization.spec_from_json(definition.spec_json)
    return _spec_cache[key]


def roles_of(definition: ProcessDefinition) -> dict[str, str]:
    """{element id: role code} from the lanes of a definition's BPMN, cached by content hash."""
    key = definition.content_hash
    if key not in _roles_cache:
        _roles_cache[key] = lanes.element_roles(parsing.parse_xml(definition.bpmn_xml))
    return _roles_cache[key]


def role_of(definition: ProcessDefinition, spec_name: str) -> str:
    """The role that works a task of a definition; a task in no lane with a role is refused, never guessed."""
    role = roles_of(definition).get(spec_name)
    if role is None:
        raise EngineError(f"La tâche « {spec_name} » n'est dans aucune voie dont le rôle est connu : "
                          "la version du processus doit être corrigée.", 409)
    return role


_user_tasks_cache: dict = {}


def user_tasks(definition: ProcessDefinition) -> list[tuple[str, str, str]]:
    """(id, name, role) of every user task of a definition, by id (the inbox's task filter), cached by content
    hash like the spec it is read from."""
    if definition.content_hash not in _user_tasks_cache:
        _user_tasks_cache[definition.content_hash] = _user_tasks(definition)
    return list(_user_tasks_cache[definition.content_hash])


def _user_tasks(definition: ProcessDefinition) -> list[tuple[str, str, str]]:
    spec, subs = spec_of(definition)
    found = {}
    for task_spec in [t for s in [spec, *subs.values()] for t in s.task_specs.values()]:
        if task_spec.manual:
            found[task_spec.name] = (task_spec.name, task_spec.bpmn_name or task_spec.name,
                                     roles_of(definition).get(task_spec.name, ""))
    return sorted(found.values())
