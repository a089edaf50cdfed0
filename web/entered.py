"""What people entered, as HTML: the label/value lists of the fiche's timeline, the task pages and the declaration.

Functions rather than Jinja macros: the fiche shows each command's entries, and a macro call per value cost more
than the rest of the timeline. Values come from web.forms.readable: text or a number (shown as typed), an object
({"pairs": [(label, value)]}) or a list of values; anything else is written as text. Everything is escaped."""
from __future__ import annotations

from collections.abc import Mapping
from numbers import Number

from markupsafe import Markup, escape


def context_list(items, cls: str = "contexte") -> Markup:
    """A <dl> of (label, value) pairs."""
    rows = "".join(f"\n  <dt>{escape(label)}</dt><dd>{show_value(value)}</dd>" for label, value in items or ())
    return Markup(f'<dl class="{escape(cls)}">{rows}\n</dl>')


def show_value(value) -> Markup:
    """One value: text in a span, an object as a nested list of its pairs, a list item by item."""
    if isinstance(value, (str, Number)):
        return Markup(f'<span class="texte-saisi">{escape(value)}</span>')
    if isinstance(value, Mapping):
        return context_list(value.get("pairs", ()))
    if isinstance(value, (list, tuple)):
        return Markup(f'<ul class="valeurs">{"".join(f"<li>{show_value(v)}</li>" for v in value)}</ul>')
    return escape(value)
