"""Who sees what (web/access.py): every role x every route showing dossier data x every kind of dossier.

Unique marker strings are planted in the dossiers (declarations, the declarant's phone, an analyst's
internal note, the armées' synthesis). A marker found in a response to a role that must not see it
is a leak; the test lists every leak. It also checks that what each role must see is there, so it
cannot pass by showing nothing.
"""
from __future__ import annotations

import importlib.util
import io
import re

import pytest
from markupsafe import escape
from sqlalchemy import func, select, update

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

import migrate
from cases import journal, links, observables
from cli import scenarios
from mail import mailer
from models import AuditEvent, Dossier, JournalEntry, OutboxMessage, TaskRow, User, db
from test_web_support import (ACSS, ADMIN, ARMEES, ARS_BRETAGNE, ARS_GRANDEST, AUDITEUR, DECLARANT, DECLARANT_BEGIN,
                              DECLARANT_METZ, DGS, HFDS, PROCESSUS, login, post, structure_of, user)
from web import access
from workflow import commands, context

ARS_IDF = "ars.idf@ars.example.fr"
IOC = "198.51.100.7"  # an indicator on a civil and on a military dossier: the search lists each to its readers
ROLES = [DECLARANT, DECLARANT_BEGIN, DECLARANT_METZ, ARS_BRETAGNE, ARS_IDF, ARS_GRANDEST, ACSS, HFDS, DGS, ARMEES,
         AUDITEUR, ADMIN, PROCESSUS]
NATIONAL_CIVIL = {ARS_BRETAGNE, ACSS, HFDS, DGS, AUDITEUR}


def _drive(clock, email: str, steps: list, until: str | None = None, phone: str = "") -> Dossier:
    """Start a dossier as a demo declarant (with a marker phone) and complete tasks up to `until`."""
    declarant = user(email)
    declarant.phone = phone
    db.session.commit()
    clock.advance(minutes=5)
    dossier = commands.start_dossier(structure_of(email), declarant, context.Actor.of(declarant))
    for spec_name, data in steps:
        if spec_name == until:
            break
        clock.advance(minutes=30)
        row = scenarios.ready_task(dossier, spec_name)
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    return db.session.get(Dossier, dossier.id)


def _declaration(tag: str, title: str) -> list:
    perimetre = dict(scenarios.PERIMETRE, elements_concernes=f"MK-{tag}-DECL serveurs")
    return [("p1_perimetre", perimetre), ("p1_impact", scenarios.IMPACT), ("p1_origine", scenarios.ORIGINE),
            ("p1_formulaire", scenarios.formulaire(titre=title))]


def _military(tag: str, addressee: str, level: str) -> list:
    return _declaration(tag, f"MK-{tag}-TITLE intrusion") + [
        ("mil_traiter", {"information_armees": addressee, "synthese_armees": f"MK-{tag}-SYNTH contenu",
                         "niveau_confidentialite": level})]


