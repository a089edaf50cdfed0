"""Nothing typed is lost: the autosave endpoint of task forms and of the declaration's first step, and the
rescue of a form posted after the session ended or with a stale CSRF token.

Drafts live server-side, one per (task, user): they survive a closed tab, a crashed browser and a session
that ended, and they are never readable by anyone but their author (every read and write is keyed to the
user the request is authenticated as). The first declaration step has no task yet: its draft is keyed
`DECLARATION_KEY`.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request, session, url_for
from werkzeug.datastructures import MultiDict

from models import Draft, LoginSession, User, db
from timekeeping.clock import app_now
from web import access, forms
from web.declaration import declare
from web.casework import tasks
from web.casework.draft_store import own_draft, store  # noqa: F401  (shared with web/casework/tasks.py)
from web.auth.login import current_user, login_required
from web.auth.login_sessions import password_stamp
from web.auth.security import french_abort

bp = Blueprint("drafts", __name__, url_prefix="/brouillons")
DECLARATION_KEY = declare.DECLARATION_KEY
# Form fields of the declaration's first step that are not in its JSON Schema.
DECLARATION_EXTRA = ("finess_site",)
FINESS_MAX = 9


def _declaration_schema() -> dict:
    schema, _, _ = declare._first_form()
    return schema


def target(user: User, key: str, closed_too: bool = False) -> tuple[str, dict]:
    """(draft key, JSON Schema) of a form the user may fill: the declaration's first step or a workable,
    open task; 404 for anything else (someone else's task answers like a missing one), 409 for a closed task
    (unless `closed_too`: a post that lost the race while the session was over is kept like any loser's)."""
    if key == DECLARATION_KEY:
        if user.role != "declarant" or not user.structure_id:
            french_abort(404, access.NOT_FOUND)
        return key, _declaration_schema()
    row = access.workable_task(user, key)
    if row.status != "ready" and not closed_too:
        french_abort(409, "Cette tâche a déjà été traitée : le brouillon n'est plus enregistré.")
    return row.id, tasks.form_of(row)[0]


def clean_values(key: str, schema: dict, form) -> dict:
    """The values of a posted form (MultiDict) kept for a draft: the schema's fields only, within the size limits."""
    values = forms.raw_values(schema, form)
    if key == DECLARATION_KEY:
        for name in DECLARATION_EXTRA:
            if form.get(name) is not None:
                values[name] = str(form.get(name))[:FINESS_MAX]
    tasks.check_sizes(schema, values)
    return values


def _json_form(payload) -> MultiDict:
    """The posted JSON {"valeurs": {field: text or [texts]}} as a form MultiDict; 400 for any other shape."""
    values = payload.get("valeurs") if isinstance(payload, dict) else None
    if not isinstance(values, dict):
        french_abort(400, "Brouillon illisible : un objet « valeurs » (champ -> texte) est attendu.")
    pairs = []
    for name, value in values.items():
        texts = value if isinstance(value, list) else [value]
        if not all(isinstance(text, str) for text in texts) or "\x00" in name + "".join(texts):
            french_abort(400, f"Brouillon illisible : la valeur du champ « {name[:60]} » doit être du texte.")
        pairs += [(name, text) for text in texts]
    return MultiDict(pairs)


@bp.route("/<key>", methods=["POST"])
@login_required
def save(key):
    """Autosave (JSON, CSRF token in the X-CSRFToken header): replace the user's draft of a form."""
    user = current_user()
    key, schema = target(user, key)
    payload = request.get_json(silent=True)
    if payload is None:
        french_abort(400, "Brouillon illisible : le corps de la requête doit être du JSON.")
    values = clean_values(key, schema, _json_form(payload))
    draft = store(key, user.id, values)
    return jsonify({"enregistre": draft.updated_at.isoformat(), "heure": forms_time(draft.updated_at),
                    "champs": len(values)})


@bp.route("/<key>", methods=["GET"])
@login_required
def show(key):
    """The user's own draft of a form (JSON); another user's is never returned."""
    user = current_user()
    key, _ = target(user, key)
    draft = own_draft(key, user.id)
    if draft is None:
        return jsonify({"valeurs": {}, "enregistre": None})
    return jsonify({"valeurs": draft.data, "enregistre": draft.updated_at.isoformat()})


def forms_time(instant) -> str:
    """An instant as « HH:MM », Paris time."""
    return instant.astimezone(forms.PARIS).strftime("%H:%M")


# -- Rescue: a form posted when the session has ended or its CSRF token is stale -----------------------------

RESCUABLE = {"tasks.task": "task_id", "declare.start": None, "drafts.save": "key"}


def session_owner() -> User | None:
    """The user of the login session named in the (signed) cookie, even if that session has ended by
    idleness or age or was revoked by a logout; never after a password change or a deactivation, which
    are how an account is taken back from someone else."""
    record = db.session.get(LoginSession, session.get("_user_id") or "")
    if record is None:
        return None
    user = db.session.get(User, record.user_id)
    if user is None or not user.active or record.password_stamp != password_stamp(user.password_hash):
        return None
    return user


def same_origin() -> bool:
    """Whether the browser says the request comes from a page of this site (Origin, else Referer)."""
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    return bool(source) and urlsplit(source).netloc == request.host


def rescue_post(csrf_failed: bool = False) -> str | None:
    """Keep the values of a refused form POST as the owner's draft; return the form's address, or None.

    Called by the 401 and CSRF error handlers (web/auth/security.py); with `csrf_failed`, only for a form posted from
    this site's own page. The owner is the logged-in user, or the
    owner of the ended session the cookie names; the values go only to that user's own draft of a form
    they may fill, within the usual size limits. Nothing is submitted: the person reviews and validates.
    """
    if request.method != "POST" or request.endpoint not in RESCUABLE:
        return None
    if csrf_failed and (request.endpoint == "drafts.save" or not same_origin()):
        # Without a valid token only a form posted from this site's own page is kept (a stale token); the
        # autosave always needs its token: a forged request never writes anyone's draft.
        return None
    owner = current_user() or session_owner()
    if owner is None:
        return None
    arg = RESCUABLE[request.endpoint]
    key = (request.view_args or {}).get(arg) if arg else DECLARATION_KEY
    if not isinstance(key, str):
        return None
    try:
        key, schema = target(owner, key, closed_too=request.endpoint == "tasks.task")
        posted = _json_form(request.get_json(silent=True)) if request.endpoint == "drafts.save" else request.form
        values = clean_values(key, schema, posted)
    except Exception:  # an unworkable task, a closed one, a value too long: nothing to keep, the refusal stands
        db.session.rollback()
        return None
    if not values:
        return None  # nothing typed: the plain refusal says it all
    store(key, owner.id, values)
    return url_for("tasks.task", task_id=key) if request.endpoint == "drafts.save" and key != DECLARATION_KEY \
        else (url_for("declare.start") if key == DECLARATION_KEY else request.path)

