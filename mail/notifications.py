"""Notifications: who receives each message and how it reads, rendered into the outbox.

Handlers never send mail (DESIGN.md decision 2). They call `CommandContext.notify`, which
resolves the recipients here and queues an outbox row written in the same transaction as the new
process state: its subject, the values its template reads, and the hash of this release's template
set. The French text is rendered from the Jinja2 templates when the sender delivers the message (or
a page shows it), from the set it was pinned to: stored once per release in `mail_template_sets`,
so that an upgrade between queueing and delivery does not change a message already decided.
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

from jinja2 import DictLoader, Environment, select_autoescape
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import MailTemplateSet, OutboxMessage, Structure, User, database_key, db
from referentiel import INCIDENT_TYPES, QUALIFICATIONS, ROLES, slugify

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "web" / "templates" / "mail"

# Functional mailboxes; deployments override them with the MAILBOXES setting.
DEFAULT_MAILBOXES = {
    "acss": "cellule-acss@esante.example.fr",
    "fssi": "ssi@sg.social.gouv.fr",
    "hfds": "hfds@sg.social.example.fr",
    "dgs": "alerte-dgs@sante.example.fr",
    "ansm": "dm-cyber@ansm.example.fr",
    "anssi": "cert-fr@ssi.example.fr",
    # The ANSSI's operational centre (COSSI), alerted by the FSSI off hours when it decides so.
    "cossi": "cossi@ssi.example.fr",
    "armees": "cyber-ssa@defense.example.fr",
    "ars": "ssi-{region}@ars.sante.fr",
}

ENTITY_LABELS = {
    "acss": "Cellule ACSS (Agence du numérique en santé)",
    "fssi": "FSSI (boîte fonctionnelle ssi@sg.social.gouv.fr)",
    "hfds": "HFDS/FSSI",
    "dgs": "DGS",
    "ansm": "ANSM",
    "anssi": "ANSSI",
    "cossi": "COSSI de l'ANSSI (centre opérationnel de la sécurité des systèmes d'information)",
    "armees": "Ministère des armées (chaîne « CYBER »)",
}

# Subject line of each kind of message; the body comes from mail/<kind>.j2 or mail/generic.j2.
SUBJECTS = {
    "escalade_hors_heures": "[URGENT] Incident SSI déclaré hors heures ouvrées - {numero}",
    "chaine_cyber_armees": "Incident SSI d'un hôpital des armées - {numero}",
    "message_type_ars": "Information : incident SSI dans un hôpital des armées de votre territoire - {numero}",
    "armees_offre_soins": "[URGENT] Incident SSI d'un hôpital des armées avec impact sur l'offre de soins - {numero}",
    "accuse_reception": "Accusé de réception de votre signalement {numero}",
    "information_armees": "Information du ministère des armées sur l'incident {numero}",
    "issue_armees": "Issue du traitement de votre signalement {numero}",
    "notification_signalement": "Nouveau signalement d'incident SSI - {numero} - {structure}",
    "prise_en_compte": "Prise en compte de votre signalement {numero}",
    "demande_informations": "Demande d'informations complémentaires - {numero}",
    "b1_sans_suite": "Votre signalement {numero} : pas de suite particulière",
    "qualification_ars": "Qualification du signalement {numero} : {qualification}",
    "information_hfds": "Information du HFDS/FSSI : {qualification} - {numero}",
    "alerte_dgs": "[ALERTE] Incident SSI avec impact sanitaire potentiel - {numero}",
    "analyse_dgs": "Analyse d'impact sanitaire de la DGS - {numero}",
    "coordination_ansm": "Coordination ANSM : incident SSI impliquant un {dispositif} - {numero}",
    "coordination_anssi": "Coordination ANSSI : incident SSI d'un opérateur d'importance vitale - {numero}",
    "modalite_appui": "Modalité d'appui retenue par l'ARS - {numero}",
    "passage_significatif": "Incident {numero} requalifié significatif (incidents similaires en cours)",
    "pilotage_hfds": "Incident significatif {numero} : pilotage par le HFDS/FSSI",
    "preservation_traces": "Préservation des traces numériques - {numero}",
    "fiches_reflexes": "Fiches réflexes et prestataires pour votre incident {numero}",
    "plan_crise": "[CRISE] Plan de crise déclenché pour l'incident {numero}",
    "alerte_diffusion": "[ALERTE SSI] Menace en cours dans le secteur santé",
    "point_hebdomadaire": "Point hebdomadaire sur l'incident {numero}",
    "point_avancement": "Avancement de l'accompagnement - {numero}",
    "cloture": "Clôture du dossier {numero}",
    "rappel_echeance": "Rappel : tâche en retard sur le dossier {numero}",
    "relance_fssi": "[URGENT] Relance : signalement hors heures ouvrées non encore transmis - {numero}",
    "escalade_fssi_hfds": "[URGENT] Signalement hors heures ouvrées sans prise en charge depuis 2 h - {numero}",
    "alerte_cossi": "[ALERTE] Incident SSI dans une structure de santé, signalé par le FSSI - {numero}",
}


# The roles a message may be addressed to: the functional mailboxes above and the dossier's declarant.
# A process names roles only; the addresses are found here, never in the process data.
RECIPIENT_ROLES = frozenset(DEFAULT_MAILBOXES) | {"declarant"}


class UnknownRecipient(ValueError):
    """A recipient that is not a role this layer can resolve (an address, a typo, a computed value)."""


def mailbox(role: str, region: str | None, mailboxes: dict) -> str:
    """The functional mailbox of a role (the ARS one depends on the region)."""
    address = mailboxes.get(role) or DEFAULT_MAILBOXES[role]
    return address.format(region=slugify(region or ""))


def entity_label(role: str, region: str | None) -> str:
    """How an alerted entity is named to people."""
    if role == "ars":
        return f"ARS {region}"
    if role == "declarant":
        return "Déclarant"
    return ENTITY_LABELS.get(role, ROLES.get(role, role))


def entity_labels(role_lists, region: str | None) -> list[str]:
    """The entities alerted by messages to these lists of recipient roles, each named once, in order, the declarant
    left out (it is not an entity alerted about its own incident)."""
    labels = []
    for roles in role_lists:
        for role in roles or []:
            label = entity_label(role, region)
            if role != "declarant" and label not in labels:
                labels.append(label)
    return labels


def declarant_addresses(dossier) -> list[str]:
    """The declarant's address from the database: the account that declared the dossier while it is active,
    else the contact address of the dossier's structure (never what the task data says)."""
    user = db.session.get(User, dossier.declarant_id) if dossier.declarant_id else None
    if user is not None and user.active and user.email:
        return [user.email]
    structure = db.session.get(Structure, dossier.structure_id)
    return [structure.email] if structure is not None and structure.email else []