@pytest.fixture
def world(app, clock):
    """Dossiers of every kind with their markers, and who may see each marker."""
    clock.set(scenarios.MONDAY_MORNING)
    begin = structure_of(DECLARANT_BEGIN)
    # The ARS's summary names the structure (name, FINESS, département) and nothing more of it.
    begin.name, begin.city = "MK-BEGIN-NAME Hôpital Bégin", "MK-BEGIN-CITY"
    begin.email, begin.phone = "mk-begin-mail@sante.defense.example.fr", "MK-BEGIN-SPHONE"
    db.session.commit()
    note = scenarios.qualification("grave", info=True)
    note.update(analyse_qualification="MK-CIVA-NOTE analyse interne",
                question_declarant="MK-CIVA-QUESTION version du logiciel ?")
    civil_open = _drive(clock, DECLARANT, _declaration("CIVA", "Rançongiciel CIVA") + scenarios.OPENING
                        + [("p3_qualifier", note), ("p3_complement", {"reponse_informations": "x"})],
                        until="p3_complement", phone="MK-CIVA-PHONE")
    closed_steps = dict(scenarios.SCENARIOS["grave_ars"].steps)
    closed = _drive(clock, DECLARANT, _declaration("CIVB", "Hameçonnage CIVB") + scenarios.OPENING
                    + [("p3_qualifier", dict(scenarios.qualification("grave"),
                                             analyse_qualification="MK-CIVB-NOTE analyse interne")),
                       ("p4_choix", {"modalite_appui": "prise_en_charge_ars"}),
                       ("p4_appui_ars", closed_steps["p4_appui_ars"]), ("p4_fin_structure", scenarios.FIN_STRUCTURE)]
                    + scenarios.CLOSING, phone="MK-CIVB-PHONE")
    draft = _drive(clock, DECLARANT, _declaration("DRAFT", "brouillon"), until="p1_impact", phone="MK-DRAFT-PHONE")
    mil_hfds = _drive(clock, DECLARANT_BEGIN, _military("MILH", "hfds", "diffusion_restreinte"), phone="MK-MILH-PHONE")
    mil_acss = _drive(clock, DECLARANT_BEGIN, _military("MILA", "acss", "non_protege"), phone="MK-MILA-PHONE")
    mil_open = _drive(clock, DECLARANT_BEGIN, _military("MILO", "acss", "non_protege"), until="mil_traiter",
                      phone="MK-MILO-PHONE")
    _journal(civil_open, mil_acss)
    mailer.deliver_due()  # the log backend marks them sent: the journal page lists them
    assert (mil_hfds.addressed_to, mil_hfds.restricted, mil_acss.addressed_to, mil_acss.restricted) == \
        ("hfds", True, "acss", False)
    assert draft.state == access.DRAFT_STATE and closed.state == "clôturé"
    military_base = {ARMEES, DECLARANT_BEGIN}
    allowed = {}
    for tag in ("CIVA", "CIVB"):
        allowed.update({f"MK-{tag}-DECL": {DECLARANT, ADMIN} | NATIONAL_CIVIL,
                        f"MK-{tag}-PHONE": {DECLARANT, ADMIN} | NATIONAL_CIVIL,
                        f"MK-{tag}-NOTE": {ADMIN} | NATIONAL_CIVIL})
    allowed["MK-CIVA-QUESTION"] = {DECLARANT, ADMIN} | NATIONAL_CIVIL
    allowed.update({"MK-DRAFT-DECL": {DECLARANT}, "MK-DRAFT-PHONE": {DECLARANT}})
    for tag, addressee in (("MILH", {HFDS}), ("MILA", {ACSS}), ("MILO", set())):
        for kind in ("DECL", "PHONE", "TITLE"):
            allowed[f"MK-{tag}-{kind}"] = military_base | addressee
        allowed[f"MK-{tag}-SYNTH"] = {ARMEES} | addressee  # the declarant's structure is no addressee
    # The journal (cases/): analysts' notes and indicators are internal work; a link shows only to who
    # reads both dossiers.
    allowed.update({"MK-CIVA-JNOTE": NATIONAL_CIVIL, "MK-CIVA-DNOTE": {DECLARANT} | NATIONAL_CIVIL,
                    "MK-CIVA-IOC": NATIONAL_CIVIL, "MK-CIVA-FILE": NATIONAL_CIVIL,
                    "MK-MILA-JNOTE": {ARMEES, ACSS}, "MK-MILA-IOC": {ARMEES, ACSS}, "MK-LINK": {ACSS}})
    numbers = {civil_open.number: {DECLARANT, ADMIN} | NATIONAL_CIVIL,
               closed.number: {DECLARANT, ADMIN} | NATIONAL_CIVIL,
               draft.number: {DECLARANT},
               mil_hfds.number: military_base | {HFDS, ARS_IDF, ADMIN},
               mil_acss.number: military_base | {ACSS, ARS_IDF, ADMIN},
               mil_open.number: military_base | {ARS_IDF, ADMIN}}
    allowed.update(numbers)
    # The name is also a directory fact: the inbox's structure filter and the owner's page list every structure.
    allowed["MK-BEGIN-NAME"] = military_base | {HFDS, ACSS, ARS_IDF, ADMIN, DGS, PROCESSUS}
    for marker in ("MK-BEGIN-CITY", "mk-begin-mail", "MK-BEGIN-SPHONE"):  # the ARS_IDF's summary: not these
        allowed[marker] = military_base | {HFDS, ACSS, ADMIN}
    return {"dossiers": [civil_open, closed, draft, mil_hfds, mil_acss, mil_open], "allowed": allowed,
            "civil_open": civil_open, "closed": closed, "draft": draft, "mil_hfds": mil_hfds,
            "mil_acss": mil_acss, "mil_open": mil_open}


