"""`flask audit ...`: verify dossiers' histories, replay one to a step, export for process mining."""
from __future__ import annotations

import json
import sys
from datetime import datetime, time, timedelta, timezone

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from audit import hash_chain, mining, parallel, replayer, verifier
from engine.errors import EngineError
from models import Dossier, db
from referentiel import plural

audit_cli = AppGroup("audit", help="Vérifier, rejouer et exporter l'historique des dossiers.")


def init_app(app):
    """Register the `audit` command group."""
    app.cli.add_command(audit_cli)


def _dossier_or_fail(key: str) -> Dossier:
    dossier = hash_chain.find_dossier(key)
    if dossier is None:
        raise click.ClickException(f"Dossier introuvable : « {key} ».")
    return dossier


@audit_cli.command("verify")
@click.argument("dossier", required=False)
@click.option("--chaine-seule", "chain_only", is_flag=True,
              help="Vérifier le chaînage et l'état stocké sans rejouer le processus (plus rapide).")
@click.option("--processus", "processes", type=click.IntRange(min=0), default=0, show_default=True,
              help="Nombre de processus qui se partagent la vérification de tous les dossiers "
                   "(0 : un par cœur, un seul pour peu de dossiers).")
def verify(dossier, chain_only, processes):
    """Verify one dossier (or all) by chain check and full replay; exit 1 at the first difference."""
    full = not chain_only
    if dossier:
        result = verifier.verify_dossier(_dossier_or_fail(dossier), full=full)
        click.echo(result.message)
        sys.exit(0 if result.ok else 1)
    total = db.session.scalar(select(func.count(Dossier.id))) or 0
    failures = []
    with click.progressbar(length=total, label="Vérification des dossiers", file=sys.stderr) as bar:
        def progress(result):
            bar.update(1)
            if not result.ok:
                failures.append(result)
        verifier.verify_all(progress=progress, full=full,
                            processes=processes or parallel.default_processes(total))
    for result in failures:
        click.echo(result.message)
    if failures:
        click.echo(f"{plural(len(failures), 'dossier')} sur {total} "
                   f"{'présente' if len(failures) < 2 else 'présentent'} une différence.")
        sys.exit(1)
    mode = "chaînage et état stocké" if chain_only else "chaînage, rejeu pas à pas et état stocké"
    click.echo(f"{plural(total, 'dossier vérifié')} ({mode}) : aucune différence.")


@audit_cli.command("replay")
@click.argument("dossier")
@click.option("--step", "step", type=int, required=False, help="Étape (1 = démarrage) ; la dernière par défaut.")
@click.option("--data/--no-data", default=True, help="Inclure les données du dossier.")
def replay(dossier, step, data):
    """Print the replayed state of a dossier at a step: data, open tasks, timers, visited elements."""
    record = _dossier_or_fail(dossier)
    if step is None:
        step = len(hash_chain.events_of(record.instance_id))
    try:
        snapshot = replayer.state_at(record, step)
    except replayer.ReplayMismatch as exc:
        click.echo(f"Dossier {record.number} : différence à l'étape {exc.step} ({exc.reason})", err=True)
        sys.exit(1)
    except EngineError as exc:
        raise click.ClickException(exc.message) from None
    view = {"dossier": record.number, **snapshot.as_dict()}
    if not data:
        view.pop("donnees")
    click.echo(json.dumps(view, ensure_ascii=False, indent=2, default=str))


def _day(value: datetime | None, end: bool = False) -> datetime | None:
    if value is None:
        return None
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    if end and value.time() == time(0):
        value += timedelta(days=1)  # --to 2026-03-31 includes the whole day
    return value


@audit_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["xes", "csv"]), default="xes", show_default=True)
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
              help="Dossiers créés à partir de cette date (UTC).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
              help="Dossiers créés jusqu'à cette date incluse (UTC).")
@click.option("--dossier", "number", help="Un seul dossier.")
@click.option("--personal-data", is_flag=True, help="Inclure les données personnelles (noms des acteurs).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Fichier (sinon la sortie).")
def export(fmt, start, end, number, personal_data, output):
    """Export dossiers' histories as XES (IEEE 1849) or CSV for process-mining tools."""
    if number:
        dossiers = [_dossier_or_fail(number)]
    else:
        dossiers = mining.dossiers_between(_day(start), _day(end, end=True))
    content = mining.to_xes(dossiers, personal_data) if fmt == "xes" else mining.to_csv(dossiers, personal_data).encode()
    if output:
        with open(output, "wb") as handle:
            handle.write(content)
        click.echo(f"{plural(len(dossiers), 'dossier exporté')} dans {output}.", err=True)
    else:
        click.echo(content.decode("utf-8"), nl=False)
