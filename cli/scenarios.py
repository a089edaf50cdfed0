"""Named end-to-end scenarios through the process, used by `flask scenario` and by the path tests."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from cases import observables as cases_observables
from models import AuditEvent, Dossier, OutboxMessage, Structure, TaskRow, Timer, User, db
from workflow import claims, commands, context

MONDAY_MORNING = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)     # 11:00 in Paris
SATURDAY_NIGHT = datetime(2026, 3, 7, 21, 30, tzinfo=timezone.utc)    # 22:30 in Paris

PERIMETRE = {"perimetre": ["serveurs", "postes"], "elements_concernes": "Serveurs de fichiers et 40 postes du bloc"}
IMPACT = {"impact_soins": "mode_degrade", "impact_donnees": ["disponibilite"], "donnees_personnelles": True,
          "impact_fonctionnement": "Dossier patient indisponible, passage en mode dégradé papier"}
IMPACT_NONE = {"impact_soins": "aucun", "impact_donnees": [], "donnees_personnelles": False,
               "impact_fonctionnement": "Aucun impact constaté sur le fonctionnement"}
ORIGINE = {"origine": "malveillante", "capacite_traitement": "Équipe informatique mobilisée, besoin d'appui",
           "prestataire_engage": False}


def formulaire(types=("rancongiciel",), urgent=False, titre="Chiffrement de serveurs par un rançongiciel"):
    """Task D of phase 1: the validated declaration form."""
    return {"titre": titre, "types_incident": list(types), "date_detection": "2026-03-02T07:45:00+01:00",
            "description": "Message de rançon affiché sur les serveurs, fichiers chiffrés.",
            "incident_en_cours": True, "plainte_deposee": False, "cnil_notifiee": False, "anssi_notifiee": False,
            "besoin_accompagnement": True, "besoin_aide_urgente": urgent, "declaration_validee": True}


def qualification(kind="grave", sanitaire=False, dispositif="aucun", info=False):
    """Task A of phase 3."""
    data = {"qualification": kind, "criticite": "elevee", "impact_sanitaire": sanitaire, "dispositif_ansm": dispositif,
            "analyse_qualification": "Analyse de la déclaration et échange avec le RSSI.", "demande_informations": info}
    if info:
        data["question_declarant"] = "Quelle version du logiciel de sauvegarde utilisez-vous ?"
    return data


ANALYSE = {"perimetre_technique": "Contrôleur de domaine et 3 serveurs", "causes": "VPN sans double authentification",
           "origine_confirmee": "malveillante", "preservation_traces": True, "demande_informations": False}
SUIVI_CONTINUE = {"actions_menees_periode": "Isolement du réseau, restauration des sauvegardes",
                  "mesures_urgence": ["confinement", "isolation"], "etat_avancement": "en_cours",
                  "accompagnement_termine": False}
SUIVI_FIN = dict(SUIVI_CONTINUE, etat_avancement="resolu", accompagnement_termine=True)
FIN_STRUCTURE = {"traitement_termine": True, "actions_structure": "Systèmes restaurés, mots de passe changés"}
CLOTURE = {"fin_accompagnement_actee": True}
BILAN = {"synthese_actions": "Confinement, restauration, durcissement VPN", "resultats": "Reprise complète en 9 jours",
         "vulnerabilites_residuelles": "Postes anciens non migrés", "risques_residuels": "Réinfection par les postes"}
RETEX = {"causes_incident": "VPN exposé sans MFA", "facteurs_aggravants": "Sauvegardes en ligne",
         "difficultes": "Inventaire incomplet", "mesures_mises_en_place": "MFA, sauvegardes hors ligne",
         "recommandations": "Activer la double authentification sur tous les accès distants"}

# The permanent HFDS/FSSI's handling of an urgent declaration made off hours (phase 1), with or without the COSSI.
FSSI = {"fssi_prise_en_charge": True, "fssi_actions": "Appel du RSSI à 23 h 10 : VPN coupé, comptes suspendus",
        "fssi_conseils": "Isoler les serveurs touchés, conserver les journaux, ne pas payer de rançon",
        "alerter_cossi": False, "fssi_transmission": "Structure rappelée, situation stabilisée pour la nuit"}
FSSI_COSSI = dict(FSSI, alerter_cossi=True, message_cossi="Rançongiciel actif dans un CHU, soins interrompus")

DECLARATION = [("p1_perimetre", PERIMETRE), ("p1_impact", IMPACT), ("p1_origine", ORIGINE)]
OPENING = [("p2_ouvrir", {"declaration_recuperee": True, "analyste_referent": "Karim Benali"})]
CLOSING = [("p5_cloturer", CLOTURE), ("p5_bilan", BILAN), ("p6_retex", RETEX)]
# Indicators shared by the two CHU de Rennes incidents: what makes them similar (handlers/similarity.py).
LOCKBIT = (("famille_rancongiciel", "LockBit"), ("ip", "185.220.101.4"))
SUPPORT_END = [("p4_accompagner", SUIVI_CONTINUE), ("p4_accompagner", SUIVI_FIN), ("p4_fin_structure", FIN_STRUCTURE)]


@dataclass
class Scenario:
    """A path through the process: the structure, the start time and the tasks completed in order."""

    name: str
    title: str
    structure_finess_prefix: str
    start: datetime
    steps: list
    before: str | None = None  # another scenario to run first, up to a task (for similar incidents)
    before_until: str | None = None
    observables: tuple = ()  # (kind, value) the declarant reports, entered with the declaration


SCENARIOS = {s.name: s for s in [
    Scenario("b1", "Pas un incident de sécurité (B1)", "35000002", MONDAY_MORNING,
             DECLARATION + [("p1_formulaire", formulaire(("bogue_logiciel",), titre="Lenteurs du logiciel de paie"))]
             + OPENING + [("p3_qualifier", qualification("non_incident")), ("p5_cloturer", CLOTURE)]),
    Scenario("grave_acss", "Incident grave, appui confié à la Cellule ACSS", "35000002", MONDAY_MORNING,
             DECLARATION + [("p1_formulaire", formulaire())] + OPENING
             + [("p3_qualifier", qualification("grave", info=True)),
                ("p3_complement", {"reponse_informations": "Veeam 12, sauvegardes du dimanche intactes"}),
                ("p3_qualifier", qualification("grave")),
                ("p4_choix", {"modalite_appui": "confier_acss"}), ("p4_analyse", ANALYSE)]
             + SUPPORT_END + CLOSING, observables=LOCKBIT),
    Scenario("grave_ars", "Incident grave pris totalement en charge par l'ARS", "57000102", MONDAY_MORNING,
             DECLARATION + [("p1_formulaire", formulaire(("hameconnage",), titre="Campagne d'hameçonnage ciblée"))]
             + OPENING + [("p3_qualifier", qualification("grave")),
                          ("p4_choix", {"modalite_appui": "prise_en_charge_ars"}),
                          ("p4_appui_ars", {"actions_ars": "Accompagnement par le GRADeS régional"}),
                          ("p4_fin_structure", FIN_STRUCTURE)] + CLOSING),
    Scenario("grave_4bis_similaire", "Incident grave basculé en 4 bis par un incident similaire en cours",
             "35000002", MONDAY_MORNING,
             DECLARATION + [("p1_formulaire", formulaire())] + OPENING
             + [("p3_qualifier", qualification("grave")), ("p4_choix", {"modalite_appui": "deleguer_partie"}),
                ("p4_decision_similaires", {"decision_similarite": "confirmer",
                                            "motif_decision": "Même famille LockBit et même serveur de commande"}),
                ("p4_analyse", ANALYSE),
                ("p4bis_coordonner", {"mode_traitement": "normal", "plan_action": "Coordination des deux CHU",
                                      "diffuser_alerte": False, "communication_grand_public": False})]
             + SUPPORT_END + CLOSING,
             before="grave_acss", before_until="p4_analyse", observables=LOCKBIT),
    Scenario("significatif_crise", "Incident significatif traité en mode crise", "75000602", MONDAY_MORNING,
             DECLARATION + [("p1_formulaire", formulaire())] + OPENING
             + [("p3_qualifier", qualification("significatif")), ("p4_analyse", ANALYSE),
                ("p4bis_coordonner", {"mode_traitement": "crise", "plan_action": "Cellule de crise ministérielle",
                                      "diffuser_alerte": True, "message_alerte": "Campagne de rançongiciel en cours",
                                      "communication_grand_public": True}),
                ("p4bis_communication", {"message_grand_public": "Les urgences restent ouvertes.",
                                         "canal": "communique_presse"})]
             + SUPPORT_END + CLOSING),
    Scenario("impact_sanitaire", "Incident grave avec impact sanitaire : alerte DGS", "69000302", MONDAY_MORNING,
             DECLARATION + [("p1_formulaire", formulaire(("dysfonctionnement_infrastructure",),
                                                         titre="Panne de l'automate de biologie"))]
             + OPENING + [("p3_qualifier", qualification("grave", sanitaire=True)),
                          ("p3_dgs_analyse", {"analyse_impact_patients": "Retard des résultats d'urgence",
                                              "mesures_palliatives": "Transfert vers le laboratoire voisin"}),
                          ("p4_choix", {"modalite_appui": "confier_acss"}), ("p4_analyse", ANALYSE)]
             + SUPPORT_END + CLOSING),
    Scenario("hors_heures", "Déclaration hors heures ouvrées avec demande d'aide urgente", "57000102", SATURDAY_NIGHT,
             DECLARATION + [("p1_formulaire", formulaire(("compromission_compte",), urgent=True,
                                                         titre="Compte VPN compromis, rebonds internes")),
                            ("p1_fssi_traiter", FSSI)] + OPENING
             + [("p3_qualifier", qualification("grave")), ("p4_choix", {"modalite_appui": "confier_acss"}),
                ("p4_analyse", ANALYSE)] + SUPPORT_END + CLOSING),
    Scenario("hors_heures_cossi", "Hors heures ouvrées, aide urgente : le FSSI traite et alerte le COSSI de l'ANSSI",
             "35000002", SATURDAY_NIGHT,
             [("p1_perimetre", PERIMETRE), ("p1_impact", dict(IMPACT, impact_soins="interruption")),
              ("p1_origine", ORIGINE),
              ("p1_formulaire", formulaire(urgent=True, titre="Rançongiciel, prise en charge des patients interrompue")),
              ("p1_fssi_traiter", FSSI_COSSI)] + OPENING
             + [("p3_qualifier", qualification("grave")), ("p4_choix", {"modalite_appui": "confier_acss"}),
                ("p4_analyse", ANALYSE)] + SUPPORT_END + CLOSING),
    Scenario("militaire_sans_impact", "Hôpital des armées, sans impact sur l'offre de soins", "94000202",
             MONDAY_MORNING,
             [("p1_perimetre", PERIMETRE), ("p1_impact", IMPACT_NONE), ("p1_origine", ORIGINE),
              ("p1_formulaire", formulaire(("hameconnage",), titre="Hameçonnage sur la messagerie")),
              ("mil_traiter", {"information_armees": "acss", "synthese_armees": "Traité par le CALID",
                               "niveau_confidentialite": "non_protege"})]),
    Scenario("militaire_impact_soins", "Hôpital des armées, avec impact sur l'offre de soins", "94000202",
             MONDAY_MORNING,
             DECLARATION + [("p1_formulaire", formulaire()),
                            ("mil_traiter", {"information_armees": "hfds", "synthese_armees": "Rançongiciel contenu",
                                             "niveau_confidentialite": "diffusion_restreinte"})]),
    Scenario("dispositif_medical", "Incident impliquant un dispositif médical : coordination ANSM", "37000402",
             MONDAY_MORNING,
             [("p1_perimetre", {"perimetre": ["dispositifs_medicaux"],
                                "elements_concernes": "Accélérateur linéaire et son logiciel de planification"}),
              ("p1_impact", IMPACT), ("p1_origine", ORIGINE),
              ("p1_formulaire", formulaire(("bogue_logiciel",), titre="Erreur du logiciel de planification"))]
             + OPENING + [("p3_qualifier", qualification("grave", dispositif="DM")),
                          ("p4_choix", {"modalite_appui": "confier_acss"}), ("p4_analyse", ANALYSE)]
             + SUPPORT_END + CLOSING),
]}


@dataclass
class StepResult:
    """What one step did, for printing and for tests."""

    actor: str
    task: str
    visited: list
    states: list
    notified: list = field(default_factory=list)


def structure_for(prefix: str) -> Structure:
    """The demo structure whose FINESS ET starts with a prefix."""
    structure = db.session.scalar(select(Structure).where(Structure.finess_et.like(f"{prefix}%")))
    if structure is None:
        raise LookupError(f"structure {prefix} absente : lancez `flask demo`")
    return structure


def actor_for(row: TaskRow) -> context.Actor:
    """A demo user allowed to work a task row."""
    query = select(User).where(User.role == row.role, User.active.is_(True))
    if row.role == "ars":
        query = query.where(User.region == row.region)
    if row.role == "declarant":
        query = query.where(User.structure_id == row.structure_id)
    user = db.session.scalars(query.order_by(User.id)).first()
    if user is None:
        raise LookupError(f"aucun utilisateur {row.role} pour cette tâche")
    return context.Actor.of(user)


class TaskNotOpen(LookupError):
    """A scenario's next task is not open on its dossier; `open_tasks` are the element ids that are."""

    def __init__(self, number: str, spec_name: str, open_tasks: list):
        super().__init__(f"{number} : pas de tâche « {spec_name} » ouverte (ouvertes : {', '.join(open_tasks) or 'aucune'})")
        self.spec_name = spec_name
        self.open_tasks = list(open_tasks)


