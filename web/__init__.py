"""Web layer: blueprints for the inbox, the declaration portal, dossiers, audit, processes and API."""
from web import audit, outbox


def init_app(app):
    """Register the blueprints and error pages."""
    for blueprint in (outbox.bp, audit.bp):
        app.register_blueprint(blueprint)
