"""The test app served over real HTTP from a thread, on the address its links and trusted hosts follow (the
browser, fuzzing and raw-socket tests)."""
from __future__ import annotations

import contextlib
import threading

from werkzeug.serving import make_server

from mail import links


@contextlib.contextmanager
def served(app, wsgi=None):
    """Serve `wsgi` (the app itself by default) on 127.0.0.1 and a free port; yields (host, port). The app's
    PUBLIC_URL becomes that address (its trusted host), the test client's `localhost` staying accepted."""
    server = make_server("127.0.0.1", 0, wsgi or app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
    app.config["INTERNAL_HOSTS"] = ["localhost"]
    links.configure(app.config, explicit=True)
    try:
        yield "127.0.0.1", server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=5)