def ready_task(dossier: Dossier, spec_name: str) -> TaskRow:
    """The open task of a dossier for a BPMN element."""
    row = db.session.scalar(select(TaskRow).where(TaskRow.dossier_id == dossier.id, TaskRow.spec_name == spec_name,
                                                  TaskRow.status == "ready"))
    if row is None:
        open_tasks = db.session.scalars(select(TaskRow.spec_name).where(TaskRow.dossier_id == dossier.id,
                                                                        TaskRow.status == "ready")).all()
        raise TaskNotOpen(dossier.number, spec_name, open_tasks)
    return row


def run(name: str, clock, until: str | None = None, echo=None) -> tuple[Dossier, list[StepResult]]:
    """Run a scenario on the app's database with a settable clock; return the dossier and its steps."""
    scenario = SCENARIOS[name]
    if scenario.before:
        run(scenario.before, clock, until=scenario.before_until, echo=echo)
    clock.set(scenario.start)
    structure = structure_for(scenario.structure_finess_prefix)
    declarant = db.session.scalars(select(User).where(User.structure_id == structure.id).order_by(User.id)).first()
    dossier = commands.start_dossier(structure, declarant, context.Actor.of(declarant))
    plant_observables(dossier, scenario.observables, declarant)
    results = [_result(dossier, "Déclarant", "Démarrage du signalement")]
    for spec_name, data in scenario.steps:
        if spec_name == until:
            break
        clock.advance(minutes=20)
        row = ready_task(dossier, spec_name)
        actor = actor_for(row)
        if row.role != "declarant":  # analysts take the task from their inbox, then work it
            claims.claim(row.id, actor.user_id)
            db.session.commit()
        clock.advance(minutes=10)
        commands.complete_task(row.id, data, actor)
        results.append(_result(dossier, actor.name, row.title))
        if echo:
            echo(results[-1], dossier)
    return dossier, results


