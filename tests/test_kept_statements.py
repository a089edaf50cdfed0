"""models/kept.py: a statement is built once per key and given back as is; the memo never holds more than KEPT."""
from __future__ import annotations

from models import kept


def test_built_once_per_key_and_bounded(monkeypatch):
    monkeypatch.setattr(kept, "KEPT", 5)
    kept.forget()
    built = []

    def build(i):
        built.append(i)
        return object()

    first = kept.kept(("essai", 0), lambda: build(0))
    assert kept.kept(("essai", 0), lambda: build(0)) is first and built == [0]
    for i in range(1, 40):  # hostile keys: many shapes, never more than KEPT statements held
        kept.kept(("essai", i), lambda i=i: build(i))
        assert kept.size() <= 5
    assert kept.size("essai") == kept.size() and len(built) == 40
    kept.forget()
    assert kept.size() == 0


def test_a_long_query_string_does_not_make_a_long_key(app, client):
    """The inbox cuts each shaping value at 120 characters in its keys, as filters_from cuts « tache »."""
    from test_web_support import ACSS, login
    kept.forget()
    login(client, ACSS)
    assert client.get("/boite?tache=" + "x" * 5000 + "&region=" + "y" * 5000).status_code == 200
    keys = [key for key in list(kept._kept) if key[0] == "inbox"]
    assert keys and all(len(value) <= 120 for key in keys for value in key[3])
