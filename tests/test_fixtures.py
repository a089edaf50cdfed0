"""The `app` fixture's seeded copy is what seeding a fresh database writes, row for row, sequences included."""
from __future__ import annotations

from sqlalchemy import create_engine, inspect, select, text

from app import create_app
from conftest import _app_config, _fresh_database, _seeded_database, seed
from models import User, db
from timekeeping import clock as clock_mod


def _contents(url: str) -> dict:
    """Every table's rows, in a stable order, and the id the next user would get."""
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = {}
        for name in sorted(inspect(conn).get_table_names()):
            if name == "alembic_version":
                continue
            rows = conn.execute(text(f'SELECT * FROM "{name}"')).all()
            tables[name] = sorted(tuple(str(value) for value in row) for row in rows)
    engine.dispose()
    return tables


def _next_user_id(url: str, clock) -> int:
    application = create_app(_app_config(url, clock, "/nonexistent"))
    with application.app_context():
        user = User(email="suivant@example.fr", name="Suivant", role="acss", password_hash="x")
        db.session.add(user)
        db.session.commit()
        found = db.session.scalar(select(User.id).where(User.email == "suivant@example.fr"))
        db.session.remove()
        db.engine.dispose()
    return found


def test_the_seeded_copy_equals_a_fresh_seed(database_template, seeded_template, tmp_path):
    (tmp_path / "fresh").mkdir()
    fresh = _fresh_database(database_template, tmp_path / "fresh")
    seed(create_app(_app_config(fresh, clock_mod.FrozenClock(), tmp_path / "attachments")))
    expected = _contents(fresh)
    expected_next = _next_user_id(fresh, clock_mod.FrozenClock())
    assert expected["users"] and expected["process_definitions"] and expected["deployment_events"]

    (tmp_path / "copy").mkdir()
    copied = _seeded_database(seeded_template, tmp_path / "copy")
    assert _contents(copied) == expected
    assert _next_user_id(copied, clock_mod.FrozenClock()) == expected_next