def _journal(civil: Dossier, military: Dossier) -> None:
    """Journal entries with markers: notes by an analyst and by the declarant, indicators, a file, a link."""
    journal.add_note(civil, user=user(ACSS), kind="appel", text="MK-CIVA-JNOTE appel interne")
    journal.add_note(civil, user=user(DECLARANT), kind="note", text="MK-CIVA-DNOTE serveurs relancés")
    journal.add_attachment(civil, user=user(ACSS), stream=io.BytesIO(b"MK-CIVA-FILE contenu"),
                           filename="MK-CIVA-FILE.txt")
    observables.add(civil, "ip", IOC, user=user(ACSS), source="analyste", comment="MK-CIVA-IOC serveur C2")
    journal.add_note(military, user=user(ARMEES), kind="decision", text="MK-MILA-JNOTE décision")
    observables.add(military, "ip", IOC, user=user(ARMEES), source="analyste", comment="MK-MILA-IOC serveur C2")
    links.add_link(civil, military, user=user(ACSS), reason="MK-LINK même serveur C2")


def _urls(dossiers) -> list[str]:
    """Every route that shows dossier data, for every dossier, task, step and message."""
    begin = structure_of(DECLARANT_BEGIN).id
    urls = ["/dossiers", "/dossiers?q=MK", "/dossiers?q=SSI", "/dossiers?type=rancongiciel&etat=clôturé",
            "/dossiers?qualification=grave", "/boite", f"/boite?structure={begin}", "/boite?type=rancongiciel",
            "/boite?tri=dossier&qualification=aucune", "/audit/", "/audit/?q=MK", "/audit/export.csv",
            "/audit/export.xes", "/audit/export.csv?donnees_personnelles=1&du=2026-01-01&au=2026-12-31",
            "/admin/outbox/", "/admin/outbox/journal", "/admin/", "/declarer", f"/indicateurs?valeur={IOC}"]
    for dossier in dossiers:
        urls += [f"/dossiers/{dossier.id}", f"/dossiers/{dossier.id}/diagram.bpmn",
                 f"/declarer/{dossier.id}/confirmation", f"/audit/dossiers/{dossier.number}",
                 f"/audit/dossiers/{dossier.number}/diagramme.bpmn",
                 f"/audit/dossiers/{dossier.number}/etapes?etape=1",
                 f"/audit/export.xes?dossier={dossier.number}&donnees_personnelles=1",
                 f"/audit/export.csv?dossier={dossier.number}"]
        last = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.instance_id == dossier.instance_id))
        urls += [f"/audit/dossiers/{dossier.number}/etapes/{n}" for n in range(1, last + 1)]
    urls += [f"/taches/{t}" for t in db.session.scalars(select(TaskRow.id).order_by(TaskRow.created_at))]
    urls += [f"/dossiers/{e.dossier_id}/pieces/{e.id}" for e in db.session.scalars(select(JournalEntry))]
    urls += [f"/admin/outbox/{m}" for m in db.session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id))]
    return urls


def _crawl(client, urls) -> dict:
    """Each role's responses: {(email, url): (status, text)}."""
    seen = {}
    for email in ROLES:
        login(client, email)
        for url in urls:
            response = client.get(url)
            # A form's example value (placeholder="SSI-2026-00001") is no dossier data.
            text = re.sub(r'placeholder="[^"]*"', "", response.get_data(as_text=True))
            seen[(email, url)] = (response.status_code, text)
    return seen


