"""Flask commands: create the database, load demo data, deploy the process, run a scenario."""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

import migrate
from cli import accounts as cli_accounts
from cli import api as cli_api
from cli import audit as cli_audit
from cli import backup as cli_backup
from cli import demo, scenarios
from cli import sweeps as cli_time
from engine.errors import EngineError
from models import Dossier, ProcessDefinition, db
from referentiel import plural
from timekeeping import clock as clock_mod
from validation.problems import ValidationFailed
from workflow import commands, context, deployment, gate, versions


def init_app(app):
    """Register the commands on the application."""
    for command in (init_db, load_demo, deploy, run_scenario, list_scenarios, migrate_dossier, activate_version):
        app.cli.add_command(command)
    cli_time.init_app(app)
    cli_audit.init_app(app)
    cli_accounts.init_app(app)
    cli_api.init_app(app)
    cli_backup.init_app(app)


def setup_database() -> str | None:
    """Upgrade the schema to the latest migration and deploy the configured process file through the gate.

    A file that does not pass keeps the active version: the reason (French) is logged and returned, and the
    application still starts. With no version deployed yet there is nothing to keep: the refusal stands.
    """
    migrate.upgrade()
    path = Path(current_app.config["PROCESS_FILE"])
    try:
        gate.deploy(deployment.read_bpmn(path), deployment.current_forms(), path.name, actor="installation",
                    comment="Fichier de processus configuré")
    except (gate.GateRefused, ValidationFailed) as exc:
        active = gate.current_active()
        if active is None:
            raise click.ClickException(exc.message) from None
        reason = (f"Le fichier de processus configuré ({path.name}) n'est pas déployé : la version {active.id} "
                  f"reste active.\n{exc.message}")
        if "acceptez explicitement" in exc.message:
            reason += ("\nPour le déployer, lisez l'essai puis acceptez chaque écart : flask deploy --commentaire "
                       "« … » --accepter SCÉNARIO (une fois par scénario).")
        current_app.logger.warning(reason)
        click.echo(reason, err=True)
        return reason
    return None


@click.command("init-db")
@with_appcontext
def init_db():
    """Create or upgrade the database schema and deploy the process (through the deployment gate)."""
    kept = setup_database()
    done = "version active conservée" if kept else "processus déployé"
    click.echo(f"Base de données à jour (révision {migrate.current_revision()}), {done}.")


@click.command("demo")
@with_appcontext
def load_demo():
    """Load demo structures and users (idempotent)."""
    setup_database()
    created = demo.load_demo()
    click.echo(f"Données de démonstration : {plural(created['structures'], 'structure')}, {plural(created['users'], 'utilisateur')} "
               f"créés, {plural(created.get('fiches', 0), 'fiche réflexe', 'fiches réflexes')} et "
               f"{plural(created.get('prestataires', 0), 'prestataire')} ajoutés. "
               f"Mot de passe de tous les comptes : {demo.DEMO_PASSWORD}")
    if db.session.scalar(select(Dossier.id).limit(1)) is None:
        numbers = sample_dossiers()
        click.echo(f"Dossiers d'exemple à différentes étapes : {', '.join(numbers)}.")


# Sample dossiers so that a new installation shows work in every role's inbox: (scenario, stop before).
SAMPLES = [("b1", "p3_qualifier"), ("hors_heures", "p2_ouvrir"), ("grave_acss", "p4_accompagner"),
           ("significatif_crise", None), ("militaire_impact_soins", "mil_traiter")]


def sample_dossiers() -> list[str]:
    """Run a few scenarios up to different steps, over the last days, on a simulated clock."""
    now = clock_mod.app_now()
    numbers = []
    with clock_mod.app_clock_frozen(now) as frozen:
        for name, until in SAMPLES:
            scenario = scenarios.SCENARIOS[name]
            # Same weekday and hour as the scenario (working hours, or a Saturday night), in the past weeks.
            weeks = (now - scenario.start) // timedelta(weeks=1) - (2 if name == "grave_acss" else 1)
            start = scenario.start + timedelta(weeks=max(weeks, 0))
            scenarios.SCENARIOS[name] = dataclasses.replace(scenario, start=start)
            try:
                dossier, _ = scenarios.run(name, frozen, until=until)
            finally:
                scenarios.SCENARIOS[name] = scenario
            numbers.append(dossier.number)
    return numbers


@click.command("deploy")
@click.argument("bpmn_file", required=False)
@click.option("--commentaire", default="", help="Ce que change la version (inscrit à l'historique).")
@click.option("--accepter", "accepted", multiple=True, metavar="SCENARIO",
              help="Scénario dont le changement de parcours est accepté (à répéter pour chacun).")
