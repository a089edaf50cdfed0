"""What lists and pages show in their cells, as functions: instants in Paris time, links of a list, a dossier's
priority markers. Templates call them (web/__init__.py makes them globals and filters), and so does the inbox's
row builder (web/casework/inbox_lines.py), which may not import the package that registers every audience."""
from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from markupsafe import Markup, escape
from werkzeug.routing import BaseConverter

from referentiel import QUALIFICATIONS, priority_markers
from web.auth.login import current_user

PARIS = ZoneInfo("Europe/Paris")


def format_datetime(value, with_time: bool = True) -> str:
    """An instant shown in Paris time, French style."""
    if value is None:
        return ""
    local = value.astimezone(PARIS)
    return local.strftime("%d/%m/%Y à %H:%M") if with_time else local.strftime("%d/%m/%Y")


SENTINEL_ID = 2_147_483_647  # the largest id an address takes (DatabaseId): never a real one in a pattern


def link_to(endpoint: str, argument: str):
    """A function value -> url_for(endpoint, **{argument: value}) for an address with one variable part (a
    number or a task's UUID), built with one url_for: a list of a hundred rows links each row without a hundred
    url_for calls. The value is percent-encoded as werkzeug's converters do."""
    prefix, _, suffix = url_for(endpoint, **{argument: SENTINEL_ID}).partition(str(SENTINEL_ID))
    encode = BaseConverter(current_app.url_map).to_url

    def link(value) -> str:
        text = str(value)  # a number or a UUID is written as it is; anything else as the converter quotes it
        return f"{prefix}{text if _UNRESERVED(text) else encode(value)}{suffix}"
    return link


# Characters that percent-encoding leaves as they are in any part of an address (RFC 3986's unreserved ones).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+").fullmatch


def dossier_markers(dossier, analyst: bool | None = None) -> list:
    """A dossier's priority markers (referentiel.priority_markers) from its synced columns; the B3 decision
    is the analysts' work, not shown to declarants (`analyst`: whether the reader is not a declarant, read from the
    logged-in user unless the caller knows it)."""
    if analyst is None:
        user = current_user()
        analyst = user is not None and user.role != "declarant"
    return priority_markers(bool(dossier.urgent_help), dossier.care_impact, bool(dossier.health_impact) and analyst,
                            bool(dossier.off_hours))


def markers(dossier, with_qualification: bool = False, empty: str = "", analyst: bool | None = None) -> Markup:
    """A dossier's priority markers as a list in words (the colour only repeats them); `with_qualification` adds the
    qualification (the inbox shows it in its own column); `empty` is shown when there is no marker; `analyst` as
    for dossier_markers.

    A function rather than a Jinja macro: lists show it on each of their rows, and the few combinations of markers
    are written once per process (_marker_list)."""
    qualification = dossier.qualification if with_qualification else None
    return _marker_list(tuple(dossier_markers(dossier, analyst)), with_qualification, qualification, empty)


@lru_cache(maxsize=512)
def _marker_list(found: tuple, with_qualification: bool, qualification: str | None, empty: str) -> Markup:
    if not (found or with_qualification):
        return escape(empty)
    items = [f'<li class="etiquette etiquette-{escape(code)}">{escape(label)}</li>' for code, label in found]
    if with_qualification:
        items.append(f'<li class="etiquette etiquette-{escape(qualification or "aucune")}">'
                     f'{escape(QUALIFICATIONS.get(qualification, "Non qualifié"))}</li>')
    return Markup(f'<ul class="marqueurs" aria-label="Priorité du dossier">{"".join(items)}</ul>')
