"""Project tooling: BPMN lint, schema migrations, CLI commands, durability of accepted commands."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from lxml import etree
from sqlalchemy import create_engine, func, inspect, select

import migrate
from conftest import _fresh_database
from models import Dossier, db

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_TOOLS = os.environ.get("REQUIRE_TOOLS") == "1"
BPMN_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
           "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}


def _bpmnlint():
    binary = ROOT / "node_modules" / ".bin" / "bpmnlint"
    if binary.exists() and shutil.which("node"):
        return binary
    message = "bpmnlint absent (lancez `npm ci`) : le contrôle des fichiers BPMN est ignoré"
    if REQUIRE_TOOLS:
        pytest.fail(message)
    pytest.skip(message)


def test_every_process_file_passes_bpmnlint():
    binary = _bpmnlint()
    files = sorted(str(p) for p in (ROOT / "processes").glob("*.bpmn"))
    assert files
    result = subprocess.run([str(binary), *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bpmnlint_really_reports_errors(tmp_path):
    """The lint test above can fail: a gateway without a name is reported."""
    binary = _bpmnlint()
    source = (ROOT / "processes" / "signalement_incident_ssi.bpmn").read_text(encoding="utf-8")
    broken = tmp_path / "broken.bpmn"
    broken.write_text(source.replace('name="Hôpital des armées ?"', ""), encoding="utf-8")
    result = subprocess.run([str(binary), str(broken)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "label-required" in result.stdout


def test_process_has_full_diagram_interchange_and_lanes():
    tree = etree.parse(str(ROOT / "processes" / "signalement_incident_ssi.bpmn"))
    process = tree.find("bpmn:process", BPMN_NS)
    nodes = {el.get("id") for el in process if el.get("id") and not el.tag.endswith(("laneSet", "sequenceFlow",
                                                                                     "documentation"))}
    flows = {el.get("id") for el in process.findall("bpmn:sequenceFlow", BPMN_NS)}
    shapes = {el.get("bpmnElement") for el in tree.iterfind(".//bpmndi:BPMNShape", BPMN_NS)}
    edges = {el.get("bpmnElement") for el in tree.iterfind(".//bpmndi:BPMNEdge", BPMN_NS)}
    assert nodes <= shapes and flows <= edges
    lanes = {lane.get("name") for lane in tree.iterfind(".//bpmn:lane", BPMN_NS)}
    assert lanes == {"Déclarant (structure de santé)", "Ministère des armées", "ARS", "Cellule ACSS", "HFDS/FSSI",
                     "DGS"}
    laned = {ref.text for ref in tree.iterfind(".//bpmn:flowNodeRef", BPMN_NS)}
    groups = {el.get("id") for el in process.findall("bpmn:group", BPMN_NS)}
    assert nodes - groups == laned  # every flow element belongs to exactly one actor's lane (phases span lanes)


def test_migrations_match_the_models(app):
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []
    assert migrate.current_revision() is not None


def test_init_db_and_demo_commands(tmp_path):
    from app import create_app
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    application = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    runner = application.test_cli_runner()
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "processus déployé" in result.output
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0 and "8 structures, 21 utilisateurs" in result.output
    assert "Dossiers d'exemple à différentes étapes : SSI-" in result.output  # a new install shows work
    result = runner.invoke(args=["demo"])  # idempotent
    assert "0 structure, 0 utilisateur" in result.output
    with application.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert {"dossiers", "audit_events", "outbox", "timers", "tasks"} <= tables
        states = set(db.session.scalars(select(Dossier.state)))
        assert {"en attente de qualification", "déclaré", "à traiter", "clôturé"} <= states
        assert all(d.created_at < application.extensions["clock"].now() for d in db.session.scalars(select(Dossier)))
        db.engine.dispose()


def test_scenario_command_prints_each_step(runner, app):
    result = runner.invoke(args=["scenario", "b1"])
    assert result.exit_code == 0, result.output
    assert "Qualifier l'incident (tâche A)" in result.output
    assert "état : « clôturé »" in result.output and "message : b1_sans_suite" in result.output
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 1
    result = runner.invoke(args=["scenario", "inexistant"])
    assert result.exit_code != 0 and "scénario inconnu" in result.output


CRASH_SCRIPT = r"""
import sys
sys.path.insert(0, {root!r})
from app import create_app
import migrate
from cli import demo
from workflow import commands
from workflow import context
from workflow import deployment
from models import Structure, User, db
app = create_app({{"TESTING": True, "SQLALCHEMY_DATABASE_URI": {url!r}}})
with app.app_context():
    migrate.upgrade()
    deployment.deploy(app.config["PROCESS_FILE"])
    demo.load_demo("x")
    user = db.session.query(User).filter_by(role="declarant").first()
    structure = db.session.get(Structure, user.structure_id)
    dossier = commands.start_dossier(structure, user, context.Actor.of(user))
    print("ACCEPTED", dossier.number, flush=True)
    import time
    time.sleep(60)
"""


def test_an_accepted_command_survives_a_kill(tmp_path, database_template):
    """Kill -9 right after the command returned: the dossier is there when the database is reopened."""
    backend, where = database_template
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
    else:
        url = _fresh_database(database_template, tmp_path)  # the session's database, emptied
    process = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT.format(root=str(ROOT), url=url)],
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    assert line.startswith("ACCEPTED"), line
    number = line.split()[1]
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.execute(select(Dossier.number, Dossier.state).where(Dossier.number == number)).one()
    engine.dispose()
    assert found == (number, "en cours de déclaration")


def test_cli_errors_are_clear(runner, app, tmp_path):
    broken = tmp_path / "broken.bpmn"
    broken.write_text("pas du XML", encoding="utf-8")
    result = runner.invoke(args=["deploy", str(broken)])
    assert result.exit_code != 0 and "Le fichier BPMN est invalide" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(args=["deploy", str(tmp_path / "absent.bpmn")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    result = runner.invoke(args=["migrate-dossier", "SSI-1999-00001"])
    assert result.exit_code != 0 and "Dossier inconnu" in result.output
