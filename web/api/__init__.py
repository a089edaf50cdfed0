"""The JSON API under /api/v1 (issue 12): bearer tokens bound to a user's role and scope, one visibility
model with the pages (web/access.py), `Idempotency-Key` on every POST, RFC 9457 problem details, and an
OpenAPI 3.1 document generated from the same declarations as the routes.

The journal of a dossier (notes, indicators) goes through cases/, like the fiche de suivi (web/api/journal.py).
"""
from web.api import declarations, dossiers, journal, openapi, outbox, pages, tasks  # noqa: F401  (registers the routes)
from web.api.spec import bp
from web.auth.security import csrf

blueprints = (bp, pages.bp)


def init_app(app):
    """Register the API and the token page; the token-authenticated API is exempt from the CSRF check
    (cookies do not authenticate it, so a forged cross-site request carries no credential)."""
    csrf.exempt(bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
