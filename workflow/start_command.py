"""Starting a declaration: one commit for the dossier and its first step, idempotent by key.

The declarant's « Continuer » opens a dossier (the `start` command: number, instance, run to the
first user task) and completes its first step with the validated form (the `complete` command);
« Enregistrer le brouillon » opens it and keeps the draft. Both commands still write their own
audit event (start, then complete: the chain's format does not change), but the rows are only
flushed in between and committed once, so a crash at any point leaves either nothing (no number
taken: the counter row is rolled back too) or the whole result.

A client key (`IdempotencyKey`, unique per user) is written in the same commit: a retry with the
same key, after a timeout or a crash, returns the dossier of the first try instead of a new number.
"""
from __future__ import annotations

import re

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from engine.errors import EngineError
from models import Dossier, Draft, IdempotencyKey, Structure, TaskRow, User, db
from timekeeping.clock import app_now
from workflow import commands, context
from workflow.opened import pending_task

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")

# Test hook, called with a point name ("started", "completed") before the single commit; the
# crash tests make the process kill itself there.
checkpoint_hook = None


def _checkpoint(point: str) -> None:
    if checkpoint_hook is not None:
        checkpoint_hook(point)


# Built once (models/kept.py says why): a declaration through the API runs them five times.
DOSSIER_FOR_KEY = (select(Dossier).join(IdempotencyKey, IdempotencyKey.dossier_id == Dossier.id)
                   .where(IdempotencyKey.user_id == bindparam("_user"), IdempotencyKey.key == bindparam("_key")))
READY_STEP = select(TaskRow).where(TaskRow.dossier_id == bindparam("_dossier"), TaskRow.spec_name == bindparam("_step"),
                                   TaskRow.status == "ready")


def valid_key(key: str | None) -> bool:
    """True for an acceptable idempotency key: 16 to 64 letters, digits, dashes or underscores."""
    return bool(key) and KEY_PATTERN.fullmatch(key) is not None


def dossier_for_key(user_id: int, key: str) -> Dossier | None:
    """The dossier a user's earlier request with this key opened, if any."""
    return db.session.scalar(DOSSIER_FOR_KEY, {"_user": user_id, "_key": key})


def first_step(dossier: Dossier, spec_name: str) -> TaskRow | None:
    """The task row of a dossier's first step (ready or completed)."""
    return pending_task(dossier_id=dossier.id, spec_name=spec_name) or db.session.scalar(
        select(TaskRow).where(TaskRow.dossier_id == dossier.id, TaskRow.spec_name == spec_name)
        .order_by(TaskRow.created_at).limit(1))


def ready_step(dossier: Dossier, step: str) -> TaskRow | None:
    """The dossier's ready task `step`: left for the commit when this transaction opened the dossier
    (workflow/opened.py), else stored."""
    return (pending_task(dossier_id=dossier.id, spec_name=step, ready=True)
            or db.session.scalar(READY_STEP, {"_dossier": dossier.id, "_step": step}))


def complete_step(dossier: Dossier, step: str, data: dict, actor: context.Actor) -> None:
    """Complete the dossier's ready task `step` without committing (a refused step: 409, nothing kept)."""
    row = ready_step(dossier, step)
    if row is None:
        raise EngineError(f"Le processus en service ne propose pas l'étape « {step} » de la déclaration.", 409)
    commands.complete_task(row.id, data, actor, commit=False)


def start_declaration(structure: Structure, declarant: User, step: str, extra: dict | None = None,
                      data: dict | None = None, draft: dict | None = None,
                      key: str | None = None, following: list | None = None,
                      before_commit=None) -> tuple[Dossier, bool]:
    """Open a dossier and, in the same commit, complete its first `step` with `data` (or save `draft`),
    then each (step, data) of `following` in turn (the API declares all of phase 1 at once); `before_commit`,
    called with the dossier, writes more in that commit (the API's answer to its idempotency key).

    Returns (dossier, created); with a `key` this user already used, the earlier dossier and False.
    """
    if key:
        existing = dossier_for_key(declarant.id, key)
        if existing is not None:
            return existing, False
    actor = context.Actor.of(declarant)
    try:
        dossier = commands.start_dossier(structure, declarant, actor, extra, commit=False, numbered=False)
        _checkpoint("started")
        row = ready_step(dossier, step)
        if row is None:
            raise EngineError("Le processus ne commence pas par l'étape attendue.", 500)
        if data is not None:
            commands.complete_task(row.id, data, actor, commit=False)
            for name, step_data in following or []:
                complete_step(dossier, name, step_data, actor)
        else:
            db.session.add(Draft(task_id=row.id, user_id=declarant.id, data=dict(draft or {}),
                                 updated_at=app_now()))
        if key:
            # A concurrent request with the same key fails here (unique per user) and returns the winner's dossier.
            db.session.execute(insert(IdempotencyKey), [dict(user_id=declarant.id, key=key, dossier_id=dossier.id,
                                                             created_at=app_now())])
        if before_commit is not None:
            before_commit(dossier)
        _checkpoint("completed")
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = dossier_for_key(declarant.id, key) if key else None
        if existing is None:
            raise
        return existing, False
    except BaseException:
        db.session.rollback()  # nothing of the attempt stays: no dossier, no number taken
        raise
    return dossier, True
