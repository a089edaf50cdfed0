"""Administration of the outbox (filled in by the time-and-mail work)."""
from flask import Blueprint

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")
