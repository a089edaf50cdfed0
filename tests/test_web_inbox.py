"""The inbox: scope, filters, sorting, counts, claim and release, overdue marks, pagination at volume."""
from __future__ import annotations

import re

from sqlalchemy import event, func, select
from sqlalchemy.dialects import postgresql
from werkzeug.datastructures import MultiDict
from bench.volume import add_open_dossiers

from cli import scenarios
from models import Dossier, Structure, TaskRow, User, db
from models import kept as memo
from test_web_support import ACSS, ARS_BRETAGNE, ARS_GRANDEST, login, open_task, post, user
from web.casework import inbox
from web.casework.inbox import COUNT_CAP, inbox_page


def test_filters_counts_claim_and_release(client, clock):
    rennes, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    metz, _ = scenarios.run("grave_ars", clock, until="p2_ouvrir")
    login(client, ACSS)
    page = client.get("/boite").text
    assert rennes.number in page and metz.number in page
    assert 'id="compteur-total">2<' in page
    page = client.get("/boite?region=Grand+Est").text
    assert metz.number in page and rennes.number not in page
    page = client.get("/boite?type=hameconnage").text
    assert metz.number in page and rennes.number not in page
    assert rennes.number in client.get("/boite?qualification=aucune").text
    assert "Aucune tâche" in client.get("/boite?qualification=grave").text
    assert "Aucune tâche" in client.get("/boite?tache=p6_retex").text
    # Overdue: the opening target is 4 working hours.
    clock.advance(days=3)
    page = client.get("/boite?echeance=retard").text
    assert "En retard" in page and 'id="compteur-retard">2<' in page
    row = open_task(rennes.id, "p2_ouvrir")
    assert post(client, f"/taches/{row.id}/prendre").status_code == 302
    assert open_task(rennes.id, "p2_ouvrir").claimed_by == user(ACSS).id
    page = client.get("/boite?prise=moi").text
    assert rennes.number in page and metz.number not in page
    assert post(client, f"/taches/{row.id}/liberer").status_code == 302
    assert open_task(rennes.id, "p2_ouvrir").claimed_by is None
    assert rennes.number in client.get("/boite?prise=libres&tri=dossier").text
    # Bad filter values are ignored, never a 500.
    assert client.get("/boite?page=abc&tri=x&echeance=y&region=Mars").status_code == 200


def test_each_row_says_who_holds_its_task(client, clock):
    """The reader's own task: « Moi » and the release form; a colleague's: their name and no form (even a colleague
    whose name is « moi »); a free task: the take form. Each form names the task and the dossier for screen readers."""
    mine, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    theirs, _ = scenarios.run("grave_ars", clock, until="p2_ouvrir")
    free, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    colleague = user(ARS_BRETAGNE)
    colleague.name = "moi"
    open_task(mine.id, "p2_ouvrir").claimed_by = user(ACSS).id
    open_task(theirs.id, "p2_ouvrir").claimed_by = colleague.id
    db.session.commit()
    login(client, ACSS)
    page = client.get("/boite").text
    rows = {number: re.search(rf'{number}</a>.*?</tr>', page, re.S).group(0) for number in
            (mine.number, theirs.number, free.number)}
    assert "Moi" in rows[mine.number] and f"/taches/{open_task(mine.id, 'p2_ouvrir').id}/liberer" in rows[mine.number]
    assert "Libérer<span class=\"sr\"> la tâche" in rows[mine.number] and mine.number in rows[mine.number]
    assert re.search(r'data-label="Attribution">\s*moi\s*</td>', rows[theirs.number])
    assert "<form" not in rows[theirs.number]
    assert f"/taches/{open_task(free.id, 'p2_ouvrir').id}/prendre" in rows[free.number]
    assert "Prendre<span" in rows[free.number] and "Moi" not in rows[free.number]


