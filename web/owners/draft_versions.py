"""The three versions of a modeller draft: the version it was started from (its base), the version new dossiers
start on now (the active one, which a colleague may have changed since), and the draft itself, with what
changed from the base to each of them. The modeller warns from this before any dry run when the draft is
stale: deploying it as it stands would undo the colleague's changes.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from sqlalchemy import select

from models import ActiveVersion, DeploymentEvent, ModellerDraft, ProcessDefinition, db
from web import access
from web.auth.login import current_user, roles_required
from workflow import deployment, differences

bp = Blueprint("draft_versions", __name__, url_prefix="/admin/processus/modeleur")
MADE_ACTIVE = ("deploiement", "activation")


def draft_of_user(user_id: int) -> ModellerDraft | None:
    """A user's draft of the process this application runs, if any."""
    return db.session.scalar(select(ModellerDraft).where(ModellerDraft.user_id == user_id,
                                                         ModellerDraft.process_id == deployment.process_id()))


def base_of(draft: ModellerDraft | None, active: ProcessDefinition) -> ProcessDefinition:
    """The version a draft was started from (the active one for no draft, or a draft whose base is gone)."""
    if draft is None or draft.base_definition_id is None:
        return active
    base = db.session.get(ProcessDefinition, draft.base_definition_id)
    return base if base is not None and base.process_id == active.process_id else active


def _version(definition: ProcessDefinition, active: ProcessDefinition) -> dict:
    """A version as the modeller shows it, with the event that last made it active (who, when, why), and for the
    active one since when it is active."""
    event = db.session.scalar(select(DeploymentEvent).where(
        DeploymentEvent.definition_id == definition.id, DeploymentEvent.action.in_(MADE_ACTIVE))
        .order_by(DeploymentEvent.id.desc()).limit(1))
    since = None
    if definition.id == active.id:
        row = db.session.get(ActiveVersion, definition.process_id)
        since = row.changed_at if row is not None and row.definition_id == definition.id else definition.deployed_at
    return {"id": definition.id, "deployed_at": definition.deployed_at.isoformat(),
            "deployed_by": definition.deployed_by, "bpmn_url": url_for("admin.download", definition_id=definition.id),
            "active_since": since.isoformat() if since else None,
            "made_active": None if event is None else {"action": event.action, "by": event.actor,
                                                       "at": event.at.isoformat(), "comment": event.comment}}


def touched(diff: dict | None) -> set:
    """Ids of the elements a difference adds, removes or changes."""
    return {e["id"] for key in ("ajoutes", "supprimes", "modifies") for e in (diff or {}).get(key) or []}


@bp.route("/trois-versions")
@roles_required(*access.ADMINS)
def three_versions():
    """{base, active, draft, stale, differences: {base_active, base_draft, active_draft}} of the user's draft.

    `stale` is true when the active version is no longer the draft's base; `base_active` then says what the
    colleague changed, `base_draft` what the draft changes, `active_draft` what its dry run will compare.
    """
    active = deployment.active_definition()
    draft = draft_of_user(current_user().id)
    base = base_of(draft, active)
    draft_forms = {**(base.forms or {}), **(draft.forms or {})} if draft else None
    found = {
        "base": _version(base, active), "active": _version(active, active),
        "stale": draft is not None and base.id != active.id,
        "draft": None if draft is None else {"saved_at": draft.updated_at.isoformat(),
                                             "updated_at": draft.updated_at.isoformat(), "base_id": base.id,
                                             "forms_changed": sorted(draft.forms or {}),
                                             "xml_url": url_for("modeller.current")},
        "differences": {"base_active": None, "base_draft": None, "active_draft": None},
    }
    pairs = {"base_active": (base.bpmn_xml, base.forms, active.bpmn_xml, active.forms)}
    if draft is not None:
        pairs["base_draft"] = (base.bpmn_xml, base.forms, draft.bpmn_xml, draft_forms)
        pairs["active_draft"] = (active.bpmn_xml, active.forms, draft.bpmn_xml, draft_forms)
    for key, (old_xml, old_forms, new_xml, new_forms) in pairs.items():
        try:
            found["differences"][key] = differences.semantic_diff(old_xml, old_forms or {}, new_xml, new_forms or {})
        except (ValueError, SyntaxError) as exc:  # a draft kept well-formed but not (yet) BPMN
            found["differences"][key] = {"erreur": f"Comparaison impossible : {exc}"}
    # Elements both the colleague's version and the draft changed: where deploying the draft would undo work.
    found["differences"]["conflits"] = sorted(touched(found["differences"]["base_active"])
                                              & touched(found["differences"]["base_draft"]))
    return jsonify(found)
