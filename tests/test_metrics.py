"""`/metrics` under scripts/serve (gunicorn's workers in Prometheus multiprocess mode, the scheduler apart): the
Prometheus text format with requests by route and status, latency histograms, commands and their durations, queue
depths, scheduler lag and failed work, summed over the workers; refused (403) to an address not configured or a
wrong token."""
from __future__ import annotations

import socket
import uuid

from prometheus_client.parser import text_string_to_metric_families

from cli import scenarios
from production_support import Browser, Shape
from test_production import _finess, database  # noqa: F401 - the module's database fixture (both backends)
from test_web_support import DECLARANT, PASSWORD, form_data

TOKEN = "jeton-des-mesures-0123456789"


def _samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of an exposition."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _value(samples: dict, name: str, **labels) -> float:
    return sum(value for (found, keys), value in samples.items()
               if found == name and set(labels.items()) <= set(keys))


def test_metrics_sum_the_workers_and_refuse_strangers(database, tmp_path):  # noqa: F811
    folder = tmp_path / "mesures"
    shape = Shape(database[1], tmp_path, METRICS_ALLOWED_IPS="10.9.8.7/32", METRICS_TOKEN=TOKEN,
                  PROMETHEUS_MULTIPROC_DIR=str(folder))
    try:
        shape.wait_ready()
        anonymous = Browser(shape.port)
        # Not from an allowed address, no token or a wrong one: 403, and nothing of the measures leaks.
        for headers in ({}, {"Authorization": "Bearer faux"}, {"Authorization": TOKEN}):
            refused = anonymous.get("/metrics", headers=headers)
            assert refused.status == 403 and "signalement_" not in refused.text, headers
        before = _samples(anonymous.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
        # One worker is kept waiting for the end of a request's headers, so the others must serve the next ones:
        # the measures are then spread over several workers whatever the kernel's choice of who accepts.
        held = socket.create_connection(("127.0.0.1", shape.port), timeout=30)
        held.sendall(f"GET /sante HTTP/1.1\r\nHost: 127.0.0.1:{shape.port}\r\n".encode())
        liveness = 30
        for _ in range(liveness - 1):  # one connection each: the sync workers share them
            assert anonymous.get("/sante").status == 200
        held.sendall(b"Connection: close\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 200")
        held.close()
        assert anonymous.get("/adresse-qui-n-existe-pas").status == 404
        browser = Browser(shape.port)
        browser.login(DECLARANT, PASSWORD)
        sent = form_data(scenarios.PERIMETRE, idempotency_key=str(uuid.uuid4()), csrf_token=browser.token("/declarer"),
                         finess_site=_finess(database))
        assert browser.post("/declarer", sent).status in (302, 303)

        answer = anonymous.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = _samples(answer.text)
        # Every worker's counts, whichever worker answered: exactly the requests made, by endpoint, not path.
        counted = _value(samples, "signalement_http_requests_total", endpoint="platform.liveness", status="200") \
            - _value(before, "signalement_http_requests_total", endpoint="platform.liveness", status="200")
        assert counted == liveness
        assert _value(samples, "signalement_http_request_duration_seconds_count", endpoint="platform.liveness") \
            - _value(before, "signalement_http_request_duration_seconds_count", endpoint="platform.liveness") == liveness
        assert _value(samples, "signalement_http_request_duration_seconds_bucket", endpoint="platform.liveness",
                      le="+Inf") >= liveness
        assert _value(samples, "signalement_http_requests_total", status="404") >= 1
        assert not any("adresse-qui" in str(keys) for _, keys in samples)
        assert len({pid.name for pid in folder.glob("counter_*.db")}) >= 2  # the requests went to several workers
        # Commands (the declaration started a dossier and completed its first step) and their durations.
        assert _value(samples, "signalement_commands_total", command="start", outcome="ok") >= 1
        assert _value(samples, "signalement_commands_total", command="complete", outcome="ok") >= 1
        assert _value(samples, "signalement_command_duration_seconds_count", command="start") >= 1
        # Queues, scheduler lag (it sweeps every second here) and failed work, from the database.
        assert ("signalement_outbox_messages", frozenset({("status", "pending")})) in samples
        assert ("signalement_timers", frozenset({("state", "due")})) in samples
        assert 0 <= _value(samples, "signalement_scheduler_lag_seconds") < 30
        assert ("signalement_failed_work", frozenset({("kind", "minuteurs_abandonnes")})) in samples
        assert _value(samples, "signalement_database_up") == 1
    finally:
        assert shape.stop() == 0, shape.log.read_text()[-3000:]


def test_metrics_default_to_the_local_address(app, client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.10"}).status_code == 403
    client.get("/sante")
    client.open("/sante", method="INVENTEE-" + "X" * 50)
    local = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert local.status_code == 200
    assert 'signalement_http_requests_total{endpoint="platform.liveness",method="GET",status="200"}' in local.get_data(
        as_text=True)
    assert "INVENTEE" not in local.get_data(as_text=True) and 'method="AUTRE"' in local.get_data(as_text=True)