def test_ars_inbox_is_limited_to_its_region(client, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    login(client, ARS_BRETAGNE)
    assert dossier.number in client.get("/boite").text  # the ARS choice of support
    login(client, ARS_GRANDEST)
    assert dossier.number not in client.get("/boite").text


def test_kept_statements_bind_the_instant_and_read_no_data(app, client, clock):
    """An inbox page keeps its statements for the next page of the same shape (inbox._statements): the instant is
    bound at each execution, the rows are read each time, and another user, or the same one moved to another
    region, never gets a statement built for someone else."""
    memo.forget()
    rennes, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    login(client, ACSS)
    page = client.get("/boite").text
    assert rennes.number in page and 'id="compteur-total">1<' in page and 'id="compteur-retard">0<' in page
    shapes = memo.size("inbox")
    assert shapes == 1  # the first page's rows with the counts, in one statement
    clock.advance(days=3)  # the opening target (4 working hours) passes: same statements, a later instant
    page = client.get("/boite").text
    assert 'id="compteur-retard">1<' in page and memo.size("inbox") == shapes
    metz, _ = scenarios.run("grave_ars", clock, until="p2_ouvrir")  # new rows, read by the kept statements
    page = client.get("/boite").text
    assert metz.number in page and 'id="compteur-total">2<' in page and memo.size("inbox") == shapes
    # The ARS of Brittany, then of Grand Est, then the Breton agent moved to Grand Est: each their own statements.
    choice, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    login(client, ARS_BRETAGNE)
    assert choice.number in client.get("/boite").text
    login(client, ARS_GRANDEST)
    assert choice.number not in client.get("/boite").text
    login(client, ARS_BRETAGNE)
    breton = user(ARS_BRETAGNE)
    breton.region = "Grand Est"
    db.session.commit()
    assert choice.number not in client.get("/boite").text


def _ordered(rows) -> list:
    """Task rows in the inbox's default order: by priority (highest first), due date (none last), creation, id."""
    return sorted(rows, key=lambda t: (-t.priority, t.due_at is None, t.due_at or t.created_at, t.created_at, t.id))


def test_pages_counts_and_scope_at_volume(app, clock):
    """Thousands of open dossiers: totals, overdue and claimed counts, order, the last page, the
    filters that need the dossier (incident type) and the ARS's region scope all stay exact.
    (How fast these pages are at volume is measured by bench/inbox.py.)"""
    now = clock.now()
    add_open_dossiers(3_000, now)
    acss = user(ACSS)
    ready = db.session.scalars(select(TaskRow).where(TaskRow.status == "ready", TaskRow.role == "acss")).all()
    ready[7].claimed_by = acss.id
    db.session.commit()
    overdue = sum(1 for t in ready if t.due_at is not None and t.due_at < now)
    # Exact counts (what the API returns, and what a page past the cap needs).
    exact = inbox_page(acss, MultiDict(), now, exact=True)
    assert (exact["total"], exact["total_more"]) == (len(ready), False) and len(ready) == 2_000
    assert exact["overdue"] == overdue > 0 and exact["mine"] == 1
    # The page's counts stop at COUNT_CAP (1,000) and say so; « prises par moi » stays exact.
    result = inbox_page(acss, MultiDict(), now)
    assert (result["total"], result["total_more"], result["pages"]) == (COUNT_CAP, True, COUNT_CAP // 25)
    assert (result["overdue"], result["overdue_more"]) == (min(overdue, COUNT_CAP), overdue > COUNT_CAP)
    assert result["mine"] == 1
    # The holder's name comes with the rows (the page shows it); a task nobody holds has none.
    mine = inbox_page(acss, MultiDict({"prise": "moi"}), now)
    assert [t.id for t, _ in mine["rows"]] == [ready[7].id] and mine["claimers"] == {acss.id: acss.name}
    assert all(t.claimed_by in result["claimers"] for t, _ in result["rows"] if t.claimed_by)
    expected = _ordered(ready)
    assert [t.id for t, _ in result["rows"]] == [t.id for t in expected[:25]]
    assert all(d.id == t.dossier_id for t, d in result["rows"])
    assert result["structures"] == {d.structure_id: db.session.get(Structure, d.structure_id).name
                                    for _, d in result["rows"]}
    # A page within the cap keeps its number and offers the next one; past the cap the count is exact again.
    fortieth = inbox_page(acss, MultiDict({"page": "40"}), now)
    assert (fortieth["page"], fortieth["total_more"]) == (40, True)
    assert [t.id for t, _ in fortieth["rows"]] == [t.id for t in expected[39 * 25:40 * 25]]
    forty_first = inbox_page(acss, MultiDict({"page": "41"}), now)
    assert (forty_first["total"], forty_first["total_more"], forty_first["pages"]) == (2_000, False, 80)
    assert [t.id for t, _ in forty_first["rows"]] == [t.id for t in expected[40 * 25:41 * 25]]
    last = inbox_page(acss, MultiDict({"page": "9999"}), now)
    assert last["page"] == last["pages"] == 80
    assert [t.id for t, _ in last["rows"]] == [t.id for t in expected[79 * 25:]]
    # A filter on the dossier (incident type) joins it: same count as the rows say.
    kinds = dict(db.session.execute(select(Dossier.id, Dossier.incident_types)).all())
    ransomware = [t for t in ready if "rancongiciel" in kinds[t.dossier_id]]
    typed = inbox_page(acss, MultiDict({"type": "rancongiciel", "tri": "dossier"}), now)
    assert typed["total"] == len(ransomware) > 0
    numbers = [d.number for _, d in typed["rows"]]
    assert numbers == sorted(numbers)
    # The ARS sees its own region's tasks only.
    ars = inbox_page(user(ARS_BRETAGNE), MultiDict(), now)
    assert ars["total"] == db.session.scalar(select(func.count()).select_from(TaskRow).where(
        TaskRow.status == "ready", TaskRow.role == "ars", TaskRow.region == "Bretagne")) > 0
    assert {d.region for _, d in ars["rows"]} == {"Bretagne"}


def test_counts_past_the_cap_are_written_as_such(client, clock, monkeypatch):
    """Past the cap the inbox writes « plus de … » for the total and the pages and still offers the next page;
    the page after the cap counts exactly again and knows its last page."""
    monkeypatch.setattr(inbox, "COUNT_CAP", 50)
    add_open_dossiers(90, clock.now())  # 60 open tasks for the Cellule ACSS
    login(client, ACSS)
    first = client.get("/boite").text
    assert 'id="compteur-total">plus de 50<' in first
    assert "Page 1 sur plus de 2" in first and 'href="/boite?page=2"' in first
    second = client.get("/boite?page=2").text
    assert "Page 2 sur plus de 2" in second and 'href="/boite?page=3"' in second
    third = client.get("/boite?page=3").text
    assert 'id="compteur-total">60<' in third and "Page 3 sur 3" in third and "Page suivante" not in third
    assert third.count('class="numero"') == 10


def test_a_national_worklist_counts_total_and_overdue_in_one_capped_scan(app, clock, monkeypatch):
    """A national body's unfiltered worklist reads its first COUNT_CAP + 1 tasks in due-date order once for both
    counts: around every boundary (fewer overdue tasks than the cap, as many, more; the total likewise) they are the
    exact counts capped, as the two scans of a filtered page give them."""
    add_open_dossiers(90, clock.now())
    acss = user(ACSS)
    due = sorted(db.session.scalars(select(TaskRow.due_at).where(TaskRow.status == "ready", TaskRow.role == "acss",
                                                                 TaskRow.due_at.is_not(None))))
    now = due[len(due) // 3]  # a third of the due tasks are late at that instant
    exact = inbox_page(acss, MultiDict(), now, exact=True)
    total, overdue = exact["total"], exact["overdue"]
    assert 0 < overdue < total
    for cap in sorted({1, overdue - 1, overdue, overdue + 1, total - 1, total, total + 1} - {0}):
        monkeypatch.setattr(inbox, "COUNT_CAP", cap)
        memo.forget()  # the cap is written into the kept statements
        page = inbox_page(acss, MultiDict(), now, page_size=1)  # a first page within every cap
        assert (page["total"], page["total_more"]) == (min(total, cap), total > cap), cap
        assert (page["overdue"], page["overdue_more"]) == (min(overdue, cap), overdue > cap), cap
    memo.forget()


def test_french_numbers():
    from web import french_number
    assert french_number(32111) == "32\u202f111" and french_number(999) == "999" and french_number("x") == "x"


def test_pagination_links_keep_the_filters(app, client, clock):
    rennes = db.session.scalar(select(Structure).where(Structure.region == "Bretagne"))
    add_open_dossiers(150, clock.now(), structures=[rennes])  # 100 open tasks for the ACSS: 4 pages
    login(client, ACSS)
    page = client.get("/boite?region=Bretagne&tri=echeance").text
    assert "Page 1 sur" in page and "Page précédente" not in page
    assert 'href="/boite?region=Bretagne&amp;tri=echeance&amp;page=2"' in page
    second = client.get("/boite?region=Bretagne&tri=echeance&page=2").text
    assert "Page 2 sur" in second and 'href="/boite?region=Bretagne&amp;tri=echeance&amp;page=1"' in second


def test_taking_a_task_opens_it_and_the_dossier_list_shows_priorities(client, clock):
    """« Prendre » from the inbox opens the task; the dossier list carries the inbox's priority markers, for the
    ARS of the region too."""
    from test_web_support import ARS_BRETAGNE, post
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    row = open_task(dossier.id, "p2_ouvrir")
    login(client, ACSS)
    taken = post(client, f"/taches/{row.id}/prendre", {"retour": "/boite"})
    assert taken.status_code == 302 and taken.location.endswith(f"/taches/{row.id}")
    page = client.get(taken.location).text
    assert "Vous avez pris en charge" in page
    markers = re.findall(r'<ul class="marqueurs"', client.get("/boite").text)
    assert markers
    for email in (ACSS, ARS_BRETAGNE):
        login(client, email)
        listing = client.get("/dossiers").text
        row_html = listing.split(dossier.number)[1].split("</tr>")[0]
        assert '<ul class="marqueurs"' in row_html and "Impact sur les soins" in row_html, email


def test_the_engine_flags_the_tasks_of_civil_dossiers_only(app, clock):
    """TaskRow.civil lets the national worklists skip the military check: the engine sets it on the tasks of
    civil dossiers and never on a military hospital's (an unflagged row is still checked: test_visibility_matrix)."""
    civil, _ = scenarios.run("grave_acss", clock, until="p3_qualifier")
    military, _ = scenarios.run("militaire_impact_soins", clock, until="mil_traiter")
    flags = {dossier.id: {t.civil for t in db.session.scalars(select(TaskRow).where(TaskRow.dossier_id == dossier.id))}
             for dossier in (civil, military)}
    assert flags == {civil.id: {True}, military.id: {False}}


def test_row_links_are_the_addresses_url_for_builds(app):
    """link_to (one url_for per list, web/__init__.py) gives the same addresses as url_for for every row."""
    from flask import url_for
    from web import link_to
    with app.test_request_context("/boite"):
        for endpoint, argument, value in (("dossiers.show", "dossier_id", 42), ("tasks.task", "task_id",
                                          "0f8e2a3c-1d2b-4c5d-8e9f-a0b1c2d3e4f5"), ("tasks.claim", "task_id", "a b/c")):
            assert link_to(endpoint, argument)(value) == url_for(endpoint, **{argument: value})


def test_the_task_filter_follows_a_version_activated_in_this_process(app, client):
    """The task filter's choices are kept per process, but a version activated here is offered at once."""
    from test_validation import SHIPPED
    from workflow import deployment
    login(client, ACSS)
    assert "ouvrir le dossier de traitement (tâches B et C)" in client.get("/boite").text
    deployment.deploy_xml(SHIPPED.replace("ouvrir le dossier de traitement (tâches B et C)",
                                          "ouvrir le dossier (tâches B et C)"), actor="essai", filename="autre.bpmn")
    page = client.get("/boite").text
    assert "ouvrir le dossier (tâches B et C)" in page and "ouvrir le dossier de traitement" not in page


def test_kept_statements_carry_their_values_but_not_what_a_user_typed(app, client, clock):
    """The kept statements have their values written into their SQL (so PostgreSQL plans them once), except the
    instant, given at each execution, and the task filter's text, which a user types: it stays a parameter, and a
    hostile one is just a filter that matches nothing."""
    memo.forget()
    rennes, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    login(client, ACSS)
    hostile = "p2_ouvrir' OR '1'='1"
    page = client.get("/boite", query_string={"tache": hostile})
    assert page.status_code == 200 and "Aucune tâche" in page.text and rennes.number not in page.text
    assert rennes.number in client.get("/boite?tache=p2_ouvrir").text
    kept = [statement[0] if isinstance(statement, tuple) else statement
            for key, statement in memo._kept.items() if key[0] == "inbox"]
    # The hostile filter's page (no row) and then its counts alone; the plain filter's page, counts included.
    assert len(kept) == 3
    typed = 0
    for statement in kept:
        compiled = statement.compile(dialect=postgresql.dialect())  # SQLite adds an OFFSET parameter of its own
        assert hostile not in str(compiled)
        parameters = {name for name, bind in compiled.binds.items() if not bind.literal_execute}
        assert parameters <= {"_now", "_tache", "_me"} and len(compiled.binds) > len(parameters)
        typed += compiled.params.get("_tache") == hostile
    assert typed == 2
    assert db.session.scalar(select(func.count()).select_from(TaskRow)) > 0


def test_the_rows_hold_every_column_the_page_reads(app, client, clock, monkeypatch):
    """The inbox reads its rows as plain named rows (inbox.TASK_ROW, DOSSIER_ROW) and writes them from the values
    inbox_lines works out: no attribute the analysts' or a declarant's page reads of either may be missing (in the
    template, a missing one would be a blank, not an error), and a column left out of the statement fails the page
    instead of leaving a cell empty."""
    from jinja2 import Undefined
    missing = []

    class Watched(Undefined):
        def __init__(self, hint=None, obj=None, name=None, exc=None):
            if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # inbox.NamedRows' rows
                missing.append(name)
            super().__init__(hint, obj, name, exc)

    monkeypatch.setattr(app.jinja_env, "undefined", Watched)
    memo.forget()
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    draft = scenarios.run("grave_acss", clock, until="p1_impact")[0]
    login(client, ACSS)
    row = open_task(dossier.id, "p2_ouvrir")
    assert post(client, f"/taches/{row.id}/prendre").status_code == 302
    assert dossier.number in client.get("/boite").text
    from test_web_support import DECLARANT
    login(client, DECLARANT)
    assert draft.number in client.get("/boite").text
    assert missing == []
    # The check sees a column left out (the statement is kept: forget it before and after).
    monkeypatch.setattr(inbox, "TASK_ROW", inbox.NamedRows("task", *[c for c in inbox.TASK_ROW.exprs
                                                                     if c.key != "title"]))
    memo.forget()
    login(client, ACSS)
    try:
        assert client.get("/boite").status_code == 500  # the error page; the AttributeError is in the log
    finally:
        memo.forget()


def test_a_value_with_a_quote_written_into_the_statement_still_filters(app, client, clock):
    """« Provence-Alpes-Côte d'Azur » goes into the kept statement's text (models/kept.planned_once): quoted by the
    dialect, the filter finds that region's tasks and only them, on both databases."""
    paca = Structure(name="CH d'Antibes", finess_ej="060000001", finess_et="060000019", kind="etablissement_sante",
                     region="Provence-Alpes-Côte d'Azur", department="06", city="Antibes")
    db.session.add(paca)
    db.session.commit()
    add_open_dossiers(6, clock.now(), structures=[paca])  # four open tasks for the Cellule ACSS
    add_open_dossiers(6, clock.now())
    memo.forget()
    login(client, ACSS)
    page = client.get("/boite", query_string={"region": "Provence-Alpes-Côte d'Azur"}).text
    expected = db.session.scalar(select(func.count()).select_from(TaskRow).where(
        TaskRow.status == "ready", TaskRow.role == "acss", TaskRow.region == "Provence-Alpes-Côte d'Azur"))
    assert expected > 0 and f'id="compteur-total">{expected}<' in page
    assert page.count('class="numero"') == expected


def test_the_analysts_of_one_scope_share_the_text_of_their_statements(app, clock):
    """Their id stays a parameter (inbox._me): one statement text per scope and shape, not one per analyst, so that
    psycopg's 100 prepared statements per connection are not pushed out in turn by each analyst's."""
    memo.forget()
    first = user(ACSS)
    other = User(email="second.analyste@acss.example.fr", name="Second analyste", role="acss", password_hash="x",
                 active=True)
    db.session.add(other)
    db.session.commit()
    texts, current = {}, None

    def note(conn, cursor, statement, *args):
        if current is not None:
            texts.setdefault(current, set()).add(statement)
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        for current in (first.id, other.id):
            for args in (MultiDict(), MultiDict({"prise": "moi"}), MultiDict({"prise": "autres", "tri": "echeance"})):
                assert inbox_page(first if current == first.id else other, args, clock.now())["mine"] == 0
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert texts[first.id] == texts[other.id] and len(texts[first.id]) == 6


def test_a_page_past_the_last_gives_the_last_one(app, clock):
    """A page number past the last (a bookmark, a page emptied by colleagues) gives the last page with its rows, and
    page 1 of 1 when nothing is left: the page's statement found no row, so the counts are read alone."""
    acss = user(ACSS)
    empty = inbox_page(acss, MultiDict({"page": "3"}), clock.now())
    assert (empty["rows"], empty["total"], empty["page"], empty["pages"]) == ([], 0, 1, 1)
    add_open_dossiers(60, clock.now())
    ready = db.session.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.status == "ready",
                                                                            TaskRow.role == "acss"))
    last = -(-ready // 25)
    beyond = inbox_page(acss, MultiDict({"page": str(last + 5)}), clock.now())
    assert (beyond["page"], beyond["pages"], beyond["total"]) == (last, last, ready) and ready > 25
    assert len(beyond["rows"]) == ready - (last - 1) * 25
