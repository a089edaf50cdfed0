"""The running command as handlers see it: who runs it (Actor), its context (CommandContext, with the
messages it queues), and the dispatch of service calls to the handler registry (or, in replay, to the log).
"""
from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select

from engine import runtime
from engine.errors import EngineError, HandlerError
from handlers import HANDLERS
from mail import notifications
from models import Dossier, OutboxMessage, ProcessInstance, User, db
from workflow.opened import pending_messages


current_command: contextvars.ContextVar = contextvars.ContextVar("current_command", default=None)


@dataclass
class Actor:
    """Who runs a command: a person with a role and scope, or the system."""

    name: str
    role: str
    user_id: int | None = None
    region: str | None = None
    structure_id: int | None = None

    @classmethod
    def of(cls, user: User) -> "Actor":
        """The actor for a logged-in user."""
        return cls(user.email, user.role, user.id, user.region, user.structure_id)


SYSTEM = Actor("système", "systeme")


# The roles a dossier's earlier messages went to (built once: models/kept.py says why).
RECIPIENT_ROLES = (select(OutboxMessage.recipient_roles).where(OutboxMessage.dossier_id == bindparam("_dossier"))
                   .order_by(OutboxMessage.id))


@dataclass
class CommandContext:
    """What handlers see of the command that runs them."""

    instance: ProcessInstance
    dossier: Dossier
    actor: Actor
    now: datetime
    seq: int
    mailboxes: dict
    mail_domain: str
    replay: list | None = None
    outbox: list = field(default_factory=list)
    states: list = field(default_factory=list)
    service_calls: list = field(default_factory=list)
    data: dict = field(default_factory=dict)

    @property
    def session(self):
        return db.session

    def set_state(self, state: str) -> None:
        """Record a dossier state transition (applied to the dossier row at commit)."""
        self.states.append(state)

    def set_qualification(self, qualification: str) -> None:
        """Change the dossier's qualification (a grave incident becoming significatif)."""
        self.dossier.qualification = qualification
        self.dossier.qualified_at = self.now  # a requalification is a decision too: « Qualifié le » follows it

    def notify(self, kind: str, roles: list, extra: dict | None = None, addresses: list | None = None) -> dict:
        """Queue a message to roles, whose addresses the mail layer resolves (or to addresses our own handlers
        read from the database, never from the task data), and return who it goes to."""
        recipients, entities, role_names = [], [], []
        region = self.dossier.region
        for role in roles:
            role, role_region = role if isinstance(role, tuple) else (role, region)
            try:
                recipients += notifications.resolve(role, self.dossier, role_region, self.mailboxes)
            except notifications.UnknownRecipient as exc:
                raise EngineError(f"Message « {kind} » refusé : {exc}. Rien n'a été enregistré ni envoyé ; la "
                                  "version du processus doit être corrigée.", 422) from None
            entities.append(notifications.entity_label(role, role_region))
            role_names.append(role)
        recipients += list(addresses or [])
        extra = dict(extra or {})
        if kind == "accuse_reception":
            extra["entites"] = self.alerted_entities()
        extra.setdefault("intro", notifications.INTROS.get(kind, ""))
        ctx = notifications.template_context(kind, self.data, self.dossier.number, extra)
        notifications.pin_template_set(self.now)  # once per process and database
        index = len(self.outbox)
        # Rendered when delivered, from the template set pinned here (notifications.queued).
        self.outbox.append(dict(kind=kind, recipients=recipients, recipient_roles=role_names,
                                **notifications.queued(kind, ctx),
                                message_id=notifications.message_id(self.instance.id, self.seq, index, kind,
                                                                    self.mail_domain)))
        result = {"modele": kind, "destinataires": recipients, "entites": entities}
        if "entites" in extra and kind == "accuse_reception":
            result["entites_alertees"] = extra["entites"]
        return result

    def alerted_entities(self) -> list[str]:
        """Entities alerted so far for this dossier (earlier commands and this one)."""
        return notifications.entity_labels(recipient_roles(self.dossier) + [m["recipient_roles"] for m in self.outbox],
                                           self.dossier.region)


def recipient_roles(dossier: Dossier) -> list[list[str]]:
    """The recipient roles of each message queued on a dossier so far, oldest first: waiting for the commit when
    this transaction opened the dossier (workflow/opened.py), else in the outbox."""
    pending = pending_messages(dossier.instance_id)
    if pending is not None:
        return [message["recipient_roles"] for message in pending]
    # Without flushing the session: a command's messages are inserted at once (commands._write), and the only ones
    # added as objects on a dossier are reminders, which alert no entity (timers._queue_reminder).
    with db.session.no_autoflush:
        return list(db.session.scalars(RECIPIENT_ROLES, {"_dossier": dossier.id}))


def dispatch(task, operator: str, params: dict) -> str:
    """Run (or, during replay, read back) one service call; the result is a JSON string."""
    ctx: CommandContext = current_command.get()
    if ctx.replay is not None:
        if not ctx.replay:
            raise EngineError(f"Rejeu : résultat manquant pour « {operator} ».", 500)
        recorded = ctx.replay.pop(0)
        if recorded["operator"] != operator or recorded["task"] != task.task_spec.name:
            raise EngineError(f"Rejeu : appel inattendu « {operator} » à {task.task_spec.name}.", 500)
        ctx.service_calls.append(recorded)
        return recorded["result"]
    handler = HANDLERS.get(operator)
    if handler is None:
        raise HandlerError(f"Opérateur de service inconnu : « {operator} ».")
    ctx.data = task.data
    try:
        result = handler(ctx, task.data, **params)
    except EngineError:
        raise
    except Exception as exc:  # a handler bug must not leak as NameError or a stack trace
        raise HandlerError(f"Le service « {operator} » ({task.task_spec.bpmn_name}) a échoué : {exc}") from exc
    text = json.dumps(result, ensure_ascii=False, sort_keys=True, default=str)
    ctx.service_calls.append({"task": task.task_spec.name, "operator": operator, "result": text})
    return text


def script_engine():
    """A script engine bound to our dispatcher (re-attached after every load)."""
    return runtime.EngineScriptEngine(dispatch)
