"""`flask api token create|revoke`: API tokens for programs (the national portal), from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from accounts import api_tokens as tokens
from models import ApiToken, User, db
from referentiel import plural


api = AppGroup("api", help="API JSON : jetons d'accès.")
token_group = AppGroup("token", help="Créer ou révoquer un jeton d'API.")
api.add_command(token_group)


def init_app(app):
    """Register the commands on the application."""
    app.cli.add_command(api)


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email.strip()))
    if user is None:
        raise click.ClickException(f"Aucun compte n'a l'adresse {email}.")
    return user


@token_group.command("create")
@click.option("--email", required=True, help="Le compte au nom duquel le jeton agit (rôle et périmètre).")
@click.option("--name", required=True, help="Le nom du jeton (son usage).")
@click.option("--read-only", is_flag=True, help="Lecture seule : aucune déclaration ni tâche validée.")
def create(email, name, read_only):
    """Create a token and print its secret, shown this once."""
    user = _user(email)
    if not user.active:
        raise click.ClickException(f"Le compte {email} est désactivé.")
    try:
        token, secret = tokens.create(user, name, read_only)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Jeton « {token.name} » créé pour {user.email} ({'lecture seule' if read_only else 'lecture et écriture'}).")
    click.echo("Conservez-le maintenant, il ne sera plus affiché :")
    click.echo(secret)


@token_group.command("revoke")
@click.option("--email", required=True, help="Le compte propriétaire du jeton.")
@click.option("--name", required=True, help="Le nom du jeton à révoquer.")
def revoke(email, name):
    """Revoke a user's active tokens of that name."""
    user = _user(email)
    found = db.session.scalars(select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.name == name,
                                                         ApiToken.revoked_at.is_(None))).all()
    if not found:
        raise click.ClickException(f"Aucun jeton actif nommé « {name} » pour {user.email}.")
    for token_id in found:
        tokens.revoke(user, token_id)
    click.echo(f"{plural(len(found), 'jeton')} révoqué{'s' if len(found) > 1 else ''}.")
