"""Gunicorn settings of the production shape (scripts/serve); every value comes from the environment."""
import os

bind = os.environ.get("BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# The app is built once in the master and forked: workers start (and restart after a crash) in milliseconds.
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = None          # the application writes one JSON line per request, with its request id
errorlog = "-"
# Forwarded headers are trusted in one place only: the application's TRUSTED_PROXIES (werkzeug's ProxyFix).
secure_scheme_headers = {}
forwarded_allow_ips = "127.0.0.1"


def post_fork(server, worker):
    """Each worker opens its own database connections: none may be shared with the master across fork."""
    app = server.app.wsgi()
    with app.app_context():
        from models import db
        db.engine.dispose(close=False)