def resolve(role, dossier, region: str | None, mailboxes: dict) -> list[str]:
    """Addresses for a recipient role in the context of one dossier; UnknownRecipient for anything else."""
    if not isinstance(role, str) or role not in RECIPIENT_ROLES:
        shown = str(role)[:80]
        kind = "une adresse" if "@" in shown else "un rôle inconnu"
        raise UnknownRecipient(f"le destinataire « {shown} » est {kind} : un message n'est adressé qu'à un rôle ("
                               + ", ".join(sorted(RECIPIENT_ROLES)) + "), dont l'adresse est trouvée par l'application")
    if role == "declarant":
        return declarant_addresses(dossier)
    return [mailbox(role, region, mailboxes)]


# --------------------------------------------------------------------------------------------
# Templates: the set of one release, pinned by hash in every message queued with it

def template_files() -> dict[str, str]:
    """{file name: source} of this release's mail templates (read once per process)."""
    return _current_set()[1]


def template_set_hash() -> str:
    """Content hash of this release's mail templates: what a queued message is pinned to."""
    return _current_set()[0]


@lru_cache(maxsize=1)
def _current_set() -> tuple[str, dict]:
    files = {path.name: path.read_text(encoding="utf-8") for path in sorted(TEMPLATE_DIR.glob("*.j2"))}
    digest = hashlib.sha256(json.dumps(files, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    return digest, files


_envs: dict = {}


def _environment(set_hash: str, files: dict, html: bool) -> Environment:
    # The plain-text part must not be HTML-escaped ("d'avancement", not "d&#39;avancement").
    key = (set_hash, html)
    if key not in _envs:
        _envs[key] = Environment(loader=DictLoader(files),
                                 autoescape=select_autoescape(enabled_extensions=("j2",), default=True)
                                 if html else False,
                                 trim_blocks=True, lstrip_blocks=True)
    return _envs[key]


# The task data a message may read: the `data.<name>` its templates name (a test holds every template to that
# form) and what its subject reads, so that a queued message carries these few values, not the whole dossier.
DATA_NAME = re.compile(r"\bdata\.([A-Za-z_][A-Za-z0-9_]*)")
SUBJECT_DATA = frozenset({"dispositif_ansm"})


@lru_cache(maxsize=1)
def _data_names() -> frozenset:
    return SUBJECT_DATA | {name for source in template_files().values() for name in DATA_NAME.findall(source)}


def template_context(kind: str, data: dict, dossier_number: str, extra: dict | None = None) -> dict:
    """The values a message template may use (of the task data, only what a template reads)."""
    structure = data.get("structure") or {}
    ctx = {
        "kind": kind,
        "numero": dossier_number,
        "structure": structure,
        "declarant": data.get("declarant") or {},
        "titre": data.get("titre", ""),
        "description": data.get("description", ""),
        "types_incident": [INCIDENT_TYPES.get(t, t) for t in data.get("types_incident", [])],
        "qualification": QUALIFICATIONS.get(data.get("qualification"), data.get("qualification") or ""),
        "data": {name: data[name] for name in _data_names() if name in data},
    }
    ctx.update(extra or {})
    return ctx


def _template_name(kind: str, files: dict) -> str:
    """The message's own template, or the generic one."""
    return f"{kind}.j2" if f"{kind}.j2" in files else "generic.j2"


def subject(kind: str, ctx: dict) -> str:
    """The subject line of one message."""
    fmt = {"numero": ctx["numero"], "structure": ctx["structure"].get("nom", ""),
           "qualification": ctx["qualification"][:1].lower() + ctx["qualification"][1:],
           "dispositif": ctx["data"].get("dispositif_ansm", "")}
    return SUBJECTS.get(kind, "Signalement {numero}").format(**fmt)


def render_bodies(kind: str, ctx: dict, subject_line: str, set_hash: str | None = None,
                  files: dict | None = None) -> tuple[str, str]:
    """Plain-text and HTML bodies of one message, from a template set (this release's by default)."""
    if files is None:
        set_hash, files = _current_set()
    name = _template_name(kind, files)
    values = dict(ctx, subject=subject_line)
    text = _environment(set_hash, files, False).get_template(name).render(dict(values, part="text"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"  # optional lines leave blank runs behind
    html = _environment(set_hash, files, True).get_template(name).render(dict(values, part="html")).strip() + "\n"
    return text, html


def render(kind: str, ctx: dict) -> tuple[str, str, str]:
    """Subject, plain-text body and HTML body of one message, rendered now with this release's templates."""
    subject_line = subject(kind, ctx)
    return (subject_line, *render_bodies(kind, ctx, subject_line))


def queued(kind: str, ctx: dict) -> dict:
    """The columns of a message queued by a command: its subject, its context and its pinned template set.
    The bodies are rendered when it is delivered or shown (render_row): not inside the command."""
    return {"subject": subject(kind, ctx), "body_text": "", "body_html": "",
            "template_set": template_set_hash(),
            "context": json.dumps(ctx, ensure_ascii=False, sort_keys=True, default=str)}


def render_row(row: OutboxMessage) -> tuple[str, str]:
    """The bodies of a queued message, from the template set it is pinned to."""
    set_hash, files = _current_set()
    if row.template_set != set_hash:
        stored = db.session.get(MailTemplateSet, row.template_set)
        if stored is None:
            raise LookupError(f"jeu de modèles de message {row.template_set[:12]} introuvable")
        set_hash, files = stored.hash, stored.files
    return render_bodies(row.kind, json.loads(row.context), row.subject, set_hash, files)


OutboxMessage.renderer = staticmethod(render_row)

_pinned: set = set()
PIN_KEY = "mail_template_set_pinned"


def pin_template_set(now) -> None:
    """Store this release's template set in the current transaction unless this process knows it is stored
    (idempotent: an insert that does nothing when the set is there). It counts as known once committed."""
    set_hash, files = _current_set()
    key = (*database_key(), set_hash)
    if key in _pinned or db.session.info.get(PIN_KEY) == key:
        return
    table = MailTemplateSet.__table__
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(table).values(hash=set_hash, files=files, created_at=now).on_conflict_do_nothing())
    db.session.info[PIN_KEY] = key


@event.listens_for(Session, "after_commit")
def _pinned_once_committed(session) -> None:
    key = session.info.pop(PIN_KEY, None)
    if key is not None:
        _pinned.add(key)


@event.listens_for(Session, "after_rollback")
def _not_pinned_after_rollback(session) -> None:
    session.info.pop(PIN_KEY, None)


def message_id(instance_id: int | None, seq: int | None, index: int, kind: str, domain: str) -> str:
    """A stable Message-ID: the same outbox row always carries the same id, so resends are detectable."""
    digest = hashlib.sha256(f"{instance_id}:{seq}:{index}:{kind}".encode()).hexdigest()[:24]
    return f"<{digest}.{kind}@{domain}>"

# First sentence of each message, in French.
INTROS = {
    "escalade_hors_heures": "Un incident de sécurité a été déclaré hors des heures ouvrées de la Cellule ACSS et le déclarant demande une aide urgente à la gestion de l'incident.",
    "chaine_cyber_armees": "Un hôpital des armées a déclaré un incident de sécurité ; il relève de la seule chaîne « CYBER » du ministère des armées.",
    "message_type_ars": "Pour information, un incident de sécurité des systèmes d'information concerne un hôpital des armées de votre territoire. Il est traité par la chaîne « CYBER » du ministère des armées.",
    "armees_offre_soins": "Un incident de sécurité d'un hôpital des armées de votre territoire a des conséquences sur l'offre de soins.",
    "accuse_reception": "Votre déclaration d'incident de sécurité a bien été enregistrée. Les entités suivantes ont été alertées.",
    "information_armees": "Le ministère des armées vous informe d'un incident de sécurité traité par sa chaîne « CYBER ».",
    "issue_armees": "Le ministère des armées a qualifié et traité, selon ses procédures, l'incident que vous avez déclaré : voici l'issue de ce traitement.",
    "notification_signalement": "Un nouveau signalement d'incident de sécurité a été déposé ; il est en attente de prise en compte.",
    "prise_en_compte": "La Cellule ACSS a pris en compte votre déclaration et ouvert un dossier de traitement ; elle va qualifier l'incident.",
    "demande_informations": "Pour qualifier et traiter l'incident, des informations complémentaires vous sont demandées.",
    "b1_sans_suite": "Après analyse, l'événement signalé ne constitue pas un incident de sécurité au sens du décret : aucune suite particulière ne sera apportée au signalement.",
    "qualification_ars": "La Cellule ACSS a qualifié le signalement d'un établissement de votre territoire.",
    "information_hfds": "La Cellule ACSS a qualifié un incident grave ou significatif.",
    "alerte_dgs": "Incident de sécurité susceptible d'avoir un impact sanitaire direct ou indirect : la Cellule ACSS alerte la DGS et le FSSI.",
    "analyse_dgs": "La DGS a analysé l'impact de l'incident sur la prise en charge des patients.",
    "coordination_ansm": "L'incident met en jeu un dispositif ou un logiciel suivi par l'ANSM : coordination demandée.",
    "coordination_anssi": "L'incident concerne un système d'information d'importance vitale : coordination avec l'ANSSI.",
    "modalite_appui": "L'ARS a choisi la modalité d'appui au traitement de l'incident.",
    "passage_significatif": "Des incidents similaires sont en cours de traitement : la Cellule ACSS a confirmé le rapprochement proposé, l'incident passe en significatif (phase 4 bis).",
    "pilotage_hfds": "Incident significatif : l'appui au traitement est piloté par le HFDS/FSSI.",
    "preservation_traces": "Il vous est demandé de préserver les traces numériques de l'incident (journaux, disques, images mémoire).",
    "fiches_reflexes": "Voici les fiches réflexes correspondant à votre incident et la liste des prestataires référencés.",
    "plan_crise": "Le HFDS a décidé une gestion de crise : la Cellule ACSS applique le plan de crise.",
    "alerte_diffusion": "Alerte du HFDS/FSSI relayée par la Cellule ACSS : risque important ou propagation d'une menace.",
    "point_hebdomadaire": "Point hebdomadaire sur l'avancement de l'accompagnement (aucun point n'a été fait depuis une semaine).",
    "point_avancement": "Point d'avancement des actions d'accompagnement menées auprès de la structure.",
    "cloture": "Le dossier de traitement du signalement est clôturé.",
    "rappel_echeance": "Une tâche du dossier a dépassé son échéance.",
    "relance_fssi": "Un signalement avec demande d'aide urgente, déclaré hors des heures ouvrées de la Cellule ACSS, attend depuis 30 minutes sa prise en charge par le permanent HFDS/FSSI.",
    "escalade_fssi_hfds": "Un signalement avec demande d'aide urgente, déclaré hors des heures ouvrées de la Cellule ACSS, n'a toujours pas été traité par le permanent HFDS/FSSI deux heures après la déclaration.",
    "alerte_cossi": "Le FSSI des ministères sociaux alerte le centre opérationnel de la sécurité des systèmes d'information de l'ANSSI d'un incident de sécurité déclaré par une structure de santé hors des heures ouvrées.",
}
