"""web/entered.py: what people entered, written as HTML lists, escaped at every depth."""
from __future__ import annotations

from markupsafe import Markup

from web.entered import context_list

HOSTILE = '<script>alert("x")</script>'


def test_values_of_every_shape_are_listed_and_escaped():
    html = context_list([(HOSTILE, HOSTILE), ("Nombre", 3), ("Oui", True),
                         ("Liste", ["a", {"pairs": [("Clé " + HOSTILE, [HOSTILE])]}]), ("Rien", None)])
    assert "<script>" not in html and html.count("&lt;script&gt;") == 4
    assert isinstance(html, Markup) and html.startswith('<dl class="contexte">') and html.endswith("</dl>")
    assert '<dd><span class="texte-saisi">3</span></dd>' in html and ">True</span>" in html
    assert '<ul class="valeurs"><li><span class="texte-saisi">a</span></li><li><dl class="contexte">' in html
    assert "<dt>Rien</dt><dd>None</dd>" in html  # as the Jinja macro it replaces wrote it


def test_a_class_and_markup_given_by_the_code():
    assert context_list([], cls='x" onclick="y') == '<dl class="x&#34; onclick=&#34;y">\n</dl>'
    assert "<b>gras</b>" in context_list([("Texte", Markup("<b>gras</b>"))])
