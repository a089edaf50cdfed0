"""The patterns of identifiers a retex may hold, each with its check: what the anonymizer's own Presidio
recognizers look for (knowledge/anonymize_engine.py wraps them).

Plain data and pure functions: importing this module loads neither spaCy nor Presidio.
"""
from __future__ import annotations

import ipaddress
import re

from knowledge.anonymize_names import is_public
from referentiel import finess_valid

UP = "A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÆŒ"
LOW = "a-zàâäçéèêëîïôöùûüÿæœñ"
# A capitalised word of a proper name: « Pontchaillou », « Anne-Marie », « O'Neil », « Saint-Grégoire ».
CAP = rf"[{UP}][{LOW}{UP}]*(?:[-'’][{UP}{LOW}][{LOW}{UP}]*)*"
PARTICLE = r"(?:de|du|des|d'|d’|le|la|van|von|da|di|del|ben|ibn|el|al)"
# A proper name: capitalised words, with particles between them (« Le Gall », « de La Tour », « d'Arvor »).
PROPER = rf"{CAP}(?:[ \t]+(?:{PARTICLE}[ \t]+|{PARTICLE})?{CAP}){{0,3}}"

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Defanged addresses as incident reports write them: hxxp://, [.], (.), [@], [at].
DEFANGED_DOT = r"(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\))"
DEFANGED_EMAIL = re.compile(rf"(?<![\w.+-])[\w.+-]+[ \t]?(?:\[@\]|\(@\)|\[at\]|\(at\)|@)[ \t]?[\w-]+(?:(?:{DEFANGED_DOT}|\.)[\w-]+)+",
                            re.IGNORECASE)
DEFANGED_URL = re.compile(r"\b(?:hxxps?|hXXps?|fxp|meows?)(?:\[:\]|:)//[^\s<>\"]*[^\s<>\".,;:!?)»]", re.IGNORECASE)
DEFANGED_HOST = re.compile(rf"(?<![\w.\]-])[\w-]+(?:(?:{DEFANGED_DOT}|\.)[\w-]+)*{DEFANGED_DOT}[A-Za-z]{{2,24}}\b", re.IGNORECASE)
DEFANGED_IP = re.compile(rf"(?<![\w.\]])\d{{1,3}}(?:(?:{DEFANGED_DOT}|\.)\d{{1,3}}){{3}}(?![\w\[])")
URL = re.compile(r"(?:\b(?:https?|ftp|sftp|smb|file)://|\bwww\.)[^\s<>\"]*[^\s<>\".,;:!?)»]", re.IGNORECASE)
PHONE = re.compile(r"(?<![\w+])(?:(?:\+|00)33[ \t.]?(?:\(0\)[ \t]?)?|0)[1-9](?:[ \t.-]?\d{2}){4}(?!\d)")
FINESS = re.compile(rf"(?<![\w-])(?:\d{{2}}|2[AaBb])(?:[ \t]?\d){{7}}(?![\w-])")
# NIR: sex, year, month (or 20-42 / 50-99), department (2A/2B in Corsica), commune, order, key, spaced or not.
NIR = re.compile(r"(?<![\w-])[12][ \t]?\d{2}[ \t]?(?:0[1-9]|1[0-2]|[2-9]\d)[ \t]?(?:\d{2}|2[AaBb])[ \t]?\d{3}"
                 r"[ \t]?\d{3}[ \t]?\d{2}(?![\w-])")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\w.]*\d)")
IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:/\d{1,3})?(?![\w:])")
MAC = re.compile(r"(?<![\w:-])(?:[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}|"
                 r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:-])")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Host names: three labels or more, or two ending in a common top-level domain (« chu-rennes.fr », not
# « rapport.pdf »), or any name under an internal suffix (« pacs.chu.local »).
FQDN = re.compile(rf"(?<![\w.-])(?:(?:{_LABEL}\.){{2,}}[A-Za-z]{{2,24}}|{_LABEL}\.(?:fr|com|net|org|eu|re|gp|mq|gf|yt|pm|nc|pf|"
                  rf"info|io|sante|gouv|local|lan|intra|intranet|internal|corp|priv|ad|dom))\b", re.IGNORECASE)
# NetBIOS-like machine names: upper-case words joined by hyphens with a digit (SRV-PACS-01, PC-URG12, DC01).
NETBIOS = re.compile(r"(?<![\w-])(?=[A-Z0-9-]*\d)[A-Z][A-Z0-9]{1,14}(?:-[A-Z0-9]{1,14}){0,4}\b")
# A machine named after the word that says it is one: « hôte pacs01 », « le serveur srv-ad01 ».
HOST_WORDS = (r"h[ôo]tes?|serveurs?|postes?(?:[ \t]de[ \t]travail)?|machines?|stations?|VM|hyperviseurs?|NAS|"
              r"contr[ôo]leurs?[ \t]de[ \t]domaine|baies?|hosts?|nom[ \t]d'h[ôo]te|[ée]quipements?|automates?")
