"""Demo knowledge of the Cellule ACSS: reflex sheets and providers, entered through knowledge/ like the cell does.

Providers are fictitious. The sheets quote the instruction's first steps (confine, isolate, preserve the
traces, communicate in a targeted way) and the usual advice of the sector (never pay a ransom).
"""
from __future__ import annotations

from sqlalchemy import select

from knowledge import providers, sheets
from models import Provider, ReflexSheet, db
from timekeeping.clock import app_now

FIRST_STEPS = ("## Premiers gestes (instruction 2017-281, phase 4 tâche C)\n\n"
               "1. **Préserver les traces** : ne pas éteindre ni réinstaller les machines touchées, noter l'heure "
               "et ce qui a été constaté, conserver les journaux.\n"
               "2. **Confiner** : débrancher du réseau le poste ou le serveur infecté (câble et Wi-Fi), sans l'éteindre.\n"
               "3. **Isoler** : couper si besoin les flux de messagerie internet et les accès distants (VPN).\n"
               "4. **Communiquer de façon ciblée** : prévenir la direction, l'équipe informatique et les "
               "utilisateurs concernés ; déclarer l'incident sur le portail.\n")

# key, title, incident types, structure kinds (empty: all), audiences, body
SHEETS = [
    ("rancongiciel", "Attaque par rançongiciel", ["rancongiciel"], [], ["direction", "equipe_si", "utilisateurs"],
     FIRST_STEPS + "\n## Spécifique au rançongiciel\n\n- **Ne payez pas la rançon** : le paiement ne garantit "
     "ni la restitution des données ni l'absence de fuite, et finance les attaquants.\n- Ne contactez pas les "
     "attaquants.\n- Identifiez la dernière sauvegarde saine et **déconnectez les sauvegardes** du réseau.\n"
     "- Activez le plan de continuité (mode dégradé des soins, procédures papier).\n- Déposez plainte.\n"),
    ("hameconnage", "Hameçonnage (courriel malveillant)", ["hameconnage"], [], ["equipe_si", "utilisateurs"],
     "## Si vous avez reçu le courriel\n\n- Ne cliquez sur aucun lien, n'ouvrez aucune pièce jointe.\n- "
     "Signalez-le à l'équipe informatique, puis supprimez-le.\n\n## Si vous avez cliqué ou saisi votre mot de "
     "passe\n\n- Prévenez immédiatement l'équipe informatique.\n- Changez le mot de passe depuis un autre poste.\n\n"
     "## Équipe informatique\n\n- Bloquez l'expéditeur et les adresses des liens.\n- Recherchez les autres "
     "destinataires et les connexions suspectes.\n- Conservez le courriel original (avec ses en-têtes) comme trace.\n"),
    ("compromission-compte", "Compromission de compte (annuaire, VPN, messagerie)", ["compromission_compte",
     "usurpation_identite"], [], ["equipe_si", "direction"],
     FIRST_STEPS + "\n## Spécifique au compte compromis\n\n- Révoquez les sessions ouvertes et les jetons.\n"
     "- Changez le mot de passe et les secrets associés ; activez l'authentification multifacteur.\n"
     "- Vérifiez les règles de transfert de messagerie et les délégations créées.\n"),
    ("poste-infecte", "Poste infecté (cheval de Troie, logiciel espion)", ["cheval_de_troie"], [],
     ["equipe_si", "utilisateurs"],
     FIRST_STEPS + "\n## Spécifique au poste infecté\n\n- Débranchez le câble réseau **sans éteindre** le poste "
     "(la mémoire garde des traces).\n- Conservez le disque en l'état pour l'analyse.\n"),
    ("deni-de-service", "Déni de service", ["deni_de_service"], [], ["equipe_si", "direction"],
     "## Premiers gestes\n\n- Contactez votre opérateur ou votre hébergeur et demandez le filtrage du trafic.\n"
     "- Conservez les journaux des équipements frontaux (pare-feu, répartiteurs de charge).\n"
     "- Informez les utilisateurs des services indisponibles et des solutions de repli.\n"),
    ("fuite-de-donnees", "Fuite ou exfiltration de données", ["divulgation_donnees"], [], ["direction", "equipe_si"],
     FIRST_STEPS + "\n## Spécifique à la fuite de données\n\n- Qualifiez les données concernées (santé, nombre "
     "de personnes).\n- Notifiez la CNIL dans les 72 heures si des données personnelles sont en jeu.\n"
     "- Préparez l'information des personnes concernées avec la direction.\n"),
    ("incident-prestataire", "Incident chez un prestataire ou un hébergeur", ["incident_prestataire"], [],
     ["direction", "equipe_si"],
     "## Premiers gestes\n\n- Demandez au prestataire sa déclaration d'incident et le périmètre touché.\n"
     "- Coupez les accès du prestataire à votre système d'information (VPN, comptes de télémaintenance).\n"
     "- Vérifiez vos obligations contractuelles (hébergeur de données de santé) et conservez les échanges.\n"),
    ("laboratoire-automates", "Laboratoire : automates et middleware", ["rancongiciel", "cheval_de_troie",
     "exploitation_vulnerabilite"], ["laboratoire"], ["equipe_si"],
     "## Premiers gestes\n\n- Isolez le middleware de laboratoire du réseau de l'établissement.\n"
     "- Passez les automates en mode autonome et rendez les résultats critiques par téléphone.\n"
     "- Prévenez le fournisseur des automates avant toute réinstallation.\n"),
]