@with_appcontext
def deploy(bpmn_file, commentaire, accepted):
    """Deploy a BPMN file (default: the configured process) through the gate: validator, dry run, then a new
    active version if every scenario passes and each changed path is accepted with --accepter."""
    unknown = sorted(set(accepted) - set(scenarios.SCENARIOS))
    if unknown:
        raise click.BadParameter(f"scénario inconnu : {', '.join(unknown)} ; choix : {', '.join(scenarios.SCENARIOS)}",
                                 param_hint="--accepter")
    try:
        xml_path = Path(bpmn_file or current_app.config["PROCESS_FILE"])
        xml, forms = deployment.read_bpmn(xml_path), deployment.current_forms()
        known = deployment.known_version(xml, forms)
        if known is None:
            verdict = gate.examine(xml, forms, xml_path.name, gate.current_active())
            for line in report_lines(verdict):
                click.echo(line)
            definition = gate.deploy(xml, forms, xml_path.name, "ligne de commande", commentaire, accepted, verdict)
        else:
            definition = known
            click.echo(f"Ce contenu est déjà déployé (version {known.id}) : rien n'a changé.")
    except (EngineError, OSError) as exc:
        raise click.ClickException(getattr(exc, "message", None) or str(exc)) from None
    click.echo(f"Version {definition.id} ({definition.content_hash[:12]}) de « {definition.process_id} ».")


def _steps(steps: list) -> str:
    return " → ".join(s["nom"] + (f" ({s['role_nom']})" if s.get("role") else "") for s in steps[:12]) or "fin"


def report_lines(verdict: gate.Verdict) -> list[str]:
    """The dry-run report as `flask deploy` prints it: the same findings as the web page."""
    if verdict.problems:
        return []  # ValidationFailed lists them
    lines = ["Essai à blanc :"]
    for row in verdict.scenarios:
        if row.get("bloquant"):
            lines.append(f"  ÉCHEC  {row['nom']} : {row['erreur']}")
        elif verdict.active_id is not None and row.get("different"):
            waits = ", ".join(f"« {n} »" for n in row.get("attente_noms") or [])
            lines.append(f"  ÉCART  {row['nom']} ({row['titre']}) : parcours commun sur {row['ecart']['commun']} "
                         "élément(s), puis")
            lines.append(f"           version active : {_steps(row['etapes_avant'])}")
            lines.append(f"           nouvelle version : {_steps(row['etapes_apres'])}"
                         + (f" ; en attente de {waits}" if waits else ""))
            lines.append(f"           à accepter avec --accepter {row['nom']}")
        else:
            lines.append(f"  OK     {row['nom']} : état final « {row['etat']} »")
    return lines


@click.command("scenarios")
def list_scenarios():
    """List the named scenarios."""
    for name, scenario in scenarios.SCENARIOS.items():
        click.echo(f"{name:24} {scenario.title}")


@click.command("scenario")
@click.argument("name")
@with_appcontext
def run_scenario(name):
    """Run a named scenario end to end on a simulated clock, printing each step."""
    if name not in scenarios.SCENARIOS:
        raise click.BadParameter(f"scénario inconnu ; choix : {', '.join(scenarios.SCENARIOS)}", param_hint="NAME")
    setup_database()
    demo.load_demo()

    def echo(step, dossier):
        click.echo(f"[{clock_mod.app_now():%d/%m %H:%M}] {step.actor} : {step.task}")
        for element in step.visited[1:]:
            click.echo(f"      -> {element}")
        for state in step.states:
            click.echo(f"      état : « {state} »")
        for kind in step.notified:
            click.echo(f"      message : {kind}")

    with clock_mod.app_clock_frozen() as frozen:
        try:
            dossier, _ = scenarios.run(name, frozen, echo=echo)
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
        db.session.refresh(dossier)
        click.echo(f"Dossier {dossier.number} : état « {dossier.state} », qualification {dossier.qualification}.")


@click.command("activate-version")
@click.argument("definition_id", type=int)
@click.option("--commentaire", required=True, help="Pourquoi cette version redevient active.")
@with_appcontext
def activate_version(definition_id, commentaire):
    """Make a deployed version the one new dossiers start on (rollback, audited)."""
    definition = db.session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise click.ClickException(f"Version de processus inconnue : {definition_id}")
    try:
        versions.activate(definition, "ligne de commande", commentaire)
    except EngineError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Version {definition.id} active : les nouveaux dossiers l'utiliseront.")


@click.command("migrate-dossier")
@click.argument("number")
@click.option("--to", "target_id", type=int, help="Identifiant de la version cible (par défaut : la version active).")
@click.option("--minuteurs", type=click.Choice(["conserver", "recalculer"]), default="conserver",
              help="Minuteurs en attente : conserver l'échéance ou la recalculer avec la nouvelle durée.")
@with_appcontext
def migrate_dossier(number, target_id, minuteurs):
    """Move a running dossier to another deployed version of its process (audited)."""
    dossier = db.session.scalar(select(Dossier).where(Dossier.number == number))
    if dossier is None:
        raise click.ClickException(f"Dossier inconnu : {number}")
    target = db.session.get(ProcessDefinition, target_id) if target_id else deployment.active_definition()
    if target is None:
        raise click.ClickException(f"Version de processus inconnue : {target_id}")
    try:
        commands.migrate_dossier(dossier, target, context.Actor("ligne de commande", "responsable_processus"), minuteurs)
    except EngineError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Dossier {number} migré vers la version {target.id} ({target.content_hash[:12]}).")
