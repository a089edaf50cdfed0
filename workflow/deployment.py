"""Deployment and definitions: a BPMN file and its forms stored as a version identified by content,
the latest version, the parsed spec of a version, its user tasks.
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from engine import parsing, serialization
from engine.errors import EngineError
from models import ProcessDefinition, db
from referentiel import LANE_ROLES
from timekeeping import clock as clock_mod


def forms_dir() -> Path:
    """Folder of the JSON Schema forms."""
    return Path(current_app.config["FORMS_DIR"])


def deploy(bpmn_path: str | Path, actor: str = "système", forms_path: str | Path | None = None) -> ProcessDefinition:
    """Store a BPMN file with its forms as a definition version; the same content deploys once."""
    return deploy_xml(parsing.load_bpmn_file(bpmn_path), actor, forms_path)


def deploy_xml(xml: str, actor: str = "système", forms_path: str | Path | None = None) -> ProcessDefinition:
    """Store BPMN text with the current forms as a definition version; the same content deploys once."""
    folder = Path(forms_path) if forms_path else forms_dir()
    forms = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
    content_hash = serialization.sha256(serialization.canonical_json({"bpmn": xml, "forms": forms}))
    existing = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.content_hash == content_hash))
    if existing is not None:
        return existing
    try:
        spec, subs = parsing.parse_bpmn(xml)
        parsing.check_expressions(xml)
    except Exception as exc:  # lxml syntax errors, SpiffWorkflow validation errors, refused expressions
        raise EngineError(f"Le fichier BPMN est invalide : {exc}", 422) from None
    definition = ProcessDefinition(process_id=spec.name, name=spec.description or spec.name,
                                   content_hash=content_hash, bpmn_xml=xml, forms=forms,
                                   spec_json=serialization.spec_to_json(spec, subs), deployed_at=clock_mod.app_now(),
                                   deployed_by=actor)
    db.session.add(definition)
    db.session.commit()
    return definition


def latest_definition(process_id: str | None = None) -> ProcessDefinition:
    """The most recently deployed definition (of a process id)."""
    query = select(ProcessDefinition).order_by(ProcessDefinition.id.desc()).limit(1)
    if process_id:
        query = query.where(ProcessDefinition.process_id == process_id)
    definition = db.session.scalar(query)
    if definition is None:
        raise EngineError("Aucun processus n'est déployé.", 503)
    return definition


_spec_cache: dict = {}


def spec_of(definition: ProcessDefinition):
    """Parsed spec of a definition, cached by content hash (definitions never change)."""
    key = definition.content_hash
    if key not in _spec_cache:
        _spec_cache[key] = serialization.spec_from_json(definition.spec_json)
    return _spec_cache[key]


def user_tasks(definition: ProcessDefinition) -> list[tuple[str, str, str]]:
    """(id, name, role) of every user task of a definition, by id (the inbox's task filter)."""
    spec, subs = spec_of(definition)
    found = {}
    for task_spec in [t for s in [spec, *subs.values()] for t in s.task_specs.values()]:
        if task_spec.manual:
            found[task_spec.name] = (task_spec.name, task_spec.bpmn_name or task_spec.name,
                                     LANE_ROLES.get(task_spec.lane, "acss"))
    return sorted(found.values())
