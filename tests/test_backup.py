"""Backups with a restore drill: `flask sauvegarde` taken while commands run restores (`flask restauration`) into an
empty database and store where every dossier and attachment verifies, with the counts of the backup's snapshot;
a non-empty target and an altered archive are refused."""
from __future__ import annotations

import io
import json
import tarfile
import threading
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from app import create_app
from cli import scenarios
from cases import journal
from conftest import PG_SERVER
from models import Dossier, JournalEntry, User, db
from test_web_support import ACSS


def _traffic(app, clock, stop: threading.Event, made: list, errors: list) -> None:
    """Declarations opened and files attached, one after the other, until told to stop."""
    with app.app_context():
        analyst = db.session.scalar(select(User).where(User.email == ACSS))
        while not stop.is_set():
            try:
                dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")
                journal.add_attachment(dossier, user=analyst, stream=io.BytesIO(f"rapport {uuid.uuid4()}".encode()),
                                       filename="rapport.txt", comment="Journal du pare-feu")
                made.append(dossier.number)
            except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
                errors.append(repr(exc))
                db.session.rollback()
                return
        db.session.remove()


def _target(backend: str, tmp_path: Path, name: str) -> tuple[str, callable]:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.db')}", lambda: None
    database = f"signalement_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    return f"{PG_SERVER}/{database}", drop


def _restore(url: str, store: Path, archive: Path):
    restored = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "t",
                           "SCHEDULER_ENABLED": False, "ATTACHMENTS_DIR": str(store)})
    with restored.app_context():  # the command runs on this app, not on the test's (whose context is pushed)
        result = restored.test_cli_runner().invoke(args=["restauration", str(archive)])
        db.session.remove()
        db.engine.dispose()
    return restored, result


def test_a_backup_taken_during_traffic_restores_and_verifies(app, clock, runner, backend, tmp_path):
    stop, made, errors = threading.Event(), [], []
    worker = threading.Thread(target=_traffic, args=(app, clock, stop, made, errors))
    worker.start()
    try:
        while len(made) < 2 and not errors:
            stop.wait(0.05)
        before = len(made)
        archive = tmp_path / "sauvegarde.tar.gz"
        taken = runner.invoke(args=["sauvegarde", str(archive)])
        after_backup = len(made)
        while len(made) < after_backup + 2 and not errors:
            stop.wait(0.05)
    finally:
        stop.set()
        worker.join(120)
    assert errors == [] and taken.exit_code == 0, (errors, taken.output)
    assert "Sauvegarde écrite" in taken.output
    with tarfile.open(archive) as opened:
        manifest = json.load(opened.extractfile("manifest.json"))
        names = set(opened.getnames())
    snapshot = manifest["nombres_au_cliche"]
    total_now = db.session.scalar(select(func.count()).select_from(Dossier))
    # The snapshot is a moment of the traffic: not before the dossiers made before it, not after the later ones.
    assert snapshot["dossiers"] < total_now and snapshot["pieces_jointes"] >= before
    assert set(manifest["fichiers"]) <= names and manifest["base_fichier"] in names

    url, drop = _target(backend, tmp_path, "restauree")
    store = tmp_path / "pieces-restaurees"
    try:
        restored, result = _restore(url, store, archive)
        assert result.exit_code == 0, result.output
        assert "Restauration vérifiée" in result.output and "identiques au cliché" in result.output
        with restored.app_context():
            assert db.session.scalar(select(func.count()).select_from(Dossier)) == snapshot["dossiers"]
            files = db.session.scalars(select(JournalEntry.file_sha256).where(JournalEntry.file_sha256.is_not(None))).all()
            assert len(set(files)) == snapshot["pieces_jointes"] >= before
            assert all((store / sha[:2] / sha).is_file() for sha in files)
            audited = restored.test_cli_runner().invoke(args=["audit", "verify"])
            assert audited.exit_code == 0 and "aucune différence" in audited.output, audited.output
            db.session.remove()
            db.engine.dispose()

        # Restoring again: the target is not empty any more, nothing is touched.
        again = _restore(url, store, archive)[1]
        assert again.exit_code != 0 and "n'est pas vide" in again.output
    finally:
        drop()

    # An archive whose attachment was altered is refused before anything is written.
    altered = tmp_path / "alteree.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(altered, "w:gz") as out:
        victim = sorted(manifest["fichiers"])[0]
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name == victim:
                data = data + b" falsifie"
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    url, drop = _target(backend, tmp_path, "alteree")
    try:
        refused = _restore(url, tmp_path / "pieces-alterees", altered)[1]
        assert refused.exit_code != 0 and "Archive altérée" in refused.output, refused.output
    finally:
        drop()
