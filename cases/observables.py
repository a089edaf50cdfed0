"""Observables (indicators of compromise) of a dossier: validation and normalization per kind, adding
and removing them as journal events, and the search across dossiers.

`normalize(kind, value)` is the one canonical form that searches, similarity and weak signals compare:
`EXAMPLE.fr.` and `example.fr` are the same domain, `2001:DB8::0:1` and `2001:db8::1` the same address.
Defanged values as analysts paste them (`hxxp://`, `[.]`, `[@]`) are refanged first.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

import idna
from sqlalchemy import and_, or_, select

from cases import chain
from engine.errors import EngineError
from models import Dossier, Observable, User, db
from referentiel import OBSERVABLE_KINDS
from timekeeping.clock import app_now

MAX_INPUT = 512        # the normalized column's width: no accepted value is cut
MAX_FREE_TEXT = 120    # a family or provider name
MAX_COMMENT = 2000
SOURCES = {"analyste", "declarant"}
HASH_LENGTHS = {32: "MD5", 40: "SHA-1", 64: "SHA-256"}
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
CVE = re.compile(r"CVE-(\d{4})-(\d{4,7})")
SOFTWARE = re.compile(r"(.+?)\s+v?(\d[\w.+-]*)")
DEFANGS = (("[.]", "."), ("(.)", "."), ("{.}", "."), ("[dot]", "."), ("[@]", "@"), ("[at]", "@"), ("[:]", ":"))


def _plain(value) -> str:
    """The value as one trimmed line; refuses empty, overlong and control characters."""
    if not isinstance(value, str):
        raise ValueError("La valeur doit être un texte.")
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValueError("La valeur est vide.")
    if len(value) > MAX_INPUT:
        raise ValueError(f"La valeur est trop longue (au plus {MAX_INPUT} caractères).")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise ValueError("La valeur contient des caractères de contrôle ou invisibles.")
    return value


def _refang(value: str) -> str:
    for defanged, plain in DEFANGS:
        value = value.replace(defanged, plain)
    return re.sub(r"^hxxp(s?)://", r"http\1://", value, flags=re.IGNORECASE)


def _ip(value: str) -> str:
    text = _refang(value).strip("[]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("Adresse IP invalide (IPv4 comme 192.0.2.10 ou IPv6 comme 2001:db8::1).") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:192.0.2.1 is the IPv4 address itself
    return str(address)  # compressed, lower-case IPv6


def _domain(value: str) -> str:
    text = _refang(value).rstrip(".")
    if not text or " " in text or "/" in text or "@" in text:
        raise ValueError("Nom de domaine invalide (exemple : exemple.fr).")
    try:
        ascii_name = idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise ValueError("Nom de domaine invalide : caractères non admis dans un nom de domaine.") from None
    labels = ascii_name.lower().split(".")
    if len(labels) < 2 or len(ascii_name) > 253 or not all(LABEL.fullmatch(label) for label in labels):
        raise ValueError("Nom de domaine invalide (exemple : exemple.fr).")
    if labels[-1].isdigit():
        raise ValueError("Ceci ressemble à une adresse IP : choisissez le type « Adresse IP ».")
    return ".".join(labels)


def _host(host: str) -> str:
    """A URL's host: an IP address (IPv6 in brackets) or a domain, normalized."""
    try:
        return _ip(host) if host.startswith("[") else str(ipaddress.IPv4Address(host))
    except (ValueError, ipaddress.AddressValueError):
        return _domain(host)