def plant_observables(dossier: Dossier, observables, author: User | None) -> None:
    """The declarant's indicators of a scenario, recorded as the declaration form records them (journal events);
    a structure without a declarant account has them recorded by the Cellule ACSS."""
    source = "declarant"
    if author is None and observables:
        author = db.session.scalars(select(User).where(User.role == "acss", User.active).order_by(User.id)).first()
        source = "analyste"
    for kind, value in observables:
        cases_observables.add(dossier, kind, value, user=author, source=source)


def _result(dossier: Dossier, actor: str, task: str) -> StepResult:
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id)
                              .order_by(AuditEvent.seq.desc()).limit(1))
    notified = db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.instance_id == dossier.instance_id,
                                                                   OutboxMessage.event_seq == event.seq)).all()
    return StepResult(actor, task, list(event.visited), list(event.states), list(notified))


def fire_due_timers(now: datetime) -> int:
    """Fire every pending timer due at `now` (the scheduler's sweep does the same with row locks)."""
    fired = 0
    due = db.session.scalars(select(Timer).where(Timer.status == "pending", Timer.due_at <= now)
                             .order_by(Timer.due_at, Timer.id)).all()
    for timer in due:
        commands.fire_timer(timer)
        fired += 1
    return fired


def advance(clock, delta: timedelta) -> int:
    """Move the clock forward, firing timers at their due times on the way."""
    target = clock.now() + delta
    fired = 0
    while True:
        next_due = db.session.scalar(select(Timer.due_at).where(Timer.status == "pending", Timer.due_at <= target)
                                     .order_by(Timer.due_at).limit(1))
        if next_due is None:
            break
        clock.set(max(next_due, clock.now()) + timedelta(seconds=1))
        fired += fire_due_timers(clock.now())
    clock.set(target)
    return fired
