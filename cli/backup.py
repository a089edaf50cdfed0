"""`flask sauvegarde FICHIER` and `flask restauration FICHIER`: the database and the attachment store in one
archive, and its restore drill.

The archive (tar.gz) holds `manifest.json`, the database dump and the attachment files, each with its SHA-256
in the manifest. The database is dumped first, as one consistent snapshot: `pg_dump` on PostgreSQL, run on a
snapshot exported by a REPEATABLE READ transaction in which the manifest's counts are taken too; SQLite's
online backup API on SQLite, the counts read from the copy. Attachments are content-addressed and written
before the commit that refers to them, so every file the snapshot names is in the store when it is copied
afterwards (later files may come along; they are harmless).

The restore refuses a database with any table or a store with any file, loads the dump, copies the files
after checking their hashes, then verifies every dossier (hash chain, full replay, journal rows against the
chain, attachment hashes: `flask audit verify`'s checks) and that every attachment named by the journal is
there with its content, and compares the counts with the manifest's.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import create_engine, func, inspect, select, text

import migrate
from audit import verifier
from cases import attachments
from models import AuditEvent, Dossier, JournalEntry, OutboxMessage, ProcessInstance, Timer, User, db
from referentiel import plural

FORMAT = 1
CHUNK = 1024 * 1024
ATTACHMENT = re.compile(r"attachments/([0-9a-f]{2})/([0-9a-f]{64})")
COUNTED = {"dossiers": Dossier, "instances": ProcessInstance, "evenements_audit": AuditEvent,
           "entrees_journal": JournalEntry, "minuteurs": Timer, "messages": OutboxMessage, "comptes": User}


def init_app(app):
    """Register the two commands."""
    app.cli.add_command(backup)
    app.cli.add_command(restore)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _counts(connection) -> dict[str, int]:
    counts = {name: connection.execute(select(func.count()).select_from(model)).scalar() or 0
              for name, model in COUNTED.items()}
    counts["pieces_jointes"] = connection.execute(select(func.count(func.distinct(JournalEntry.file_sha256)))
                                                  .where(JournalEntry.file_sha256.is_not(None))).scalar() or 0
    return counts


def _libpq(url) -> tuple[str, dict]:
    """A libpq address (password moved to PGPASSWORD, never on a command line) and the environment."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _check_pg_tool(tool: str, connection) -> None:
    """The client tool exists and is at least the server's major version (pg_dump refuses newer servers)."""
    if shutil.which(tool) is None:
        raise click.ClickException(f"{tool} introuvable : installez le client PostgreSQL (paquet postgresql-client).")
    found = re.search(r"(\d+)", subprocess.run([tool, "--version"], capture_output=True, text=True).stdout)
    server = int(connection.execute(text("SHOW server_version_num")).scalar()) // 10000
    if not found or int(found.group(1)) < server:
        raise click.ClickException(f"{tool} {found.group(1) if found else '?'} est plus ancien que le serveur "
                                   f"PostgreSQL {server} : installez le client de la même version.")


def _dump_postgresql(url, target: Path) -> dict:
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as connection:
            _check_pg_tool("pg_dump", connection)
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar()
            counts = _counts(connection)  # in the very snapshot pg_dump reads
            address, env = _libpq(url)
            done = subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                                   f"--snapshot={snapshot}", f"--file={target}", f"--dbname={address}"],
                                  env=env, capture_output=True, text=True)
            connection.rollback()
    finally:
        engine.dispose()
    if done.returncode:
        raise click.ClickException(f"pg_dump a échoué : {done.stderr.strip()[:1000]}")
    return counts


