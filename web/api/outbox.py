"""GET /outbox and /outbox/{id}: the outbox state for administrators, as the « Messages sortants » pages
show it (the bodies of military or restricted dossiers' messages stay hidden), and GET /me."""
from __future__ import annotations

from flask import g, request
from sqlalchemy import func, select

from mail import mailer
from models import Dossier, OutboxMessage, db
from web import access
from web.api.dossiers import PAGING, paging
from web.api.schemas import me, message_item, ref
from web.api.spec import operation
from web.auth.security import french_abort


@operation("/me", summary="Le compte au nom duquel le jeton agit", response=ref("Me"))
def whoami(user):
    """The user and token of the request."""
    return me(user, g.api_token)


@operation("/outbox", roles=["admin"], summary="État des messages sortants (administrateurs)", response=ref("Outbox"),
           query=PAGING + [("etat", {"type": "string", "enum": sorted(mailer.STATES)}, "Filtrer sur l'état")])
def list_outbox(user):
    """Counts by state and one page of messages, newest first."""
    page, per_page = paging(50)
    query = select(OutboxMessage)
    state = request.args.get("etat")
    if state is not None:
        if state not in mailer.STATES:
            french_abort(400, "État de message inconnu.")
        query = query.where(OutboxMessage.status == state)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(OutboxMessage.id.desc()).offset((page - 1) * per_page)
                              .limit(per_page)).all()
    counts = dict(db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    return {"counts": counts, "items": [message_item(m) for m in rows], "total": total, "page": page,
            "pages": max(1, -(-total // per_page))}


@operation("/outbox/<int:message_id>", roles=["admin"], summary="Un message sortant (administrateurs)",
           response=ref("OutboxMessage"), errors=(404,))
def show_outbox(user, message_id):
    """One message with its bodies, unless its dossier is military or restricted."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None:
        french_abort(404, access.NOT_FOUND)
    hidden = row.dossier_id is not None and db.session.scalar(
        select(Dossier.id).where(Dossier.id == row.dossier_id, ~access.admin_body_filter())) is not None
    return {"message": message_item(row), "hidden": hidden, "recipients": list(row.recipients or []),
            "body_text": None if hidden else row.body_text, "body_html": None if hidden else row.body_html}