HOST_NAMED = re.compile(rf"(?<![\w/.-])(?:{HOST_WORDS})[ \t]+(?:«[ \t]?|\"|nommée?[ \t]+|appelée?[ \t]+)?"
                        r"(?P<name>[A-Za-z][A-Za-z0-9_-]*(?:\d[A-Za-z0-9_-]*|-[A-Za-z0-9_-]+))", re.IGNORECASE)
# Windows accounts: DOMAINE\compte, and logins named as such (« le compte jdupont », « identifiant : a.martin »).
WINDOWS_ACCOUNT = re.compile(r"(?<![\w.\\-])[A-Za-z][\w.-]{0,30}\\{1,2}[^\W\d_][\w.$-]{0,40}[\w$]")
ACCOUNT_WORDS = r"comptes?|identifiants?|logins?|utilisateurs?|users?|sessions?|username|nom[ \t]d'utilisateur"
ACCOUNT_NAMED = re.compile(rf"(?<![\w/.-])(?:{ACCOUNT_WORDS})(?:[ \t]+(?:de|d'|du)?[ \t]*(?:service|l'utilisateur|"
                           r"administrateur|admin|à[ \t]privilèges|privilégié|Windows|AD|VPN|de[ \t]messagerie|"
                           r"local|du[ \t]domaine))*,?[ \t]*(?::|«|\"|')?[ \t]*"
                           r"(?P<name>[a-z][a-z0-9._-]{2,40}[a-z0-9])(?![\w@\\])", re.IGNORECASE)
SERVICE_ACCOUNT = re.compile(r"(?<![\w\\.-])(?:adm|admin|svc|sa|ext|tmp)[._-][a-z][a-z0-9._-]{0,40}[a-z0-9](?![\w@\\-])")
# Words that follow « compte » without being a login.
NOT_LOGINS = {"administrateur", "administrateurs", "admin", "administrator", "utilisateur", "utilisateurs", "local",
              "locaux", "service", "services", "domaine", "générique", "generique", "partagé", "partage", "invité",
              "invite", "root", "guest", "système", "systeme", "technique", "nominatif", "nominatifs", "désactivé",
              "compromis", "compromise", "messagerie", "privilégié", "privilegie", "privilégiés", "dédié", "dedie",
              "machine", "ordinateur", "krbtgt", "support", "test", "demo", "microsoft", "windows", "azure", "vpn",
              "concerné", "concerne", "concernés", "utilisé", "utilise", "piraté", "pirate", "bloqué", "bloque",
              "verrouillé", "supprimé", "créé", "cree", "qui", "est", "était", "avait", "ont", "des", "une", "les",
              "dont", "avec", "sans", "pour", "par", "sur", "dans", "ayant", "non", "été", "ete", "n'a", "aux"}
STREET = (r"rue|avenue|av\.|boulevard|bd|place|allée|allees|allées|chemin|impasse|route|quai|cours|square|"
          r"rond-point|voie|passage|esplanade|lieu-dit|parvis|promenade|faubourg|sentier|cité|hameau|mail|"
          r"résidence|montée|quartier|zone[ \t]d'activités|za|zi|zac")
# A postal address: number (with bis/ter) and street (or a plain « rue », « avenue »...), up to the five-digit
# postcode and the town after it: « 2 rue Henri Le Guilloux 35000 Rennes ».
POSTAL = re.compile(rf"(?<![\w-])(?:\d{{1,4}}(?:[ \t]?(?i:bis|ter|quater|[A-D])\b)?,?[ \t]+(?i:{STREET})|"
                    r"(?i:rue|avenue|boulevard|allée|impasse|chemin|quai|route|lieu-dit))\b"
                    rf"[^\n;:()]{{1,70}}?(?<!\d)\d{{5}}(?!\d)(?:[ \t]+{PROPER}(?:[ \t]+(?i:cedex)(?:[ \t]+\d{{1,2}})?)?)?")
MONTHS = r"janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre"
DATE = rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:19|20)?\d{{2}}|(?:1er|\d{{1,2}})[ \t]+(?:{MONTHS})[ \t]+(?:19|20)\d{{2}})"
BIRTH = re.compile(rf"\b(?:n[ée]e?s?(?:[ \t]+le)?|date[ \t]+de[ \t]+naissance(?:[ \t]*:)?|DDN[ \t]*:?|"
                   rf"naissance[ \t]+le|née?[ \t]+en)[ \t]*(?::[ \t]*)?(?P<name>{DATE})", re.IGNORECASE)
