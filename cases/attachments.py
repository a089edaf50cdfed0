"""Attachment files: stored outside the database, named by their SHA-256, typed from their content.

The folder is `ATTACHMENTS_DIR` (default: `attachments/` in the instance folder); `ATTACHMENT_MAX_BYTES`
bounds one file (default 20 MiB). The type comes from the bytes (magic numbers, or plain text for the
text kinds) against an allow-list: markup (.html, .svg, .xml…) is refused, and a file whose content
disagrees with its extension is kept as application/octet-stream. Files are only ever served as
downloads (web/casework/journal.py), never rendered inline. A file written for a transaction that then fails
stays unreferenced: harmless, its name is its content's hash.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path

from flask import current_app

from engine.errors import EngineError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
CHUNK = 64 * 1024
OCTET_STREAM = "application/octet-stream"
# extension -> (served type, content check): magic prefixes, or "text" for readable text without markup.
ALLOWED = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "zip": ("application/zip", (b"PK\x03\x04", b"PK\x05\x06")),
    "7z": ("application/x-7z-compressed", (b"7z\xbc\xaf\x27\x1c",)),
    "gz": ("application/gzip", (b"\x1f\x8b",)),
    "evtx": ("application/octet-stream", (b"ElfFile\x00",)),
    "pcap": ("application/vnd.tcpdump.pcap", (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")),
    "pcapng": ("application/octet-stream", (b"\x0a\x0d\x0d\x0a",)),
    "txt": ("text/plain; charset=utf-8", "text"),
    "log": ("text/plain; charset=utf-8", "text"),
    "csv": ("text/csv; charset=utf-8", "text"),
    "eml": ("message/rfc822", "text"),
}
# Never accepted, whatever the content: browsers run them as pages or scripts.
REFUSED = {"html", "htm", "xhtml", "shtml", "svg", "svgz", "xml", "xsl", "js", "mjs", "php", "hta", "swf"}
MARKUP = re.compile(rb"<\s*(?:!doctype|html|head|body|script|svg|iframe|object|embed|meta|\?xml)", re.IGNORECASE)


def folder() -> Path:
    """The attachments folder (created on first use)."""
    path = Path(current_app.config.get("ATTACHMENTS_DIR") or Path(current_app.instance_path) / "attachments")
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_bytes() -> int:
    """The size limit of one attachment, in bytes."""
    return int(current_app.config.get("ATTACHMENT_MAX_BYTES") or DEFAULT_MAX_BYTES)


def size_label(count: int) -> str:
    """A size in French units: « 20 Mio », « 64 Kio »."""
    return f"{count // (1024 * 1024)} Mio" if count >= 1024 * 1024 else f"{max(1, count // 1024)} Kio"


def path_of(sha256: str) -> Path:
    """Where the file with this content hash is stored (the hash is checked: no path from outside)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise EngineError("Pièce jointe introuvable.", 404)
    return folder() / sha256[:2] / sha256


def clean_name(filename: str | None) -> str:
    """The name shown and offered on download: its last path part, printable, bounded; never a path."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").strip()
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot else name[:200]
    return name or "piece-jointe"


def extension(name: str) -> str:
    """The lower-case extension of a file name ('' if none)."""
    return name.rpartition(".")[2].lower() if "." in name else ""


def _is_text(head: bytes) -> bool:
    """Readable text (UTF-8 or Latin-1 without NUL) and no HTML/SVG markup a browser could run."""
    if b"\x00" in head or MARKUP.search(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return False
    return True


def sniff(name: str, head: bytes) -> str:
    """The type a file is served as: its extension's when the content agrees, else octet-stream."""
    ext = extension(name)
    if ext in REFUSED or MARKUP.match(head.lstrip()):
        raise EngineError("Ce type de fichier n'est pas accepté (pages web, images SVG et scripts sont "
                          "refusés) : joignez-le dans une archive ZIP ou en PDF.", 415)
    if ext not in ALLOWED:
        raise EngineError("Type de fichier non accepté. Types admis : " + ", ".join(sorted(ALLOWED)) + ".", 415)
    served, check = ALLOWED[ext]
    agrees = _is_text(head) if check == "text" else head.startswith(check)
    return served if agrees else OCTET_STREAM


def store(stream, filename: str | None) -> dict:
    """Write an uploaded stream under its content hash; its name, type, size and hash (EngineError if refused)."""
    name, limit = clean_name(filename), max_bytes()
    if extension(name) in REFUSED:
        sniff(name, b"")  # refused before anything is written
    digest, size, head = hashlib.sha256(), 0, b""
    base = folder()
    handle, temp = tempfile.mkstemp(dir=base, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise EngineError(f"Pièce jointe trop volumineuse : au plus {size_label(limit)}.", 413)
                if len(head) < 8192:
                    head += chunk[:8192 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise EngineError("Le fichier est vide.", 400)
        content_type = sniff(name, head)
        sha256 = digest.hexdigest()
        target = path_of(sha256)
        target.parent.mkdir(exist_ok=True)
        os.replace(temp, target)  # same content, same name: a second upload just rewrites it
        os.chmod(target, 0o640)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return {"sha256": sha256, "name": name, "content_type": content_type, "size": size}
