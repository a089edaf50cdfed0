"""Web layer: blueprints for the inbox, the declaration portal, dossiers, audit, processes and API."""
from pathlib import Path

from flask import abort, send_from_directory

from web import audit, outbox

VENDOR = {"bpmn-js": Path(__file__).resolve().parent.parent / "node_modules" / "bpmn-js" / "dist"}


def init_app(app):
    """Register the blueprints and error pages."""
    for blueprint in (outbox.bp, audit.bp):
        app.register_blueprint(blueprint)

    @app.route("/vendor/<package>/<path:filename>")
    def vendor(package, filename):
        """Front-end packages installed from the npm registry by the setup command (never committed)."""
        folder = VENDOR.get(package)
        if folder is None or not folder.is_dir():
            abort(404)
        return send_from_directory(folder, filename, max_age=86400)
