"""Names for the anonymizer: the names the application holds (structures, people, towns, passed by the
caller), matched with or without accents and case, and the public names that must stay readable (agencies,
ransomware families, software), which the named-entity model would otherwise take for people or places.

Plain data and pure functions: importing this module loads neither spaCy nor Presidio.
"""
from __future__ import annotations

import functools
import re
import unicodedata

# Words of structure names too common to replace on their own (« Centre de données » is no identifier).
GENERIC_WORDS = {"centre", "hopital", "hopitaux", "clinique", "laboratoire", "groupe", "groupement", "assistance",
                 "etablissement", "institut", "sante", "public", "publique", "universitaire", "regional", "regionale",
                 "departemental", "instruction", "armees", "biologie", "medicale", "radiotherapie", "admin",
                 "plateforme", "service", "services", "pole", "site", "polyclinique", "hospitalier", "hospitaliere",
                 "intercommunal", "maison", "residence", "fondation", "cabinet", "pharmacie", "direction", "unite",
                 "urgences", "reanimation", "pharmacie", "saint", "sainte", "comite", "conseil", "commission",
                 "bureau", "equipe", "cellule", "plan", "directoire", "delegation", "mission", "agence", "cabinet",
                 "secretariat", "departement", "division", "cadre", "cadres", "astreinte", "securite", "systeme",
                 "systemes", "information", "informatique", "numerique", "general", "generale", "directeur",
                 "directrice", "president", "presidente", "responsable", "chef", "unite", "blanc", "crise"}

# Public names a retex rightly cites: kept even when the named-entity model calls them a person or a place.
PUBLIC_NAMES = {
    # agencies, authorities and public bodies
    "anssi", "cert-fr", "certfr", "cert", "csirt", "cert santé", "cert sante", "ans", "ars", "acss", "cnil", "dgs",
    "hfds", "fssi", "dgos", "dns", "cybermalveillance", "ministère", "ministere", "gendarmerie", "police", "c3n",
    "comcybergend", "ofac", "europol", "interpol", "parquet", "j3", "cyber", "campus", "agence", "samu", "sdis",
    "bretagne", "normandie", "occitanie", "grand est", "île-de-france", "ile-de-france", "hauts-de-france",
    "nouvelle-aquitaine", "auvergne-rhône-alpes", "provence-alpes-côte d'azur", "paca", "corse", "france",
    "europe", "union européenne", "état", "etat", "république", "sécurité sociale", "assurance maladie", "cpam",
    "has", "afnor", "ansm", "dmp", "mon espace santé", "sesam-vitale", "ameli", "cnam", "insee", "rgpd", "nis",
    "nis2", "hds", "pgssi-s", "ebios", "mitre", "att&ck", "cve", "cwe", "nvd", "cisa", "nist", "owasp",
    # ransomware families and attack tools
    "lockbit", "lockbit 3.0", "lockbit black", "conti", "ryuk", "blackcat", "alphv", "hive", "royal", "rhysida",
    "akira", "play", "medusa", "black basta", "blackbasta", "clop", "cl0p", "vice society", "phobos", "emotet",
    "qakbot", "qbot", "trickbot", "icedid", "cobalt strike", "mimikatz", "bloodhound", "rclone", "anydesk",
    "teamviewer", "psexec", "netwalker", "revil", "sodinokibi", "maze", "darkside", "babuk", "avaddon",
    "ragnar locker", "ragnarlocker", "blackmatter", "quantum", "bianlian", "8base", "noescape", "hunters",
    "hunters international", "ransomhub", "qilin", "inc ransom", "black suit", "blacksuit", "cactus", "trigona",
    "lapsus$", "wannacry", "notpetya", "petya", "dridex", "bumblebee", "sliver", "metasploit", "ngrok", "winscp",
    "filezilla", "megasync", "mega", "tor", "bitcoin", "monero", "telegram", "signal", "whatsapp",
    # software, vendors and products
    "windows", "windows server", "microsoft", "exchange", "outlook", "office", "office 365", "microsoft 365",
    "teams", "sharepoint", "onedrive", "azure", "entra", "entra id", "active directory", "intune", "defender",
    "citrix", "netscaler", "citrix netscaler", "citrix adc", "fortinet", "fortigate", "fortios", "forticlient",
    "fortiweb", "vmware", "esxi", "vcenter", "vsphere", "veeam", "veeam backup", "linux", "ubuntu", "debian",
    "red hat", "centos", "apache", "tomcat", "log4j", "log4shell", "openssl", "openssh", "ivanti", "pulse secure",
    "cisco", "palo alto", "globalprotect", "zimbra", "chrome", "firefox", "edge", "java", "oracle", "sql server",
    "mysql", "postgresql", "sophos", "kaspersky", "crowdstrike", "sentinelone", "symantec", "trend micro",
    "stormshield", "watchguard", "sonicwall", "synology", "qnap", "dell", "hp", "lenovo", "apple", "macos",
    "android", "ios", "google", "gmail", "wordpress", "moveit", "confluence", "jira", "gitlab", "github",
    "docker", "kubernetes", "nutanix", "hyper-v", "proxmox", "netapp", "commvault", "acronis", "rdp", "smb",
    "vpn", "edr", "xdr", "soc", "siem", "pacs", "dpi", "sih", "ris", "lis", "dossier patient informatisé",
    "wi-fi", "wifi", "internet", "intranet", "sms", "excel", "word", "powershell", "visual studio", "python",
    "teams", "zoom", "webex", "skype", "adobe", "acrobat", "siemens", "philips", "ge healthcare", "agfa",
    "maincare", "dedalus", "cerner", "epic", "softway", "hopital manager", "orbis", "medasys", "crossway",
    "doctolib", "sesam", "carte vitale", "cps", "e-cps", "mssanté", "mssante", "apicrypt", "pro santé connect",
    "santé connect", "france connect", "franceconnect", "sentinel", "splunk", "elastic", "wazuh", "glpi",
    "ségur", "ségur du numérique", "hopital manager", "santé publique france", "onenote", "proxyshell", "proxylogon", "printnightmare", "zerologon", "eternalblue", "follina", "citrixbleed",
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche", "noël", "pâques",
}