def test_no_marker_leaks_and_each_role_sees_its_own(client, world):
    urls = _urls(world["dossiers"])
    seen = _crawl(client, urls)
    leaks = [(email, url, marker) for (email, url), (status, text) in seen.items()
             for marker, allowed in world["allowed"].items() if marker in text and email not in allowed]
    errors = [(email, url, status) for (email, url), (status, _) in seen.items() if status >= 500]
    assert not errors, errors
    assert not leaks, "fuites :\n" + "\n".join(f"{e} {u} -> {m}" for e, u, m in leaks)

    def text(email, url):
        status, body = seen[(email, url)]
        assert status == 200, (email, url, status)
        return body

    w = world
    must_see = [
        (DECLARANT, f"/dossiers/{w['civil_open'].id}", "MK-CIVA-DECL"),   # their own declaration
        (DECLARANT, f"/dossiers/{w['draft'].id}", "MK-DRAFT-DECL"),       # their draft
        (DECLARANT, f"/declarer/{w['civil_open'].id}/confirmation", w["civil_open"].number),
        (DECLARANT_BEGIN, f"/dossiers/{w['mil_hfds'].id}", "MK-MILH-DECL"),
        (ACSS, f"/dossiers/{w['civil_open'].id}", "MK-CIVA-NOTE"),
        (ACSS, f"/dossiers/{w['mil_acss'].id}", "MK-MILA-SYNTH"),
        (HFDS, f"/dossiers/{w['mil_hfds'].id}", "MK-MILH-SYNTH"),
        (ARMEES, f"/dossiers/{w['mil_hfds'].id}", "MK-MILH-SYNTH"),
        (ARMEES, f"/dossiers/{w['mil_acss'].id}", "MK-MILA-SYNTH"),
        (ARMEES, "/boite", w["mil_open"].number),
        (ARS_BRETAGNE, f"/dossiers/{w['closed'].id}", "MK-CIVB-NOTE"),
        (ARS_IDF, "/dossiers", w["mil_hfds"].number),
        (ARS_IDF, f"/dossiers/{w['mil_hfds'].id}", access.STANDARD_MESSAGE),
        (ARS_IDF, f"/dossiers/{w['mil_hfds'].id}", access.CARE_ALERT),
        (ARS_IDF, f"/dossiers/{w['mil_hfds'].id}", access.CARE_ALERT_ACTION),
        (ARS_IDF, f"/dossiers/{w['mil_hfds'].id}", "MK-BEGIN-NAME"),
        (ARS_IDF, f"/dossiers/{w['mil_hfds'].id}", structure_of(DECLARANT_BEGIN).finess_et),
        (ARS_IDF, "/dossiers", "MK-BEGIN-NAME"),
        (ARS_IDF, "/dossiers", f"FINESS {structure_of(DECLARANT_BEGIN).finess_et}, "
                               f"département {structure_of(DECLARANT_BEGIN).department}"),
        (DGS, "/dossiers", w["closed"].number),
        (AUDITEUR, f"/audit/dossiers/{w['closed'].number}/etapes/2", "MK-CIVB-DECL"),
        (AUDITEUR, "/audit/export.csv", w["closed"].number),
        (ADMIN, "/admin/outbox/", w["mil_hfds"].number),
        (ACSS, f"/dossiers/{w['civil_open'].id}", "MK-CIVA-JNOTE"),
        (DECLARANT, f"/dossiers/{w['civil_open'].id}", "MK-CIVA-DNOTE"),
        (ARS_BRETAGNE, f"/dossiers/{w['civil_open'].id}", "MK-CIVA-IOC"),
        (ARMEES, f"/dossiers/{w['mil_acss'].id}", "MK-MILA-JNOTE"),
        (ACSS, f"/dossiers/{w['mil_acss'].id}", "MK-LINK"),
        (ACSS, f"/indicateurs?valeur={IOC}", w["mil_acss"].number),
        (ARS_BRETAGNE, f"/indicateurs?valeur={IOC}", w["civil_open"].number),
        (HFDS, f"/dossiers/{w['civil_open'].id}/pieces/"
               f"{db.session.scalar(select(JournalEntry.id).where(JournalEntry.kind == 'piece_jointe'))}",
         "MK-CIVA-FILE"),
    ]
    missing = [(e, u, m) for e, u, m in must_see if str(escape(m)) not in text(e, u)]
    assert not missing, missing
    # The process owner's administration page shows versions and counts, no account (issue 20, least privilege);
    # the administrator's lists them.
    accounts = [a for a in db.session.scalars(select(User)) if a.email != PROCESSUS]
    owner_page, admin_page = text(PROCESSUS, "/admin/"), text(ADMIN, "/admin/")
    assert [a.email for a in accounts if a.email in owner_page or str(escape(a.name)) in owner_page] == []
    assert all(a.email in admin_page for a in accounts)
    assert f'<dd id="departement-dossier">{structure_of(DECLARANT_BEGIN).department}</dd>' in \
        text(ARS_IDF, f"/dossiers/{w['mil_hfds'].id}")
    # The declarant sees the request made to them, not the analyst's note that came with it.
    task = scenarios.ready_task(w["civil_open"], "p3_complement")
    assert "MK-CIVA-QUESTION" in text(DECLARANT, f"/taches/{task.id}")
    # On the fiche de suivi a declarant finds the messages addressed to them, not the internal ones.
    fiche = text(DECLARANT, f"/dossiers/{w['closed'].id}")
    for message in db.session.scalars(select(OutboxMessage).where(OutboxMessage.dossier_id == w["closed"].id)):
        shown = str(escape(message.subject)) in fiche
        assert shown == ("declarant" in message.recipient_roles), (message.kind, message.recipient_roles)
    # Restricted content is replaced for those who may see the rest of the step (none here but the
    # addressees), and an admin sees the metadata of a military message, not its body.
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dossier_id == w["mil_hfds"].id,
                                                            OutboxMessage.kind == "information_armees"))
    page = text(ADMIN, f"/admin/outbox/{message.id}")
    assert str(escape(message.subject)) in page and "MK-MILH-SYNTH" not in page and "corps-masque" in page


