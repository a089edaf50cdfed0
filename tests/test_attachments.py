"""Attachments: size limit, type from content (allow-list), files named by hash outside the database,
downloads that are never rendered inline (planted HTML and SVG included), path traversal harmless."""
from __future__ import annotations

import io
import os

import pytest
from flask import Flask
from sqlalchemy import select

from cases import attachments
from cli import scenarios
from engine.errors import EngineError
from models import JournalEntry, db
from test_web_support import ACSS, DECLARANT, DECLARANT_METZ, login, post

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


@pytest.fixture
def bare(tmp_path):
    """An application context with only the attachment settings (no database needed)."""
    app = Flask(__name__)
    app.config.update(ATTACHMENTS_DIR=str(tmp_path / "pieces"), ATTACHMENT_MAX_BYTES=64 * 1024)
    with app.app_context():
        yield tmp_path


@pytest.mark.parametrize("name, content, served", [
    ("rapport.pdf", PDF, "application/pdf"),
    ("capture.PNG", PNG, "image/png"),
    ("photo.jpg", b"\xff\xd8\xff\xe0" + b"JFIF", "image/jpeg"),
    ("anim.gif", b"GIF89a" + b"\x00" * 8, "image/gif"),
    ("traces.zip", b"PK\x03\x04" + b"\x00" * 26, "application/zip"),
    ("Security.evtx", b"ElfFile\x00" + b"\x00" * 24, "application/octet-stream"),
    ("journal.log", "connexion refusée 10.0.0.1\n".encode(), "text/plain; charset=utf-8"),
    ("iocs.csv", b"type;valeur\nip;192.0.2.1\n", "text/csv; charset=utf-8"),
    ("message.eml", b"From: a@example.fr\nSubject: facture\n\ncorps", "message/rfc822"),
    # The content disagrees with the extension: kept, but only as opaque bytes.
    ("faux.pdf", HTML.replace(b"<!DOCTYPE html>", b"bonjour "), "application/octet-stream"),
    ("notes.txt", b"texte puis <script>alert(1)</script>", "application/octet-stream"),
    ("binaire.txt", b"\x00\x01\x02", "application/octet-stream"),
    ("image.png", PDF, "application/octet-stream"),
])
def test_type_comes_from_the_content(bare, name, content, served):
    stored = attachments.store(io.BytesIO(content), name)
    assert stored["content_type"] == served
    assert stored["size"] == len(content)
    path = attachments.path_of(stored["sha256"])
    assert path.read_bytes() == content and path.name == stored["sha256"]


@pytest.mark.parametrize("name, content", [
    ("page.html", HTML), ("page.HTM", b"hello"), ("dessin.svg", SVG), ("script.js", b"alert(1)"),
    ("sans-extension", HTML), ("programme.exe", b"MZ\x90\x00"), ("page.txt", HTML), ("dessin.csv", SVG),
])
def test_markup_and_unknown_types_are_refused(bare, name, content):
    with pytest.raises(EngineError) as refused:
        attachments.store(io.BytesIO(content), name)
    assert refused.value.status == 415 and "accepté" in refused.value.message
    assert not [p for p in (bare / "pieces").rglob("*") if p.is_file()]  # nothing left behind


def test_size_limit_and_empty_file(bare):
    with pytest.raises(EngineError) as refused:
        attachments.store(io.BytesIO(b"a" * (64 * 1024 + 1)), "gros.txt")
    assert refused.value.status == 413 and "trop volumineuse : au plus 64 Kio" in refused.value.message
    with pytest.raises(EngineError) as refused:
        attachments.store(io.BytesIO(b""), "vide.txt")
    assert refused.value.status == 400
    assert not [p for p in (bare / "pieces").rglob("*") if p.is_file()]


