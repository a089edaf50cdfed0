"""Least privilege (issues 18 and 20): every role's menu shows only what it may open, and the process owner sees
versions and counts, never accounts nor dossiers; the owner migrates by version and element, each migration
audited, and the single-dossier migration by number is the administrators'."""
from __future__ import annotations

import re

import pytest
from flask import url_for
from sqlalchemy import select

from cli import scenarios
from models import AuditEvent, DeploymentEvent, Dossier, ProcessInstance, User, db
from tests.test_validation import SHIPPED
from tests.test_web_support import ADMIN, PASSWORD, csrf, login
from referentiel import ROLES
from web import NAVIGATION, nav_items
from workflow import deployment

OWNER = "processus@hfds.example.fr"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def _menu(app, user) -> list[str]:
    with app.test_request_context():
        return [url_for(endpoint) for endpoint, _ in nav_items(user)]


@pytest.mark.parametrize("role", sorted(NAVIGATION))
def test_every_menu_link_of_every_role_opens_for_that_role(app, client, clock, role):
    scenarios.run("grave_acss", clock, until="p4_choix")  # dossiers and tasks to list
    users = db.session.scalars(select(User).where(User.role == role, User.active.is_(True)).order_by(User.id)).all()
    assert users, f"no demo account with the role {role}"
    for user in users:
        response = login(client, user.email, PASSWORD)
        assert response.status_code in (302, 303), user.email
        links = _menu(app, user)
        assert len(links) >= len(NAVIGATION[role])  # every link of the role's menu is registered
        page = client.get("/").get_data(as_text=True) if client.get("/").status_code == 200 else ""
        for link in links:
            response = client.get(link)
            assert response.status_code == 200, (user.email, link, response.status_code)
            if page:
                assert f'href="{link}"' in page, (user.email, link)


def test_the_process_owner_admin_page_shows_versions_and_counts_only(app, client, clock):
    civil, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    military, _ = scenarios.run("militaire_sans_impact", clock, until="mil_traiter")
    deployment.deploy_xml(SHIPPED.replace("Choisir la modalité d'appui au traitement", "Choisir la modalité"),
                          actor=OWNER, comment="libellé")
    login(client, OWNER)
    response = client.get("/admin/")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="versions"' in text
    assert "2 dossiers enregistrés" in text
    main = text.split("<main", 1)[1].split("</main>", 1)[0]  # the footer holds the FSSI's public mailbox
    assert EMAIL.search(main) is None, EMAIL.search(main).group(0)
    assert 'id="comptes"' not in text and 'action="/admin/processus/migrer"' not in text
    for dossier in (civil, military):
        assert dossier.number not in text
    owner = db.session.scalar(select(User).where(User.email == OWNER))
    for user in db.session.scalars(select(User).where(User.id != owner.id)):
        assert user.name not in text and user.email not in text, user.email
    assert f'data-label="Par">{ROLES["responsable_processus"]}<' in text  # by role, not by account
    for address in ("/admin/versions/", "/admin/versions/2"):  # the versions name the deployer by role too
        main = client.get(address).get_data(as_text=True).split("<main", 1)[1].split("</main>", 1)[0]
        assert EMAIL.search(main) is None and ROLES["responsable_processus"] in main, address
    # The administrator keeps the accounts, the deployers' addresses and the migration by number.
    login(client, ADMIN)
    text = client.get("/admin/").get_data(as_text=True)
    assert 'id="comptes"' in text and OWNER in text and 'action="/admin/processus/migrer"' in text
    assert OWNER in client.get("/admin/versions/").get_data(as_text=True)


def test_the_process_owner_migrates_by_version_and_element_and_each_migration_is_audited(app, client, clock):
    waiting_choice, _ = scenarios.run("grave_ars", clock, until="p4_choix")
    qualifying, _ = scenarios.run("b1", clock, until="p3_qualifier")
    second = deployment.deploy_xml(SHIPPED.replace("Choisir la modalité d'appui au traitement", "Choisir la modalité"),
                                   actor="test")
    login(client, OWNER)
    assert client.post("/admin/processus/migrer", data={"csrf_token": csrf(client), "dossier": waiting_choice.number,
                                                        "version": str(second.id)}).status_code == 403
    page = client.get(f"/admin/versions/1/migration?vers={second.id}").get_data(as_text=True)
    assert '<option value="p4_choix">' in page and '<option value="p3_qualifier">' in page
    refused = client.post("/admin/versions/1/migration", data={"csrf_token": csrf(client), "vers": second.id,
                                                                "minuteurs": "conserver", "element": "inconnu"},
                          follow_redirects=True)
    assert "Choisissez un élément" in refused.get_data(as_text=True)
    client.post("/admin/versions/1/migration", data={"csrf_token": csrf(client), "vers": second.id,
                                                      "minuteurs": "conserver", "element": "p4_choix"})

    def version_of(dossier):
        return db.session.scalar(select(ProcessInstance.definition_id).where(ProcessInstance.id == dossier.instance_id))
    assert (version_of(waiting_choice), version_of(qualifying)) == (second.id, 1)
    event = db.session.scalar(select(DeploymentEvent).where(DeploymentEvent.action == "migration"))
    assert event.actor == OWNER and event.details["element"] == "p4_choix" and event.details["migres"] == 1
    audited = db.session.scalar(select(AuditEvent).where(AuditEvent.instance_id == waiting_choice.instance_id)
                                .order_by(AuditEvent.seq.desc()).limit(1))
    assert audited.command == "migration" and audited.payload["to_definition"] == second.id
    assert db.session.scalar(select(Dossier.id).where(Dossier.id == qualifying.id)) is not None
