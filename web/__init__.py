"""Web layer: blueprints for the inbox, the declaration portal, dossiers, audit, processes and API."""


def init_app(app):
    """Register the blueprints and error pages."""
