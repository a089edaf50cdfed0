"""Process uploads are hostile: a zip is bounded in entries and uncompressed size, and its names are
checked (no traversal, no absolute path, only *.bpmn at the root and forms/*.json, no symbolic link)."""
from __future__ import annotations

import io
import stat
import zipfile

import pytest
from werkzeug.datastructures import FileStorage

from web.owners import uploads
from web.owners.uploads import UploadRefused, read_upload

BPMN = b'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>'


def _zip(entries, name="processus.zip") -> FileStorage:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry, content in entries:
            archive.writestr(entry, content)
    return FileStorage(io.BytesIO(buffer.getvalue()), filename=name)


def _read(*files):
    return read_upload(list(files), 1024 * 1024)


def test_a_zip_brings_the_bpmn_with_its_forms():
    upload = _read(_zip([("processus.bpmn", BPMN), ("forms/", b""), ("forms/p5-bilan.schema.json", b'{"type": "object"}')]))
    assert upload.filename == "processus.bpmn" and upload.xml.startswith("<?xml")
    assert upload.forms == {"p5-bilan.schema.json": {"type": "object"}}


def test_several_files_bring_the_bpmn_with_its_forms():
    upload = _read(FileStorage(io.BytesIO(BPMN), filename="v3.bpmn"),
                   FileStorage(io.BytesIO(b'{"type": "object"}'), filename="p5-bilan.schema.json"))
    assert upload.filename == "v3.bpmn" and list(upload.forms) == ["p5-bilan.schema.json"]


@pytest.mark.parametrize("entry, message", [
    ("../processus.bpmn", "sort du dossier"),
    ("forms/../../etc/passwd.json", "sort du dossier"),
    ("/etc/processus.bpmn", "chemin absolu"),
    ("C:/processus.bpmn", "chemin absolu"),
    ("forms\\p5.json", "chemin absolu"),
    ("script.sh", "ni un fichier .bpmn"),
    ("sous/processus.bpmn", "ni un fichier .bpmn"),
    ("forms/sous/p5.json", "ni un fichier .bpmn"),
])
def test_zip_names_outside_the_layout_are_refused(entry, message):
    with pytest.raises(UploadRefused, match=message):
        _read(_zip([("processus.bpmn", BPMN), (entry, b"{}")]))


def test_a_symbolic_link_in_a_zip_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("processus.bpmn", BPMN)
        link = zipfile.ZipInfo("forms/lien.json")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UploadRefused, match="lien symbolique"):
        _read(FileStorage(io.BytesIO(buffer.getvalue()), filename="p.zip"))


def test_too_many_entries_are_refused():
    entries = [("processus.bpmn", BPMN)] + [(f"forms/f{i}.json", b"{}") for i in range(uploads.MAX_ENTRIES)]
    with pytest.raises(UploadRefused, match="entrées"):
        _read(_zip(entries))


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    bomb = _zip([("processus.bpmn", BPMN), ("forms/bombe.json", b"0" * (uploads.MAX_TOTAL_BYTES + 1))])
    assert len(bomb.stream.getvalue()) < 64 * 1024  # a small upload that would inflate past the bound
    with pytest.raises(UploadRefused, match="décompressée"):
        _read(bomb)


def test_a_zip_that_lies_about_its_sizes_is_still_bounded(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_TOTAL_BYTES", 1000)  # declared sizes pass, the bytes read do not
    archive = _zip([("processus.bpmn", BPMN), ("forms/a.json", b" " * 600), ("forms/b.json", b" " * 600)])
    with pytest.raises(UploadRefused, match="décompressée"):
        _read(archive)


@pytest.mark.parametrize("files, message", [
    ([FileStorage(io.BytesIO(b"PK\x03\x04garbage"), filename="p.zip")], "archive zip lisible"),
    ([FileStorage(io.BytesIO(b'{"a": 1}'), filename="f.json")], "aucun fichier BPMN"),
    ([FileStorage(io.BytesIO(BPMN), filename="a.bpmn"), FileStorage(io.BytesIO(BPMN), filename="b.bpmn")], "Un seul"),
    ([FileStorage(io.BytesIO(BPMN), filename="a.bpmn"), FileStorage(io.BytesIO(b"[1]"), filename="f.json")],
     "objet JSON"),
    ([FileStorage(io.BytesIO(BPMN), filename="a.bpmn"), FileStorage(io.BytesIO(b"{nope"), filename="f.json")],
     "JSON lisible"),
    ([FileStorage(io.BytesIO(BPMN), filename="a.exe")], "ni un fichier BPMN"),
    ([FileStorage(io.BytesIO("é".encode("latin-1")), filename="a.bpmn")], "UTF-8"),
])
def test_unreadable_uploads_are_refused_in_french(files, message):
    with pytest.raises(UploadRefused, match=message):
        _read(*files)
