"""« Jetons d'API »: each person creates (the secret is shown once) and revokes their own API tokens."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from accounts import api_tokens as tokens
from web.auth.login import current_user, login_required

bp = Blueprint("api_tokens", __name__, url_prefix="/compte/jetons-api")


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    """List the user's tokens; POST creates one and shows its secret this once."""
    user = current_user()
    secret, error, status = None, None, 200
    if request.method == "POST":
        try:
            _, secret = tokens.create(user, request.form.get("nom", ""), request.form.get("lecture_seule") == "1")
        except ValueError as exc:
            error, status = str(exc), 422
    return render_template("api/tokens.html", tokens=tokens.tokens_of(user), secret=secret, error=error), status


@bp.route("/<int:token_id>/revoquer", methods=["POST"])
@login_required
def revoke(token_id):
    """Revoke one of the user's tokens (someone else's answers like a missing one)."""
    if tokens.revoke(current_user(), token_id):
        flash("Le jeton est révoqué : il ne donne plus accès à l'API.", "succes")
    else:
        flash("Ce jeton est introuvable ou déjà révoqué.", "avertissement")
    return redirect(url_for("api_tokens.index"))
