"""Single sign-on through OpenID Connect providers (ProConnect for State agents, Pro Santé Connect for health
professionals), with the authorization code flow, PKCE, state and nonce, via Authlib.

Providers come from the OIDC_PROVIDERS setting, for example (environment `SIGNALEMENT_OIDC_PROVIDERS`, JSON):
  {"proconnect": {"label": "ProConnect", "metadata_url": "https://…/.well-known/openid-configuration",
                  "client_id": "…", "client_secret": "…", "scope": "openid email given_name usual_name",
                  "roles": ["ars", "acss", "hfds", "dgs", "armees", "auditeur", "responsable_processus", "admin"]}}
An identity logs into an existing account only (accounts/identities.py); every refusal is a French page.
"""
from __future__ import annotations

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from joserfc.errors import JoseError
from requests.exceptions import RequestException

from accounts import identities
from mail import links
from models import db
from web.auth.login import home_for, start_session

bp = Blueprint("sso", __name__, url_prefix="/sso")
REFUSED_PROTOCOL = ("La connexion par le fournisseur d'identité n'a pas abouti (réponse invalide ou expirée). "
                    "Recommencez ; si le problème persiste, connectez-vous avec votre mot de passe.")
UNAVAILABLE = "Le fournisseur d'identité ne répond pas. Réessayez plus tard ou connectez-vous avec votre mot de passe."


def init_app(app) -> None:
    """Register the configured providers on the application's Authlib registry."""
    oauth = OAuth(app)
    for name, conf in (app.config.get("OIDC_PROVIDERS") or {}).items():
        oauth.register(name, client_id=conf["client_id"], client_secret=conf.get("client_secret"),
                       server_metadata_url=conf["metadata_url"],
                       client_kwargs={"scope": conf.get("scope", "openid email profile"),
                                      "code_challenge_method": "S256", "timeout": conf.get("timeout", 10)})
    app.extensions["sso"] = oauth


@bp.app_context_processor
def _providers():
    providers = current_app.config.get("OIDC_PROVIDERS") or {}
    return {"sso_providers": [(name, conf.get("label", name)) for name, conf in providers.items()]}


def _client(provider: str):
    return current_app.extensions["sso"].create_client(provider)


def _refuse(message: str, status: int):
    return render_template("auth/login.html", error=message, email="", next_url=None), status


@bp.before_request
def _configured_provider():
    """Every route names a provider: an unknown one is a French 404, before any work."""
    if (request.view_args or {}).get("provider") not in (current_app.config.get("OIDC_PROVIDERS") or {}):
        return _refuse("Ce fournisseur d'identité n'est pas configuré sur cette plateforme.", 404)
    return None


@bp.route("/<provider>")
def start(provider: str):
    """Send the browser to the provider's authorization endpoint (state, nonce and PKCE kept in the session)."""
    client = _client(provider)
    try:
        return client.authorize_redirect(links.absolute(url_for("sso.callback", provider=provider)))
    except (RequestException, ValueError):
        return _refuse(UNAVAILABLE, 503)


def identity_claims(provider: str, token: dict, nonce: str) -> dict:
    """The ID token's claims, checked (signature, issuer, audience = our client id, expiry, nonce); raises on refusal."""
    return dict(_client(provider).parse_id_token(token, nonce=nonce))


@bp.route("/<provider>/retour")
def callback(provider: str):
    """The provider's answer: exchange the code, check the ID token, log into the matching account."""
    client = _client(provider)
    try:
        token = client.authorize_access_token()
    except RequestException:
        return _refuse(UNAVAILABLE, 503)
    except (AuthlibBaseError, JoseError, ValueError, KeyError, TypeError):
        # Bad state, code refused by the provider, ID token with a wrong signature, issuer, audience, nonce or
        # expiry: Authlib raises its own errors and joserfc's.
        return _refuse(REFUSED_PROTOCOL, 401)
    # Authlib checks the ID token only when the state carried a nonce and an ID token came back: require both.
    claims = dict(token.get("userinfo") or {}) if isinstance(token, dict) else {}
    if not claims:
        return _refuse(REFUSED_PROTOCOL, 401)
    if "email" not in claims:
        # Providers such as ProConnect give the e-mail at the userinfo endpoint only; its subject must be the
        # ID token's (OpenID Connect Core 5.3.2), or the answer mixes two people.
        try:
            extra = dict(client.userinfo(token=token))
        except RequestException:
            return _refuse(UNAVAILABLE, 503)
        except (AuthlibBaseError, JoseError, ValueError):
            return _refuse(REFUSED_PROTOCOL, 401)
        if extra.get("sub") != claims.get("sub"):
            return _refuse(REFUSED_PROTOCOL, 401)
        claims = {**extra, **claims}
    conf = current_app.config["OIDC_PROVIDERS"][provider]
    user, refusal = identities.match(provider, claims, set(conf.get("roles") or []))
    if user is None:
        db.session.rollback()
        return _refuse(refusal, 403)
    db.session.commit()
    start_session(user)
    flash(f"Bienvenue, {user.name}.", "succes")
    return redirect(home_for(user))
