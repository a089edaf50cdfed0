"""Questions that depend on the dossier: a UI schema hides a field (`ui:hiddenWhen`) or changes its help
(`ui:helpWhen`) from plain comparisons of the task's data, e.g. for a military hospital's declaration."""
from __future__ import annotations

import copy

from web import forms
from workflow import form_schemas

CONDITION_KEYS = ("ui:hiddenWhen", "ui:helpWhen")


def conditional(ui: dict) -> bool:
    """Whether a UI schema has any condition (the task's data is loaded only then)."""
    return any(isinstance(options, dict) and any(key in options for key in CONDITION_KEYS)
               for options in (ui or {}).values())


def effective_form(schema: dict, ui: dict, instance_id: int, task_id: str) -> tuple[dict, dict, frozenset]:
    """(schema without the questions not asked, UI schema with the help that applies, the names not asked)."""
    if not conditional(ui):
        return schema, ui, frozenset()
    data = forms.task_data(instance_id, task_id)
    hidden = form_schemas.not_asked(ui, data)
    shown_ui = copy.deepcopy(ui)
    for name, options in shown_ui.items():
        if not isinstance(options, dict):
            continue
        for variant in options.get("ui:helpWhen") or []:
            if isinstance(variant, dict) and form_schemas.matches(variant.get("when"), data):
                options["ui:help"] = str(variant.get("help", ""))
                break
    return form_schemas.without_fields(schema, hidden), shown_ui, hidden