def _without_token(page: str) -> str:
    """A page with its CSRF token values blanked."""
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', page)


def test_foreign_and_missing_answer_the_same(client, world):
    military = world["mil_hfds"]
    task = scenarios.ready_task(world["mil_open"], "mil_traiter")
    pairs = [(DGS, f"/dossiers/{military.id}", "/dossiers/99999999"),
             (ACSS, f"/dossiers/{world['draft'].id}/diagram.bpmn", "/dossiers/99999999/diagram.bpmn"),
             (ACSS, f"/taches/{task.id}", "/taches/00000000-0000-0000-0000-000000000000"),
             (DECLARANT_METZ, f"/declarer/{world['civil_open'].id}/confirmation", "/declarer/99999999/confirmation"),
             (AUDITEUR, f"/audit/dossiers/{military.number}", "/audit/dossiers/SSI-2026-99999"),
             (AUDITEUR, f"/audit/dossiers/{military.number}/etapes/1", "/audit/dossiers/SSI-2026-99999/etapes/1"),
             (AUDITEUR, f"/audit/export.csv?dossier={military.number}", "/audit/export.csv?dossier=SSI-2026-99999")]
    for email, foreign, missing in pairs:
        login(client, email)
        client.get("/nulle-part")  # shows (and consumes) the welcome message once
        a, b = client.get(foreign), client.get(missing)
        assert a.status_code == b.status_code == 404, (email, foreign, a.status_code, b.status_code)
        # Identical but for the CSRF token, which Flask-WTF signs with the current second.
        assert _without_token(a.get_data(as_text=True)) == _without_token(b.get_data(as_text=True)), (email, foreign)
        assert "hors de votre périmètre" in a.get_data(as_text=True)
    login(client, ADMIN)
    assert client.get("/admin/outbox/99999999").status_code == 404
    assert post(client, "/admin/outbox/99999999/renvoyer").status_code == 404


@pytest.mark.parametrize("query", ["au=9999-12-31", "du=0001-01-01", "du=2026-02-30", "au=demain", "du=1-1-1"])
def test_export_dates_out_of_range_are_a_french_400(client, app, query):
    login(client, AUDITEUR)
    page = client.get(f"/audit/export.csv?{query}")
    assert page.status_code == 400 and "Date invalide" in page.text and "Traceback" not in page.text
    api = client.get(f"/audit/export.xes?{query}", headers={"Accept": "application/json"})
    assert api.status_code == 400 and api.json["statut"] == 400 and "AAAA-MM-JJ" in api.json["message"]
    assert client.get("/audit/export.csv?du=2026-01-01&au=2026-12-31").status_code == 200


def test_a_national_body_reads_a_military_dossier_once_the_armees_address_it(app, clock):
    clock.set(scenarios.MONDAY_MORNING)
    steps = _military("MILX", "hfds", "non_protege")
    dossier = _drive(clock, DECLARANT_BEGIN, steps, until="mil_traiter")
    assert dossier.addressed_to is None
    hfds = db.session.scalar(select(User).where(User.email == HFDS))
    assert not access.can_read(hfds, dossier)
    row = scenarios.ready_task(dossier, "mil_traiter")
    commands.complete_task(row.id, dict(steps)["mil_traiter"], scenarios.actor_for(row))
    assert access.can_read(hfds, db.session.get(Dossier, dossier.id))