# Titles before a name: abbreviations as written (« M. », « Dr »), words in either case (« docteur »).
TITLES = (r"Dr|Dre|Pr|Pre|M|MM|Mme|Mmes|Mlle|Mlles|Me|Ing|Cdt|Cne|Lt|Col|Sgt|"
          r"(?i:docteure?|professeure?|monsieur|madame|mademoiselle|ma[îi]tre|commandant|capitaine|lieutenant|"
          r"colonel|adjudant|sergent|infirmi[èe]re?|s[œo]eur|p[èe]re|interne|technicien(?:ne)?|ing[ée]nieur(?:e)?)")
# A person named after a title: « Dr. Anne-Marie O'Neil », « Mme Le Gall », « M. Jean-Pierre de La Tour ».
TITLED = re.compile(rf"(?<![\w.])(?:{TITLES})\.?[ \t]+(?P<name>(?!(?:{TITLES})\.?[ \t]){PROPER})")
STRUCTURE_WORDS = (r"Hôpital|Hopital|Hôpitaux|Hopitaux|Clinique|Polyclinique|Centre[ \t]hospitalier(?:[ \t]universitaire|"
                   r"[ \t]régional|[ \t]intercommunal|[ \t]spécialisé|[ \t]départemental)?|CHU|CHRU|CHR|CHI|CHS|CHD|CH|GHT|"
                   r"GHU|GHICL|GH|Groupe[ \t]hospitalier|Groupement[ \t]hospitalier(?:[ \t]de[ \t]territoire)?|EHPAD|Ehpad|"
                   r"Institut|Maison[ \t]de[ \t]santé|Centre[ \t]de[ \t]santé|Centre[ \t]de[ \t]lutte[ \t]contre[ \t]le[ \t]"
                   r"cancer|Laboratoire|Centre[ \t]de[ \t]radiothérapie|Centre[ \t]d'imagerie|Cabinet|Pharmacie|"
                   r"Résidence|Fondation|Centre[ \t]de[ \t]dialyse|Centre[ \t]de[ \t]rééducation|SSR|USLD|HAD|"
                   r"Centre[ \t]médical|Centre[ \t]médico-social|Maison[ \t]de[ \t]retraite")
STRUCTURE_LINK = (r"(?:(?:de|du|des|d'|d’|la|le|les|l'|l’|privée?|publique?|locale?|régionale?|universitaire|militaire|"
                  r"d'instruction|des[ \t]armées|intercommunale?|générale?|mutualiste|psychiatrique|pédiatrique|"
                  r"gériatrique|médicale?|spécialisée?)[ \t]*){0,4}")
# A structure named after what it is: « Hôpital Pontchaillou », « CHU de Brest », « EHPAD Les Tilleuls ».
STRUCTURE_NAMED = re.compile(rf"\b(?:{STRUCTURE_WORDS})[ \t]+{STRUCTURE_LINK}{PROPER}")
# Version numbers and public identifiers that patterns above could take for an address or a host.
KEEP = re.compile(r"^(?:CVE-\d{4}-\d+|CWE-\d+|CERTFR-\d{4}-[A-Z]{3}-\d+|ISO-?\d+|SHA-?\d+|MD5|AES-?\d+|TLS\d*|"
                  r"COVID-19|[BP]\d|MS\d{2}-\d+|KB\d+|WIN(?:DOWS)?-?\d+|RFC-?\d+|T\d{4}(?:\.\d{3})?|\d+[A-Z]*|"
                  r"NIS-?2|IPV[46]|RGS-?V?\d*|PCI-?DSS|X\d{3}|S\d|HL7|FHIR|DICOM|SMBV?\d|"
                  r"LOCKBIT\d?|L\d|N-?\d|J\d+|H\d+|MFA|2FA|4G|5G|3G|A\d|P\d{1,2}|T\d|V\d+)$")
VERSION_BEFORE = re.compile(r"(?:version|v|build|release|firmware|FortiOS|ESXi|Windows|NetScaler|PAN-OS)[ \t]*$",
                            re.IGNORECASE)
# Domains kept as they are: public references a retex may rightly cite.
PUBLIC_DOMAINS = ("cert.ssi.gouv.fr", "ssi.gouv.fr", "cyber.gouv.fr", "cybermalveillance.gouv.fr", "cnil.fr",
                  "esante.gouv.fr", "legifrance.gouv.fr", "sante.gouv.fr", "solidarites-sante.gouv.fr",
                  "cve.org", "nvd.nist.gov", "mitre.org", "attack.mitre.org", "cisa.gov", "microsoft.com",
                  "support.microsoft.com", "msrc.microsoft.com", "europol.europa.eu", "nomoreransom.org",
                  "ransomware.live", "github.com", "virustotal.com", "gouv.fr")


