"""The platform's one public address (`PUBLIC_URL`) and every absolute link built on it.

Links in mails (password links, reflex sheets, weak signals, dossiers) and redirect addresses given to
identity providers all come from `absolute()`: the Host header of a request is never used to build one,
so a request sent with `Host: attacker.example` cannot make the platform mail a link to that host.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

from flask import current_app

MISSING = ("PUBLIC_URL manquante : en production (SIGNALEMENT_ENV=production), l'adresse publique de la plateforme "
           "(par exemple https://signalement.sante.gouv.fr) doit venir de l'environnement ; les liens des messages "
           "sont construits sur elle. / PUBLIC_URL is missing: in production (SIGNALEMENT_ENV=production) the "
           "platform's public address (for example https://signalement.sante.gouv.fr) must come from the "
           "environment; links in mails are built on it.")
INVALID = ("PUBLIC_URL invalide : une adresse http://hôte[:port][/chemin] ou https://… sans requête ni fragment est attendue. "
           "/ PUBLIC_URL is invalid: an http:// or https://host[:port][/path] address without query or fragment is expected.")
# Hosts always accepted in development (no PUBLIC_URL set): the dev server's loopback names.
DEVELOPMENT_HOSTS = ("127.0.0.1", "localhost")


def normalise(url: str) -> str | None:
    """The address without its trailing slash, or None when it is not an absolute http or https address."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises ValueError
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        return None
    return url.rstrip("/")


def development_url(environ=os.environ) -> str:
    """The address a development server serves: HOST/PORT (as `scripts/start` uses them), else Flask's defaults."""
    host = environ.get("HOST") or environ.get("FLASK_RUN_HOST") or "127.0.0.1"
    port = environ.get("PORT") or environ.get("FLASK_RUN_PORT") or "5000"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def configure(config, explicit: bool) -> None:
    """Check PUBLIC_URL, and accept requests for its host only (Flask's TRUSTED_HOSTS: others get 400).

    `explicit` is False when the address was derived in development; the loopback names stay accepted then.
    Extra hosts (a probe's own address) come from INTERNAL_HOSTS.
    """
    url = normalise(config.get("PUBLIC_URL") or "")
    if url is None:
        raise ValueError(INVALID)
    config["PUBLIC_URL"] = url
    hosts = [urlsplit(url).hostname]
    if not explicit:
        hosts += [name for name in DEVELOPMENT_HOSTS if name not in hosts]
    hosts += [name for name in (config.get("INTERNAL_HOSTS") or []) if name not in hosts]
    config["TRUSTED_HOSTS"] = hosts


def public_url(config=None) -> str:
    """The platform's public address, without a trailing slash."""
    return (config if config is not None else current_app.config)["PUBLIC_URL"]


def absolute(path: str, config=None) -> str:
    """The absolute link of a path of the platform (`/mot-de-passe/…`), on PUBLIC_URL."""
    return public_url(config) + "/" + path.lstrip("/")