def _dump_sqlite(url, target: Path) -> dict:
    source = sqlite3.connect(url.database, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one step: a consistent snapshot even while other connections write
    finally:
        source.close()
        copy.close()
    engine = create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as connection:
            return _counts(connection)
    finally:
        engine.dispose()


@click.command("sauvegarde")
@click.argument("fichier", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def backup(fichier):
    """Write one archive: a consistent database dump, the attachment store and a manifest of SHA-256 hashes."""
    url = db.engine.url  # as Flask-SQLAlchemy resolved it (a relative SQLite path is in the instance folder)
    target = Path(fichier)
    with tempfile.TemporaryDirectory(prefix="sauvegarde-") as work:
        work = Path(work)
        if url.get_backend_name() == "postgresql":
            dump = work / "database.pgdump"
            counts = _dump_postgresql(url, dump)
        elif url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            dump = work / "database.sqlite3"
            counts = _dump_sqlite(url, dump)
        else:
            raise click.ClickException(f"Base non prise en charge pour la sauvegarde : {url.get_backend_name()}.")
        store = attachments.folder()
        files = {}
        for path in sorted(store.glob("??/*")):  # after the snapshot: every file it names is already there
            name = f"attachments/{path.parent.name}/{path.name}"
            if ATTACHMENT.fullmatch(name) and path.is_file():
                files[name] = _sha256_file(path)
        manifest = {"format": FORMAT, "cree_le": datetime.now(timezone.utc).isoformat(),
                    "base": url.get_backend_name(), "migrations": sorted(migrate.head_revisions()),
                    "base_fichier": dump.name, "base_sha256": _sha256_file(dump), "nombres_au_cliche": counts,
                    "fichiers": files}
        partial = target.with_name(f".{target.name}.partiel")
        with tarfile.open(partial, "w:gz") as archive:
            data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            archive.add(dump, dump.name)
            for name in files:
                archive.add(store / name.split("/", 1)[1], name)
        os.replace(partial, target)  # a complete archive or none
    click.echo(f"Sauvegarde écrite : {target} ({plural(counts['dossiers'], 'dossier')}, "
               f"{plural(len(files), 'fichier joint', 'fichiers joints')}).")


def _read_manifest(archive: tarfile.TarFile) -> dict:
    try:
        manifest = json.load(archive.extractfile("manifest.json"))
    except (KeyError, ValueError, AttributeError, TypeError):
        raise click.ClickException("Archive illisible : manifest.json absent ou invalide.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or manifest.get("base_fichier") not in ("database.pgdump", "database.sqlite3") \
            or not isinstance(manifest.get("fichiers"), dict) \
            or not all(isinstance(n, str) and ATTACHMENT.fullmatch(n) for n in manifest["fichiers"]):
        raise click.ClickException("Archive refusée : manifeste d'un format inconnu ou chemins inattendus.")
    return manifest


def _extract_checked(archive: tarfile.TarFile, name: str, sha256: str, target: Path) -> None:
    """Copy one member to `target` only if its content has the manifest's hash (no path from the archive)."""
    try:
        member = archive.getmember(name)
    except KeyError:
        member = None
    if member is None or not member.isfile():
        raise click.ClickException(f"Archive incomplète : {name} manque.")
    digest = hashlib.sha256()
    partial = target.with_name(target.name + ".partiel")
    target.parent.mkdir(parents=True, exist_ok=True)
    with archive.extractfile(member) as source, partial.open("wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise click.ClickException(f"Archive altérée : le contenu de {name} ne correspond pas à son empreinte.")
    os.replace(partial, target)


def _member_sha256(archive: tarfile.TarFile, name: str) -> str | None:
    try:
        member = archive.getmember(name)
    except KeyError:
        return None
    if not member.isfile():
        return None
    digest = hashlib.sha256()
    with archive.extractfile(member) as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _refuse_non_empty(url, store: Path) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = inspect(connection).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise click.ClickException(f"La base cible n'est pas vide ({plural(len(tables), 'table')}) : la "
                                   "restauration se fait dans une base vide, rien n'a été modifié.")
    if store.exists() and any(store.iterdir()):
        raise click.ClickException(f"Le dossier des pièces jointes {store} n'est pas vide : la restauration se fait "
                                   "dans un dossier vide, rien n'a été modifié.")


def _missing_attachments() -> list[str]:
    problems = []
    for sha256 in db.session.scalars(select(JournalEntry.file_sha256).where(JournalEntry.file_sha256.is_not(None))
                                     .distinct()):
        path = attachments.path_of(sha256)
        if not path.is_file():
            problems.append(f"pièce jointe {sha256[:12]}… absente")
        elif _sha256_file(path) != sha256:
            problems.append(f"pièce jointe {sha256[:12]}… altérée")
    return problems


@click.command("restauration")
@click.argument("fichier", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def restore(fichier):
    """Restore an archive into an EMPTY database and attachment store, then verify every dossier and attachment."""
    url = db.engine.url  # as Flask-SQLAlchemy resolved it (a relative SQLite path is in the instance folder)
    store = Path(current_app.config.get("ATTACHMENTS_DIR") or Path(current_app.instance_path) / "attachments")
    try:
        archive = tarfile.open(fichier, "r:gz")
    except (tarfile.TarError, OSError):
        raise click.ClickException("Archive illisible : une sauvegarde tar.gz de `flask sauvegarde` est attendue.")
    with archive, tempfile.TemporaryDirectory(prefix="restauration-") as work:
        manifest = _read_manifest(archive)
        if manifest["base"] != url.get_backend_name():
            raise click.ClickException(f"Cette sauvegarde vient d'une base {manifest['base']} ; la cible est "
                                       f"{url.get_backend_name()}.")
        _refuse_non_empty(url, store)
        dump = Path(work) / manifest["base_fichier"]
        _extract_checked(archive, manifest["base_fichier"], manifest["base_sha256"], dump)
        for name, sha256 in manifest["fichiers"].items():  # every file checked before anything is written
            if name.rsplit("/", 1)[1] != sha256 or _member_sha256(archive, name) != sha256:
                raise click.ClickException(f"Archive altérée : le contenu de {name} ne correspond pas à son "
                                           "empreinte ; rien n'a été restauré.")
        db.engine.dispose()
        if url.get_backend_name() == "postgresql":
            with create_engine(url).connect() as connection:
                _check_pg_tool("pg_restore", connection)
            address, env = _libpq(url)
            done = subprocess.run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                                   f"--dbname={address}", str(dump)], env=env, capture_output=True, text=True)
            if done.returncode:
                raise click.ClickException(f"pg_restore a échoué : {done.stderr.strip()[:1000]}")
        else:
            for side in ("-wal", "-shm", "-journal"):  # an empty database's own files must not meet the copy
                Path(url.database + side).unlink(missing_ok=True)
            shutil.copyfile(dump, url.database)
        for name, sha256 in manifest["fichiers"].items():
            _extract_checked(archive, name, sha256, store / name.split("/", 1)[1])
    db.engine.dispose()
    _verify_restored(manifest)


def _verify_restored(manifest: dict) -> None:
    failures = [result.message for result in verifier.verify_all(full=True) if not result.ok]
    failures += _missing_attachments()
    with db.engine.connect() as connection:
        counts = _counts(connection)
    expected = manifest.get("nombres_au_cliche") or {}
    failures += [f"{name} : {counts.get(name)} restaurés, {value} au cliché" for name, value in expected.items()
                 if counts.get(name) != value]
    for failure in failures:
        click.echo(failure)
    if failures:
        raise click.ClickException(f"Restauration faite mais la vérification a trouvé "
                                   f"{plural(len(failures), 'différence')}.")
    click.echo(f"Restauration vérifiée : {plural(counts['dossiers'], 'dossier')} (chaîne d'audit, rejeu et journal), "
               f"{plural(counts['pieces_jointes'], 'pièce jointe vérifiée', 'pièces jointes vérifiées')}, comptes "
               "identiques au cliché de la sauvegarde.")
