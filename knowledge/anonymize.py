"""Anonymization of a retex before it is shared with the SSI community.

What is replaced: the names the dossier knows (structure, town, declarant and other people, given by the
caller), FINESS numbers (nine characters whose key checks, referentiel.finess_valid), e-mail addresses,
French phone numbers, IPv4 and IPv6 addresses, internal host names (fully qualified names, and
NetBIOS-like names such as SRV-PACS-01). An analyst reviews the result before anything is published:
this is a first pass, not a guarantee on free text.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata

from referentiel import finess_valid

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"]+", re.IGNORECASE)
PHONE = re.compile(r"(?<![\w+])(?:(?:\+|00)33\s?(?:\(0\)\s?)?|0)[1-9](?:[\s.-]?\d{2}){4}(?!\d)")
FINESS_LIKE = re.compile(r"\b(?:\d{2}|2[AaBb])\d{7}\b")
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\d.])")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:/\d{1,3})?(?![\w:])")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Host names: three labels or more, or two ending in a common top-level domain (« chu-rennes.fr », not
# « rapport.pdf »), or any name under an internal suffix (« pacs.chu.local »).
FQDN = re.compile(rf"\b(?:(?:{_LABEL}\.){{2,}}[A-Za-z]{{2,24}}|{_LABEL}\.(?:fr|com|net|org|eu|re|gp|mq|gf|yt|pm|nc|pf|"
                  rf"info|io|sante|gouv|local|lan|intra|intranet|internal|corp|priv))\b", re.IGNORECASE)
# NetBIOS-like machine names: upper-case words joined by hyphens with a digit (SRV-PACS-01, PC-URG12, DC01).
NETBIOS = re.compile(r"\b(?=[A-Z0-9-]*\d)[A-Z][A-Z0-9]{1,14}(?:-[A-Z0-9]{1,14}){0,4}\b")
# Domains kept as they are: public references a retex may rightly cite.
PUBLIC_DOMAINS = ("cert.ssi.gouv.fr", "ssi.gouv.fr", "cyber.gouv.fr", "cybermalveillance.gouv.fr", "cnil.fr",
                  "esante.gouv.fr", "legifrance.gouv.fr")
# Known public words that look like NetBIOS names (CVE ids, standards) and must stay readable.
KEEP = re.compile(r"^(?:CVE-\d{4}-\d+|ISO-?\d+|SHA-?\d+|MD5|AES-?\d+|TLS\d*|COVID-19|[BP]\d|MS\d{2}-\d+|"
                  r"WIN(?:DOWS)?-?\d+|\d+[A-Z]*)$")

# Words of structure names too common to replace on their own (« Centre de données » is no identifier).
GENERIC_WORDS = {"centre", "hopital", "hopitaux", "clinique", "laboratoire", "groupe", "groupement", "assistance",
                 "etablissement", "institut", "sante", "public", "publique", "universitaire", "regional", "regionale",
                 "departemental", "instruction", "armees", "biologie", "medicale", "radiotherapie", "admin",
                 "plateforme", "service", "services", "pole", "site"}

PLACEHOLDERS = {"name": "[nom]", "structure": "[structure]", "town": "[commune]", "finess": "[FINESS]",
                "email": "[courriel]", "phone": "[téléphone]", "ip": "[adresse IP]", "host": "[machine]",
                "url": "[adresse web]"}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _replace_names(text: str, names: list[str], placeholder: str) -> str:
    """Replace each known name (accents and case ignored), longest first, and its words of 4+ letters."""
    words = set()
    for name in names:
        name = (name or "").strip()
        if len(name) < 3:
            continue
        words.add(name)
        # « Claire Le Gall » also leaks as « Mme Le Gall »; « CHU de Rennes » as « Rennes ».
        words.update(w for w in re.split(r"[\s,'’()-]+", name)
                     if len(w) >= 4 and w[0].isupper() and _fold(w) not in GENERIC_WORDS)
    if words:
        text = _names_pattern(tuple(sorted(words, key=lambda w: (-len(w), w)))).sub(placeholder, text)
    return text


@functools.lru_cache(maxsize=1024)
def _names_pattern(words: tuple) -> re.Pattern:
    """One pattern for all the names of a kind, longest first: at each place the longest name that
    matches wins (« Claire Le Gall » before « Claire »). Compiled once: the same names (every user,
    the structures) come back in every retex. The word-start check and the possible first letters come
    before the alternatives, so that most places of a text are passed over without trying every name."""
    first = "".join(sorted({v for word in words for v in _variants(word[0])}))
    alternatives = "|".join("".join(_char_pattern(c) for c in word) + r"(?!\w)" for word in words)
    return re.compile(rf"(?<!\w)(?=[{first}])(?:{alternatives})", re.IGNORECASE)


def _variants(char: str) -> set[str]:
    """The escaped spellings of one character: with or without accent, in either case."""
    base = _fold(char) or char
    if not base.isalpha():
        return {re.escape(char)}
    variants = {char, base, char.lower(), char.upper()}
    variants |= {c for c in "àâäáãåçéèêëíìîïñóòôöõúùûüýÿ" if _fold(c) == base.lower()}
    return {re.escape(v) for v in variants | {c.upper() for c in variants}}


def _char_pattern(char: str) -> str:
    """A regex part matching one character of a name with or without accent or case."""
    variants = _variants(char)
    return "[" + "".join(sorted(variants)) + "]" if (_fold(char) or char).isalpha() else variants.pop()


def _ipv6(match: re.Match) -> str:
    try:
        ipaddress.ip_network(match.group(0), strict=False)
    except ValueError:
        return match.group(0)  # « 10:30 » or a timestamp, not an address
    return PLACEHOLDERS["ip"]


def _finess(match: re.Match) -> str:
    return PLACEHOLDERS["finess"] if finess_valid(match.group(0)) else match.group(0)


def _fqdn(match: re.Match) -> str:
    return match.group(0) if _public(match.group(0)) else PLACEHOLDERS["host"]


def _public(host: str) -> bool:
    host = host.lower()
    return any(host == d or host.endswith("." + d) for d in PUBLIC_DOMAINS)


def _url(match: re.Match) -> str:
    host = re.sub(r"^[a-z]+://", "", match.group(0), flags=re.IGNORECASE).split("/")[0].split(":")[0]
    return match.group(0) if _public(host) else PLACEHOLDERS["url"]


def _netbios(match: re.Match) -> str:
    return match.group(0) if KEEP.match(match.group(0)) else PLACEHOLDERS["host"]


def anonymize(text: str, structures: list[str] = (), towns: list[str] = (), people: list[str] = (),
              others: list[str] = ()) -> str:
    """The text with known names and every identifying pattern replaced by a bracketed placeholder."""
    text = str(text or "")
    # Patterns first (an address or a host name holds names: « pacs.chu-rennes.local »), then known names.
    text = URL.sub(_url, text)
    text = EMAIL.sub(PLACEHOLDERS["email"], text)
    text = IPV4.sub(PLACEHOLDERS["ip"], text)
    text = IPV6.sub(_ipv6, text)
    text = FQDN.sub(_fqdn, text)
    text = PHONE.sub(PLACEHOLDERS["phone"], text)
    text = FINESS_LIKE.sub(_finess, text)
    text = _replace_names(text, list(structures), PLACEHOLDERS["structure"])
    text = _replace_names(text, list(people) + list(others), PLACEHOLDERS["name"])
    text = _replace_names(text, list(towns), PLACEHOLDERS["town"])
    text = NETBIOS.sub(_netbios, text)
    return text