# name, qualification, specialities, regions (empty: national), contact
PROVIDERS = [
    ("Armorique Réponse Cyber", "pris", ["rancongiciel", "compromission_compte", "cheval_de_troie"],
     ["Bretagne", "Pays de la Loire", "Normandie"], "cert@armorique-cyber.example.fr - 02 99 10 20 30 (24 h/24)"),
    ("Hexagone Forensics", "pris", ["rancongiciel", "divulgation_donnees", "exploitation_vulnerabilite"], [],
     "urgence@hexagone-forensics.example.fr - 01 70 00 10 10"),
    ("Rhône Alpes Sécurité Numérique", "expertcyber", ["hameconnage", "compromission_compte"],
     ["Auvergne-Rhône-Alpes"], "contact@rasn.example.fr - 04 72 10 20 30"),
    ("Est Cyberdéfense", "pris", ["rancongiciel", "deni_de_service"], ["Grand Est", "Hauts-de-France"],
     "soc@est-cyberdefense.example.fr - 03 87 10 20 30"),
    ("Caraïbes Numérique Sûr", "expertcyber", ["rancongiciel", "hameconnage", "perte_lien_telecom"],
     ["Guadeloupe", "Martinique", "Guyane"], "assistance@caraibes-numerique.example.fr - 05 90 10 20 30"),
    ("Sud Incident Response", "aucune", ["deni_de_service", "defiguration_site"],
     ["Provence-Alpes-Côte d'Azur", "Occitanie", "Corse"], "urgence@sud-ir.example.fr - 04 91 10 20 30"),
]


def load_knowledge() -> dict:
    """Insert the demo sheets and providers if the library and the directory are empty; the caller commits."""
    created = {"fiches": 0, "prestataires": 0}
    now = app_now()
    if db.session.scalar(select(ReflexSheet.id).limit(1)) is None:
        for key, title, types, kinds, audiences, body in SHEETS:
            sheets.save_sheet(None, {"title": title, "incident_types": types, "structure_kinds": kinds,
                                     "audiences": audiences, "body": body}, "demo", now, new_key=key)
            created["fiches"] += 1
    if db.session.scalar(select(Provider.id).limit(1)) is None:
        for name, qualification, specialities, regions, contact in PROVIDERS:
            providers.save_provider(None, {"name": name, "qualification": qualification, "specialities": specialities,
                                           "regions": regions, "contact": contact}, "demo", now)
            created["prestataires"] += 1
    return created
