"""Links between dossiers (same attacker, same provider, a repeat…), with a reason: one event in each
dossier's chain, both instances locked in id order so that two links never deadlock."""
from __future__ import annotations

from sqlalchemy import bindparam, or_, select

from cases import chain
from engine.errors import EngineError
from models import Dossier, DossierLink, User, db
from models.kept import kept
from timekeeping.clock import app_now

MAX_REASON = 2000


def _lock_both(first: Dossier, second: Dossier) -> None:
    for dossier in sorted((first, second), key=lambda d: d.instance_id):
        chain.lock_instance(dossier)


def add_link(dossier: Dossier, other: Dossier, *, user: User, reason: str, commit: bool = True) -> DossierLink:
    """Link two dossiers with a reason (the caller checks the user reads both)."""
    chain.check_writer(user, "lien")
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON or "\x00" in reason:
        raise EngineError(f"Indiquez le motif du lien (au plus {MAX_REASON} caractères).", 422)
    if other.id == dossier.id:
        raise EngineError("Un dossier ne peut pas être lié à lui-même.", 422)
    existing = db.session.scalar(select(DossierLink).where(
        DossierLink.removed_at.is_(None),
        or_((DossierLink.source_id == dossier.id) & (DossierLink.target_id == other.id),
            (DossierLink.source_id == other.id) & (DossierLink.target_id == dossier.id))))
    if existing is not None:
        raise EngineError("Ces deux dossiers sont déjà liés.", 409)
    with chain.transaction(commit):
        _lock_both(dossier, other)
        link = DossierLink(source_id=dossier.id, target_id=other.id, reason=reason, created_by=user.id,
                           created_at=app_now())
        db.session.add(link)
        db.session.flush()
        for here, there in ((dossier, other), (other, dossier)):
            chain.append(here, user, {"action": "lien", "link_id": link.id, "other": there.number, "reason": reason})
    return link


def remove_link(link: DossierLink, *, user: User, commit: bool = True) -> None:
    """Mark a link « retiré » in both dossiers' chains."""
    chain.check_writer(user, "lien")
    if link.removed_at is not None:
        return
    source, target = db.session.get(Dossier, link.source_id), db.session.get(Dossier, link.target_id)
    with chain.transaction(commit):
        _lock_both(source, target)
        for here in (source, target):
            chain.append(here, user, {"action": "retrait", "target": "lien", "id": link.id})
        link.removed_at, link.removed_by = app_now(), user.id


def links_of(dossier: Dossier, visible, key: tuple | None = None) -> list[tuple[DossierLink, Dossier]]:
    """Active links of a dossier with the other dossier, only where `visible` (SQL on Dossier) holds for it; with
    `key` (what `visible` was built from, e.g. access.scope_key), the statement is kept (models/kept.py)."""
    def build():
        return (select(DossierLink, Dossier).join(Dossier, or_(
            (DossierLink.source_id == bindparam("_dossier")) & (Dossier.id == DossierLink.target_id),
            (DossierLink.target_id == bindparam("_dossier")) & (Dossier.id == DossierLink.source_id)))
            .where(DossierLink.removed_at.is_(None), visible).order_by(DossierLink.created_at))
    statement = build() if key is None else kept(("links_of", key), build)
    return [tuple(row) for row in db.session.execute(statement, {"_dossier": dossier.id})]