def test_restricted_fields_read_as_such_by_anyone_but_their_addressees(app, clock):
    clock.set(scenarios.MONDAY_MORNING)
    dossier = _drive(clock, DECLARANT_BEGIN, _military("MILR", "hfds", "diffusion_restreinte"))
    data = {"synthese_armees": "MK-MILR-SYNTH", "niveau_confidentialite": "diffusion_restreinte"}
    for email, sees in ((ARMEES, True), (HFDS, True), (ACSS, False), (DECLARANT_BEGIN, False), (DGS, False)):
        shown = access.redact(data, dossier, user(email))["synthese_armees"]
        assert shown == ("MK-MILR-SYNTH" if sees else access.RESTRICTED_TEXT), email
    public = _drive(clock, DECLARANT_BEGIN, _military("MILP", "hfds", "non_protege"))
    assert access.redact(data, public, user(ACSS)) == data  # not restricted: nothing replaced


def test_upgrade_takes_the_armees_choice_of_dossiers_handled_before_it(app, clock):
    """Migration 0009 fills the addressee of military dossiers from the audit log of the armées' task."""
    clock.set(scenarios.MONDAY_MORNING)
    handled = _drive(clock, DECLARANT_BEGIN, _military("MILU", "hfds", "diffusion_restreinte")).id
    waiting = _drive(clock, DECLARANT_BEGIN, _military("MILW", "acss", "non_protege"), until="mil_traiter").id
    db.session.execute(update(Dossier).values(addressed_to=None, restricted=False))  # as before the upgrade
    db.session.commit()
    spec = importlib.util.spec_from_file_location("m0009", migrate.MIGRATIONS / "versions" / "0009_visibility.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with db.engine.begin() as connection, Operations.context(MigrationContext.configure(connection)):
        migration._backfill()
    db.session.expire_all()
    found = {d.id: (d.addressed_to, d.restricted) for d in db.session.scalars(select(Dossier))}
    assert found[handled] == ("hfds", True) and found[waiting] == (None, False)


def test_worklists_filter_tasks_by_dossier_visibility_in_sql(client, world):
    """A task row of a national role, or of the region's ARS, on a dossier it may not read (a military hospital's,
    a draft) stays out of its worklist and task page, though the row says nothing of it (not flagged civil)."""
    hidden = world["mil_open"]
    template = scenarios.ready_task(hidden, "mil_traiter")
    logins = {"acss": ACSS, "hfds": HFDS, "dgs": DGS, "ars": ARS_IDF, "ars-draft": ARS_BRETAGNE}
    assert (hidden.region, world["draft"].region) == ("Île-de-France", "Bretagne")
    for n, (role, dossier) in enumerate((("acss", hidden), ("hfds", world["mil_acss"]), ("dgs", world["draft"]),
                                         ("ars", hidden), ("ars-draft", world["draft"]))):
        login(client, logins[role])
        role = role.partition("-")[0]
        row = TaskRow(id=f"00000000-0000-0000-0000-00000000000{n}", instance_id=dossier.instance_id,
                      dossier_id=dossier.id, spec_name="p2_ouvrir", title=f"Tâche {role} hors périmètre",
                      role=role, status="ready", region=dossier.region, structure_id=dossier.structure_id,
                      created_at=template.created_at)
        db.session.add(row)
        db.session.commit()
        assert f"Tâche {role} hors périmètre" not in client.get("/boite").text
        assert client.get(f"/taches/{row.id}").status_code == 404
        db.session.delete(row)
        db.session.commit()
    login(client, ACSS)  # the same kind of row on a dossier it reads is listed: the filter is not "nothing"
    db.session.add(TaskRow(id="00000000-0000-0000-0000-0000000000aa", instance_id=world["mil_acss"].instance_id,
                           dossier_id=world["mil_acss"].id, spec_name="p2_ouvrir", title="Tâche acss adressée",
                           role="acss", status="ready", region="Île-de-France", structure_id=hidden.structure_id,
                           created_at=template.created_at))
    db.session.commit()
    assert "Tâche acss adressée" in client.get("/boite").text
    login(client, ARS_BRETAGNE)  # and an unflagged ARS row on a civil dossier of its region
    civil = world["civil_open"]
    db.session.add(TaskRow(id="00000000-0000-0000-0000-0000000000ab", instance_id=civil.instance_id,
                           dossier_id=civil.id, spec_name="p2_ouvrir", title="Tâche ars de la région", role="ars",
                           status="ready", region=civil.region, structure_id=civil.structure_id,
                           created_at=template.created_at))
    db.session.commit()
    assert "Tâche ars de la région" in client.get("/boite").text
