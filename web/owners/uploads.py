"""Reading a process upload: one BPMN file and its forms, as several files or one zip archive.

Everything uploaded is hostile. A zip is read from memory with bounds on its entries, on the total
uncompressed size (zip bombs) and on each name: only `*.bpmn` at the root and `forms/*.json`, no
absolute path, no `..`, no backslash, no symbolic link, no encrypted entry. Nothing is written to disk.
"""
from __future__ import annotations

import io
import json
import re
import stat
import zipfile
from dataclasses import dataclass, field

from engine import parsing

MAX_ENTRIES = 200
MAX_TOTAL_BYTES = 4 * 1024 * 1024          # uncompressed, all entries together
MAX_FORM_BYTES = 256 * 1024
FORM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.json$")
BPMN_NAME = re.compile(r"^[^/\\\x00]{1,120}\.bpmn$")


class UploadRefused(ValueError):
    """An upload that cannot be read; the message is French and names the file."""


@dataclass
class Upload:
    """The BPMN text and the forms ({file name: JSON}) read from an upload."""

    filename: str = ""
    xml: str = ""
    forms: dict = field(default_factory=dict)


def base_name(filename: str) -> str:
    """The uploaded file's base name, for messages (never used as a path)."""
    return (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:120] or "processus.bpmn"


def _add_bpmn(upload: Upload, name: str, data: bytes) -> None:
    if upload.xml:
        raise UploadRefused(f"Un seul fichier BPMN par dépôt : « {upload.filename} » et « {name} » ont été envoyés.")
    if len(data) > parsing.MAX_BPMN_BYTES:
        raise UploadRefused(f"« {name} » est trop volumineux ({parsing.MAX_BPMN_BYTES // 1024} Kio au plus).")
    try:
        upload.xml = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRefused(f"« {name} » doit être encodé en UTF-8.") from None
    upload.filename = name


def _add_form(upload: Upload, name: str, data: bytes) -> None:
    if not FORM_NAME.match(name):
        raise UploadRefused(f"Nom de formulaire refusé : « {name[:80]} » (lettres, chiffres, « - », « _ », « . », "
                            "extension .json).")
    if len(data) > MAX_FORM_BYTES:
        raise UploadRefused(f"Le formulaire « {name} » est trop volumineux ({MAX_FORM_BYTES // 1024} Kio au plus).")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UploadRefused(f"Le formulaire « {name} » n'est pas du JSON lisible ({exc.__class__.__name__}).") from None
    if not isinstance(value, dict):
        raise UploadRefused(f"Le formulaire « {name} » doit être un objet JSON.")
    upload.forms[name] = value


def _check_entry(info: zipfile.ZipInfo) -> str | None:
    """The kind of a zip entry (bpmn, form, dir), or UploadRefused for a name or type not allowed."""
    name = info.filename
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\x00" in name:
        raise UploadRefused(f"Archive refusée : chemin absolu ou invalide « {name[:80]} ».")
    if any(part in ("..", ".") for part in name.split("/")):
        raise UploadRefused(f"Archive refusée : « {name[:80]} » sort du dossier de l'archive.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadRefused(f"Archive refusée : « {name[:80]} » est un lien symbolique.")
    if info.flag_bits & 0x1:
        raise UploadRefused(f"Archive refusée : « {name[:80]} » est chiffré.")
    if name in ("forms/",):
        return "dir"
    if BPMN_NAME.match(name) and "/" not in name:
        return "bpmn"
    if name.startswith("forms/") and FORM_NAME.match(name[len("forms/"):]):
        return "form"
    raise UploadRefused(f"Archive refusée : « {name[:80]} » n'est ni un fichier .bpmn à la racine ni un "
                        "formulaire forms/*.json.")


def _read_zip(upload: Upload, name: str, data: bytes) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UploadRefused(f"« {name} » n'est pas une archive zip lisible.") from None
    if len(entries) > MAX_ENTRIES:
        raise UploadRefused(f"Archive refusée : {len(entries)} entrées ({MAX_ENTRIES} au plus).")
    kinds = [_check_entry(info) for info in entries]  # every name is checked before anything is read
    if sum(info.file_size for info in entries) > MAX_TOTAL_BYTES:
        raise UploadRefused(f"Archive refusée : plus de {MAX_TOTAL_BYTES // (1024 * 1024)} Mio une fois décompressée.")
    spent = 0
    for info, kind in zip(entries, kinds):
        if kind == "dir":
            continue
        try:
            with archive.open(info) as handle:
                # The declared sizes can lie: read at most what is left of the budget, plus one byte.
                content = handle.read(MAX_TOTAL_BYTES - spent + 1)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError):
            raise UploadRefused(f"Archive refusée : « {info.filename[:80]} » est illisible.") from None
        spent += len(content)
        if spent > MAX_TOTAL_BYTES:
            raise UploadRefused(f"Archive refusée : plus de {MAX_TOTAL_BYTES // (1024 * 1024)} Mio une fois décompressée.")
        if kind == "bpmn":
            _add_bpmn(upload, info.filename, content)
        else:
            _add_form(upload, info.filename[len("forms/"):], content)


def read_upload(files: list, max_bytes: int) -> Upload:
    """The BPMN and forms of uploaded files (.bpmn or .xml, .json, .zip); UploadRefused otherwise."""
    upload = Upload()
    for storage in files:
        name = base_name(storage.filename)
        data = storage.read(max_bytes + 1)
        lower = name.lower()
        if lower.endswith(".zip"):
            _read_zip(upload, name, data)
        elif lower.endswith((".bpmn", ".xml")):
            _add_bpmn(upload, name, data)
        elif lower.endswith(".json"):
            _add_form(upload, name, data)
        else:
            raise UploadRefused(f"« {name} » n'est ni un fichier BPMN, ni un formulaire JSON, ni une archive zip.")
    if not upload.xml:
        raise UploadRefused("Le dépôt ne contient aucun fichier BPMN (.bpmn).")
    return upload