def public_host(host: str) -> bool:
    host = host.lower().strip(".").replace("[.]", ".").replace("(.)", ".")
    return any(host == d or host.endswith("." + d) for d in PUBLIC_DOMAINS)


def url_identifying(value: str, text: str, start: int) -> bool:
    host = re.sub(r"^(?:[a-z]+(?:\[:\]|:)//)?", "", value, flags=re.IGNORECASE).split("/")[0].split(":")[0]
    return not public_host(host)


def ipv4_identifying(value: str, text: str, start: int) -> bool:
    if VERSION_BEFORE.search(text[max(0, start - 20):start]):
        return False  # « FortiOS 7.2.4.1 » is a version
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def ipv6_identifying(value: str, text: str, start: int) -> bool:
    if value.count(":") < 2 or re.fullmatch(r"[\d:]+", value) and value.count(":") <= 2:
        return False  # « 10:30:00 » is a time of day
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def finess_identifying(value: str, text: str, start: int) -> bool:
    return finess_valid(re.sub(r"[ \t]", "", value).upper())


def nir_valid(value: str) -> bool:
    """A French social security number whose key is 97 minus the number modulo 97 (Corsica: 2A counts
    as 19, 2B as 18)."""
    digits = re.sub(r"[ \t]", "", value).upper()
    if len(digits) != 15:
        return False
    body = digits[:5] + {"2A": "19", "2B": "18"}.get(digits[5:7], digits[5:7]) + digits[7:13]
    if not body.isdigit() or not digits[13:].isdigit():
        return False
    return 97 - int(body) % 97 == int(digits[13:])


def nir_identifying(value: str, text: str, start: int) -> bool:
    return nir_valid(value)


def host_identifying(value: str, text: str, start: int) -> bool:
    if public_host(value) or re.fullmatch(r"[\w-]+\.(?:pdf|docx?|xlsx?|pptx?|txt|csv|zip|exe|dll|ps1|bat|sh|log|"
                                          r"json|xml|html?|png|jpe?g|7z|rar|iso|vbs|js|lnk|msi)", value, re.I):
        return False
    return not VERSION_BEFORE.search(text[max(0, start - 20):start])


def netbios_identifying(value: str, text: str, start: int) -> bool:
    return not KEEP.match(value)


def named_host_identifying(value: str, text: str, start: int) -> bool:
    return not KEEP.match(value.upper()) and not re.fullmatch(r"\d+|[a-z]+-?(?:de|du|des)?", value, re.I)


def login_identifying(value: str, text: str, start: int) -> bool:
    return value.lower() not in NOT_LOGINS and not value.lower().startswith(("d'", "l'"))


# (entity, pattern, validator): what the regular-expression recognizers look for, in this order.
# A pattern with a group « name » replaces that group only (the title or the word « serveur » stays).
# A validator of NAMED_AFTER also turns down a common French word (« la session ouverte »): the
# engine, which has the model's word lists, checks that.
NAMED_AFTER = (ACCOUNT_NAMED, HOST_NAMED)
PATTERNS = (
    ("URL", DEFANGED_URL, None), ("URL", URL, url_identifying),
    ("EMAIL", EMAIL, None), ("EMAIL", DEFANGED_EMAIL, None),
    ("HOST", DEFANGED_HOST, lambda value, text, start: not public_host(value)),
    ("MAC", MAC, None), ("IP", DEFANGED_IP, lambda value, text, start: "[" in value or "(" in value),
    ("IP", IPV4, ipv4_identifying), ("IP", IPV6, ipv6_identifying),
    ("NIR", NIR, nir_identifying), ("FINESS", FINESS, finess_identifying),
    ("PHONE", PHONE, None),
    ("POSTAL", POSTAL, None), ("BIRTH", BIRTH, None),
    ("ACCOUNT", WINDOWS_ACCOUNT, None), ("ACCOUNT", ACCOUNT_NAMED, login_identifying),
    ("ACCOUNT", SERVICE_ACCOUNT, None),
    ("HOST", FQDN, host_identifying), ("HOST", HOST_NAMED, named_host_identifying),
    ("HOST", NETBIOS, netbios_identifying),
    ("PERSON", TITLED, None), ("STRUCTURE", STRUCTURE_NAMED, lambda value, text, start: not is_public(value)),
)
