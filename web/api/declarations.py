"""POST /declarations: what the national portal forwards, the four blocks of phase 1 (the arrêté's
form as the web wizard asks it), validated by the same JSON Schemas and FINESS check as the web
forms, and started by the same idempotent command: a web and an API declaration make the same
dossier and the same audit events (one start, then one completion per step, in one commit)."""
from __future__ import annotations

import copy

from flask import g

from engine import runtime
from models import Structure, db
from web.api import idempotency
from web.api.schemas import ref, request_text
from web.api.spec import operation
from web.declaration.declare import FIRST_STEP, alerted_entities, check_finess
from web.auth.security import french_abort, problem
from web.casework.tasks import FIELD_MAX_CHARS
from workflow import deployment, form_schemas, start_command

# Test hook, called with "committed" once the declaration's commit is done (tests/crash_child.py kills itself there).
checkpoint_hook = None
# (body member, BPMN task) in the order the process asks them.
BLOCKS = [("perimetre", "p1_perimetre"), ("impact", "p1_impact"), ("origine", "p1_origine"),
          ("formulaire", "p1_formulaire")]
MISSING_BLOCK = "Ce bloc est obligatoire : un objet JSON avec les réponses du formulaire."
INVALID = "La déclaration contient des erreurs : rien n'a été enregistré."


def block_forms(definition=None) -> dict:
    """{body member: (JSON Schema of its form, its compiled validator)} in the latest deployed definition ((None,
    None) for a missing step). The schemas are the definition's cached ones: to be read, not changed."""
    definition = definition or deployment.active_definition()
    spec, _ = deployment.spec_of(definition)
    forms = {}
    for member, step in BLOCKS:
        task = spec.task_specs.get(step)
        form = runtime.task_form(task)[0] if task is not None else None
        schema = form_schemas.forms_of(definition).get(form) if form else None  # parsed once per content
        forms[member] = (schema, form_schemas.validator_of(definition, form) if schema is not None else None)
    return forms


def block_schemas(definition=None) -> dict:
    """{body member: JSON Schema of its form} in the latest deployed definition (None for a missing step), copies
    the caller may change."""
    return {member: copy.deepcopy(schema) for member, (schema, _) in block_forms(definition).items()}


def request_schema() -> dict:
    """The body of a declaration, for the OpenAPI document: each block is its form's schema."""
    return {"type": "object", "additionalProperties": False, "required": ["finess_site"] + [m for m, _ in BLOCKS],
            "properties": {"finess_site": request_text(20, description="FINESS (ET or EJ) of the site concerned"),
                           **{member: ref(f"form_{member}") for member, _ in BLOCKS}}}


def too_long(schema: dict, data: dict) -> dict:
    """{field: message} for texts over their maxLength, or over the web forms' cap when the schema sets none."""
    errors = {}
    for name, value in data.items():
        prop = (schema.get("properties") or {}).get(name) or {}
        limit = min(prop["maxLength"] if isinstance(prop.get("maxLength"), int) else FIELD_MAX_CHARS, FIELD_MAX_CHARS)
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and len(text) > limit for text in texts):
            errors[name] = f"Saisissez au plus {limit} caractères."
    return errors


def validate(body: dict, structure: Structure, forms: dict) -> dict:
    """{field: French message} over the whole declaration (fields named `block.field`); `forms` as block_forms
    gives them."""
    errors = {}
    finess = body.get("finess_site")
    finess_error = check_finess(structure, finess if isinstance(finess, str) else "")
    if finess_error:
        errors["finess_site"] = finess_error
    unknown = sorted(set(body) - {"finess_site", *forms})
    if unknown:
        errors[""] = f"Champ inconnu : {', '.join(unknown)}"
    for member, (schema, validator) in forms.items():
        data = body.get(member)
        if not isinstance(data, dict):
            errors[member] = MISSING_BLOCK
            continue
        found = {**too_long(schema or {}, data), **form_schemas.validate(schema or {}, data, validator)}
        errors.update({f"{member}.{field}" if field else member: text for field, text in found.items()})
    return errors


@operation("/declarations", "POST", roles=["declarant"], status=201, location=True, errors=(409, 422),
           summary="Déclarer un incident (les quatre blocs de la phase 1, validés comme le formulaire web)",
           body=request_schema, response={
               "type": "object", "required": ["id", "number", "state", "href", "entites_alertees"],
               "properties": {"id": {"type": "integer"}, "number": {"type": "string"}, "state": {"type": "string"},
                              "href": {"type": "string"},
                              "entites_alertees": {"type": "array", "items": {"type": "string"}}}})
def declare(user, body, key):
    """Validate the four blocks, then open the dossier and complete the four steps in one commit."""
    structure = g.api_structure  # read with the token (web/api/tokens.py); None for an account without one
    if structure is None:
        french_abort(403, "Votre compte n'est rattaché à aucune structure.")
    errors = validate(body, structure, block_forms())
    if errors:
        return problem(422, INVALID, errors=errors)
    blocks = {member: body[member] for member, _ in BLOCKS}
    answers = []

    def record(dossier):
        """The answer, kept with its key in the dossier's own commit (web/api/idempotency.py)."""
        answers.append(_answer(dossier))
        idempotency.record(201, answers[0], answers[0]["href"])
    try:
        dossier, created = start_command.start_declaration(
            structure, user, FIRST_STEP, extra={"finess_site": body["finess_site"].strip().upper()},
            data=blocks["perimetre"], key=key, following=[(step, blocks[member]) for member, step in BLOCKS[1:]],
            before_commit=record)
    except form_schemas.FormErrors as exc:  # the definition changed between the two checks: nothing was kept
        db.session.rollback()
        return problem(422, INVALID, errors=exc.errors)
    if created:
        idempotency.recorded()
        if checkpoint_hook is not None:
            checkpoint_hook("committed")
    answer = answers[0] if created else _answer(dossier)  # else: the dossier an earlier request with this key made
    return answer, 201, {"Location": answer["href"]}


def _answer(dossier) -> dict:
    href = f"/api/v1/dossiers/{dossier.id}"
    return {"id": dossier.id, "number": dossier.number, "state": dossier.state, "href": href,
            "entites_alertees": alerted_entities(dossier)}
