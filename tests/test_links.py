"""web.link_to: one url_for per list, the same address as url_for gives for every value."""
from __future__ import annotations

import uuid

from flask import url_for

from web import link_to


def test_a_link_is_the_address_url_for_gives(app):
    with app.test_request_context():
        dossier, task = link_to("dossiers.show", "dossier_id"), link_to("tasks.task", "task_id")
        assert dossier(42) == url_for("dossiers.show", dossier_id=42) == "/dossiers/42"
        some = str(uuid.uuid4())
        assert task(some) == url_for("tasks.task", task_id=some)
        for hostile in ("a/b c?d#e", "../admin", "é%2F", "x\"><script>", ""):
            assert task(hostile) == url_for("tasks.task", task_id=hostile), hostile