def _url(value: str) -> str:
    text = _refang(value)
    if re.search(r"\s", text):
        raise ValueError("Une URL ne contient pas d'espace.")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("URL invalide.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("Seules les URL en http:// ou https:// sont acceptées.")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise ValueError("URL invalide : l'hôte est absent ou contient des identifiants.")
    scheme = parts.scheme.lower()
    host = _host(f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname)
    host = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def _email(value: str) -> str:
    text = _refang(value)
    local, at, domain = text.rpartition("@")
    if not at or not EMAIL_LOCAL.fullmatch(local) or local.startswith(".") or ".." in local:
        raise ValueError("Adresse électronique invalide (exemple : nom@exemple.fr).")
    return f"{local.lower()}@{_domain(domain)}"


def _hash(value: str) -> str:
    text = value.lower().split(":", 1)[-1] if ":" in value else value.lower()
    if len(text) not in HASH_LENGTHS or not re.fullmatch(r"[0-9a-f]+", text):
        raise ValueError("Empreinte invalide : MD5 (32), SHA-1 (40) ou SHA-256 (64) caractères hexadécimaux.")
    return text


def _cve(value: str) -> str:
    match = CVE.fullmatch(value.upper())
    if not match or not 1999 <= int(match.group(1)) <= 2100:
        raise ValueError("Identifiant CVE invalide (forme CVE-AAAA-NNNN, exemple : CVE-2024-3400).")
    return match.group(0)


def _free(value: str) -> str:
    if len(value) > MAX_FREE_TEXT:
        raise ValueError(f"Le nom est trop long (au plus {MAX_FREE_TEXT} caractères).")
    return " ".join(value.casefold().split())


def _software(value: str) -> str:
    match = SOFTWARE.fullmatch(" ".join(value.split()))
    if not match or len(value) > 200:
        raise ValueError("Logiciel : indiquez « nom version » (exemple : Citrix NetScaler 13.1).")
    return f"{' '.join(match.group(1).casefold().split())} {match.group(2).lower()}"


NORMALIZERS = {"ip": _ip, "domaine": _domain, "url": _url, "courriel": _email, "empreinte": _hash,
               "famille_rancongiciel": _free, "cve": _cve, "logiciel": _software, "prestataire": _free}


def normalize(kind: str, value: str) -> str:
    """The canonical form of `value` as an observable of `kind`; ValueError with a French message."""
    if kind not in OBSERVABLE_KINDS:
        raise ValueError("Type d'indicateur inconnu.")
    return NORMALIZERS[kind](_plain(value))


def candidates(value: str, kind: str | None = None) -> list[tuple[str, str]]:
    """(kind, normalized) pairs a typed value may mean: every kind it is valid for, or the one given."""
    found = []
    for name in ([kind] if kind else OBSERVABLE_KINDS):
        try:
            found.append((name, normalize(name, value)))
        except ValueError:
            continue
    return found


def add(dossier: Dossier, kind: str, value: str, *, user: User, source: str, comment: str = "",
        commit: bool = True) -> Observable:
    """Record an observable on a dossier (an event of its chain); the same one twice is kept once."""
    if source not in SOURCES:
        raise EngineError("Source d'indicateur inconnue.", 422)
    chain.check_writer(user, "indicateur_declare" if source == "declarant" else "observable")
    if user.role == "declarant" and source != "declarant":
        raise EngineError("Cette action est réservée aux analystes.", 403)
    try:
        normalized = normalize(kind, value)
    except ValueError as exc:
        raise EngineError(str(exc), 422) from None
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise EngineError(f"Le commentaire est trop long (au plus {MAX_COMMENT} caractères).", 422)
    existing = db.session.scalar(select(Observable).where(
        Observable.dossier_id == dossier.id, Observable.kind == kind, Observable.normalized == normalized,
        Observable.removed_at.is_(None)))
    if existing is not None:
        return existing
    with chain.transaction(commit):
        row = Observable(dossier_id=dossier.id, kind=kind, value=value.strip(), normalized=normalized,
                         comment=comment, source=source, created_by=user.id, created_at=app_now())
        db.session.add(row)
        db.session.flush()
        chain.append(dossier, user, {"action": "observable", "observable_id": row.id, "kind": kind,
                                     "value": row.value, "normalized": normalized, "source": source,
                                     "comment": comment})
    return row


def remove(observable: Observable, *, user: User, reason: str = "", commit: bool = True) -> None:
    """Mark an observable « retiré » (a new event; the row stays, out of searches)."""
    chain.check_writer(user, "observable")
    if observable.removed_at is not None:
        return
    dossier = db.session.get(Dossier, observable.dossier_id)
    with chain.transaction(commit):
        chain.append(dossier, user, {"action": "retrait", "target": "observable", "id": observable.id,
                                     "reason": (reason or "").strip()[:MAX_COMMENT]})
        observable.removed_at = app_now()


def of_dossier(dossier: Dossier, visible=None) -> list[Observable]:
    """The dossier's observables (removed ones included, for the journal), `visible` an extra SQL condition."""
    query = select(Observable).where(Observable.dossier_id == dossier.id)
    if visible is not None:
        query = query.where(visible)
    return list(db.session.scalars(query.order_by(Observable.created_at, Observable.id)))


def search(value: str, *, visible, kind: str | None = None, limit: int = 200) -> list[tuple[Dossier, Observable]]:
    """Dossiers carrying a value (normalized first, any kind or the one given), among those `visible`
    (an SQL condition on Dossier: web/access.py's dossier_filter); newest first."""
    pairs = candidates(value, kind)
    if not pairs:
        return []
    match = or_(*[and_(Observable.kind == k, Observable.normalized == n) for k, n in pairs])
    rows = db.session.execute(select(Dossier, Observable).join(Observable, Observable.dossier_id == Dossier.id)
                              .where(match, Observable.removed_at.is_(None), visible)
                              .order_by(Dossier.created_at.desc(), Observable.id).limit(limit))
    return [tuple(row) for row in rows]


# A task form with this array of {type, valeur, commentaire} records its rows as observables when it is
# completed (the declaration's last step: source « declarant »).
FORM_FIELD = "indicateurs_techniques"


def form_errors(data: dict) -> dict:
    """{FORM_FIELD: French message} for the rows of a submitted form that are not valid indicators."""
    problems = []
    for number, row in enumerate(data.get(FORM_FIELD) or [], start=1):
        if not isinstance(row, dict) or not row.get("valeur"):
            continue  # the JSON Schema reports missing values
        try:
            normalize(row.get("type", ""), row["valeur"])
        except ValueError as exc:
            problems.append(f"Ligne {number} : {exc}")
    return {FORM_FIELD: " ".join(problems)} if problems else {}


def add_from_form(dossier: Dossier, data: dict, *, user: User, commit: bool = True) -> list[Observable]:
    """Record the indicators of a completed form (FORM_FIELD) on its dossier, with the author's source."""
    source = "declarant" if user.role == "declarant" else "analyste"
    return [add(dossier, row["type"], row["valeur"], user=user, source=source,
                comment=row.get("commentaire", ""), commit=commit)
            for row in data.get(FORM_FIELD) or [] if isinstance(row, dict) and row.get("valeur")]
