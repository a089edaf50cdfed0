"""Flask commands for structures and accounts: FINESS import, account creation, deactivation, password links."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from accounts import finess, journal, passwords, users
from models import Structure, User, db
from referentiel import plural

group = AppGroup("comptes", help="Structures et comptes : import FINESS, création, désactivation, liens.")
ACTOR = "ligne de commande"


def init_app(app) -> None:
    """Register the command group."""
    app.cli.add_command(group)


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"Aucun compte pour l'adresse {email}.")
    return user


@group.command("import-finess")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_finess(path: Path):
    """Import (create or update) the structures of a FINESS extract file."""
    report = finess.import_extract(path.read_bytes(), ACTOR)
    db.session.commit()
    click.echo(f"{plural(report['lignes'], 'ligne lue', 'lignes lues')} ; "
               f"{plural(report['creees'], 'structure créée', 'structures créées')} ; "
               f"{plural(report['modifiees'], 'structure mise à jour', 'structures mises à jour')} ; "
               f"{plural(report['inchangees'], 'structure inchangée', 'structures inchangées')} ; "
               f"{report['hors_champ']} hors champ ; {plural(report['nb_rejets'], 'ligne rejetée', 'lignes rejetées')}.")
    for number, reason in report["rejets"]:
        click.echo(f"  ligne {number} : {reason}")


@group.command("creer")
@click.option("--email", required=True)
@click.option("--nom", "name", required=True)
@click.option("--role", required=True)
@click.option("--region", default="")
@click.option("--finess", "finess_et", default="", help="FINESS ET de la structure (déclarants).")
def create(email, name, role, region, finess_et):
    """Create an account and mail it an invitation link."""
    structure = db.session.scalar(select(Structure).where(Structure.finess_et == finess_et.upper())) if finess_et else None
    user, errors = users.save({"email": email, "name": name, "role": role, "region": region,
                               "structure_id": structure.id if structure else ""}, ACTOR)
    if errors:
        raise click.ClickException(" ".join(errors.values()))
    passwords.issue(user, "invitation", ACTOR, current_app.config["MAIL_DOMAIN"])
    db.session.commit()
    click.echo(f"Compte {user.email} créé ; lien d'invitation placé dans la file des messages sortants.")


@group.command("desactiver")
@click.argument("email")
def deactivate(email):
    """Deactivate an account; its sessions end at once."""
    user = _user(email)
    users.set_active(user, False, ACTOR)
    db.session.commit()
    click.echo(f"Compte {user.email} désactivé.")


@group.command("lien")
@click.argument("email")
def link(email):
    """Mail a password-reset link to an account."""
    user = _user(email)
    if not user.active:
        raise click.ClickException("Ce compte est désactivé.")
    passwords.issue(user, "reinitialisation", ACTOR, current_app.config["MAIL_DOMAIN"])
    db.session.commit()
    click.echo(f"Lien de réinitialisation placé dans la file des messages sortants pour {user.email}.")


@group.command("verifier-journal")
def verify():
    """Check the chain of the account journal."""
    problems = journal.verify()
    for problem in problems:
        click.echo(problem)
    if problems:
        raise SystemExit(1)
    click.echo("Journal des comptes intact.")