@pytest.mark.parametrize("raw, clean", [
    ("../../../etc/passwd.txt", "passwd.txt"), ("..\\..\\windows\\win.ini.txt", "win.ini.txt"),
    ("/tmp/x.pdf", "x.pdf"), ("..", "piece-jointe"), ("", "piece-jointe"), (".bashrc.txt", "bashrc.txt"),
    ("a\x00b\r\n.txt", "ab.txt"), ("é" * 300 + ".txt", "é" * 190 + ".txt"),
])
def test_file_names_are_never_paths(bare, raw, clean):
    assert attachments.clean_name(raw) == clean
    stored = attachments.store(io.BytesIO(b"contenu"), raw) if clean.endswith(".txt") else None
    if stored:
        assert attachments.path_of(stored["sha256"]).resolve().is_relative_to((bare / "pieces").resolve())
    for bad in ("../" + "a" * 62, "A" * 64, "x"):
        with pytest.raises(EngineError):
            attachments.path_of(bad)


def _upload(client, dossier_id, name, content, **extra):
    return post(client, f"/dossiers/{dossier_id}/journal/pieces",
                {"fichier": (io.BytesIO(content), name), **extra}, content_type="multipart/form-data")


def test_downloads_are_never_inline(client, app, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    login(client, ACSS)
    assert _upload(client, dossier.id, "../../rapport.pdf", PDF, commentaire="Rapport").status_code == 303
    # Planted HTML behind a text extension, and the same bytes behind .pdf: stored as opaque bytes.
    assert _upload(client, dossier.id, "lisez-moi.txt", b"note <html><script>alert(1)</script>").status_code == 303
    for name, content in (("piege.html", HTML), ("piege.svg", SVG)):
        response = _upload(client, dossier.id, name, content)
        assert response.status_code == 415 and "refusés" in response.text and "Traceback" not in response.text
    entries = db.session.scalars(select(JournalEntry).where(JournalEntry.dossier_id == dossier.id)
                                 .order_by(JournalEntry.id)).all()
    assert [(e.file_name, e.file_type) for e in entries] == [("rapport.pdf", "application/pdf"),
                                                             ("lisez-moi.txt", "application/octet-stream")]
    for entry, served in zip(entries, ("application/pdf", "application/octet-stream")):
        response = client.get(f"/dossiers/{dossier.id}/pieces/{entry.id}")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == served
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert os.path.isfile(attachments.path_of(entries[0].file_sha256))
    page = client.get(f"/dossiers/{dossier.id}").text
    assert "rapport.pdf" in page and "Rapport" in page
    # The declarant of the structure does not see the analysts' attachments; another structure sees nothing.
    for email in (DECLARANT_METZ, DECLARANT):
        login(client, email)
        assert client.get(f"/dossiers/{dossier.id}/pieces/{entries[0].id}").status_code == 404
    # A declarant's own attachment: shared with the analysts, removable by its author only.
    assert _upload(client, dossier.id, "capture.png", PNG).status_code == 303
    own = db.session.scalar(select(JournalEntry).where(JournalEntry.file_name == "capture.png"))
    assert client.get(f"/dossiers/{dossier.id}/pieces/{own.id}").status_code == 200
    response = post(client, f"/dossiers/{dossier.id}/journal/retirer", {"cible": "entree", "id": str(own.id)})
    assert response.status_code == 303
    assert client.get(f"/dossiers/{dossier.id}/pieces/{own.id}").status_code == 404  # retiré: no longer served


def test_upload_size_limits(client, app, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    app.config["ATTACHMENT_MAX_BYTES"] = 2 * 1024 * 1024
    login(client, ACSS)
    # Above the page's 1 MiB form limit but within the attachment limit: accepted.
    assert _upload(client, dossier.id, "gros.pdf", PDF + b"0" * (1536 * 1024)).status_code == 303
    response = _upload(client, dossier.id, "trop.pdf", PDF + b"0" * (2 * 1024 * 1024))
    assert response.status_code == 413 and "trop volumineuse" in response.text
    response = _upload(client, dossier.id, "enorme.pdf", PDF + b"0" * (3 * 1024 * 1024))
    assert response.status_code == 413 and "Traceback" not in response.text
    assert _upload(client, dossier.id, "", b"").status_code == 400
    assert len(db.session.scalars(select(JournalEntry)).all()) == 1