FRENCH_STOPWORDS_CAPITALISED = {"le", "la", "les", "l'", "un", "une", "des", "du", "de", "d'", "ce", "cet", "cette",
                                "ces", "il", "elle", "ils", "elles", "nous", "vous", "on", "en", "au", "aux", "à",
                                "a", "et", "ou", "mais", "donc", "or", "ni", "car", "si", "dès", "lors", "après",
                                "avant", "pendant", "depuis", "selon", "sans", "avec", "pour", "par", "sur", "sous",
                                "dans", "entre", "vers", "chez", "aucun", "aucune", "tous", "toutes", "chaque",
                                "plusieurs", "certains", "certaines", "leur", "leurs", "son", "sa", "ses", "notre",
                                "nos", "votre", "vos", "mon", "ma", "mes", "qui", "que", "quoi", "dont", "où", "y"}


def fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


PUBLIC_FOLDED = frozenset(fold(name) for name in PUBLIC_NAMES)


def is_public(text: str) -> bool:
    """A public name (agency, ransomware family, software), with its version if any: « LockBit 3.0 »."""
    folded = fold(text).strip(" .,;:'’\"«»()")
    if folded in PUBLIC_FOLDED:
        return True
    without_version = re.sub(r"[ \t]+v?\d[\w.]*$", "", folded)
    if without_version in PUBLIC_FOLDED:
        return True
    words = [w for w in re.split(r"[\s]+", without_version) if w and not re.fullmatch(r"v?\d[\w.]*", w)]
    return bool(words) and all(w in PUBLIC_FOLDED or w in FRENCH_STOPWORDS_CAPITALISED for w in words)


def identifying_words(names: list[str]) -> tuple:
    """The names to look for, longest first: each name, and its words of four letters or more that are
    capitalised and not generic (« Claire Le Gall » also leaks as « Mme Le Gall », « CHU de Rennes » as
    « Rennes »)."""
    words = set()
    for name in names:
        name = (name or "").strip()
        if len(name) < 3:
            continue
        words.add(name)
        words.update(w for w in re.split(r"[\s,'’()-]+", name)
                     if len(w) >= 4 and w[0].isupper() and fold(w) not in GENERIC_WORDS)
    return tuple(sorted(words, key=lambda w: (-len(w), w)))


@functools.lru_cache(maxsize=1024)
def names_pattern(words: tuple) -> re.Pattern:
    """One pattern for all the names of a kind, longest first: at each place the longest name that
    matches wins (« Claire Le Gall » before « Claire »). Compiled once: the same names (every user,
    the structures) come back in every retex. The word-start check and the possible first letters come
    before the alternatives, so that most places of a text are passed over without trying every name."""
    first = "".join(sorted({v for word in words for v in _variants(word[0])}))
    alternatives = "|".join("".join(_char_pattern(c) for c in word) + r"(?!\w)" for word in words)
    return re.compile(rf"(?<!\w)(?=[{first}])(?:{alternatives})", re.IGNORECASE)


def _variants(char: str) -> set[str]:
    """The escaped spellings of one character: with or without accent, in either case."""
    base = fold(char) or char
    if not base.isalpha():
        return {re.escape(char)}
    variants = {char, base, char.lower(), char.upper()}
    variants |= {c for c in "àâäáãåçéèêëíìîïñóòôöõúùûüýÿ" if fold(c) == base.lower()}
    return {re.escape(v) for v in variants | {c.upper() for c in variants}}


def _char_pattern(char: str) -> str:
    """A regex part matching one character of a name with or without accent or case."""
    variants = _variants(char)
    return "[" + "".join(sorted(variants)) + "]" if (fold(char) or char).isalpha() else variants.pop()


def known_spans(text: str, names: list[str]) -> list[tuple[int, int]]:
    """Where the known names (and their distinctive words) occur in a text."""
    words = identifying_words(names)
    return [m.span() for m in names_pattern(words).finditer(text)] if words else []
