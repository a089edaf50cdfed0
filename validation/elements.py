"""What each element refers to: the forms of user tasks, the operators of service tasks, timer expressions."""
from __future__ import annotations

import difflib
import inspect
import re

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.expressions import ExpressionRefused, Interpreter, check, parse
from handlers import HANDLERS
from validation.problems import BPMN, SPIFF, Problem, problem

FORM_KEYS = ("formJsonSchemaFilename", "formUiSchemaFilename")


def properties(element) -> dict:
    """The spiffworkflow properties of an element's extension elements."""
    return {p.get("name"): p.get("value") for p in
            element.iterfind(f"{BPMN}extensionElements/{SPIFF}properties/{SPIFF}property")}


def _nearest(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" Vouliez-vous dire « {close[0]} » ?" if close else ""


def form_problems(process, forms: dict) -> list[Problem]:
    """User tasks need an existing form whose JSON Schema compiles (and an existing UI schema if named)."""
    found = []
    for task in process.iter(BPMN + "userTask"):
        props = properties(task)
        schema_name = props.get(FORM_KEYS[0])
        if not schema_name:
            found.append(problem("formulaire", task, "la tâche utilisateur n'a pas de formulaire",
                                 f"Renseignez la propriété « {FORM_KEYS[0]} » avec un fichier du dossier forms/."))
            continue
        for key in FORM_KEYS:
            name = props.get(key)
            if name and name not in forms:
                found.append(problem("formulaire", task, f"le formulaire « {name} » n'existe pas",
                                     "Ajoutez ce fichier au dossier forms/ ou corrigez le nom." + _nearest(name, forms)))
        schema = forms.get(schema_name)
        if schema is not None:
            reason = _schema_error(schema)
            if reason:
                found.append(problem("formulaire", task, f"le formulaire « {schema_name} » n'est pas un JSON Schema "
                                     f"valide ({reason})", "Corrigez le schéma (JSON Schema 2020-12)."))
    return found


def _schema_error(schema) -> str | None:
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return "un objet de type « object » est attendu"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"{exc.message} à {'/'.join(map(str, exc.absolute_path)) or 'la racine'}"
    return None


def handler_parameters(operator: str) -> tuple[set, set, bool]:
    """(required, accepted, takes any) parameter names of a registered handler, from its signature."""
    params = list(inspect.signature(HANDLERS[operator]).parameters.values())[2:]  # after (ctx, data)
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    required = {p.name for p in named if p.default is p.empty}
    return required, {p.name for p in named}, any(p.kind == p.VAR_KEYWORD for p in params)


def service_problems(process) -> list[Problem]:
    """Service tasks must name a registered operator and give exactly the parameters it takes."""
    found = []
    for task in process.iter(BPMN + "serviceTask"):
        operator = task.find(f"{BPMN}extensionElements/{SPIFF}serviceTaskOperator")
        if operator is None or not operator.get("id"):
            found.append(problem("operateur", task, "la tâche de service ne nomme pas d'opérateur",
                                 "Choisissez un opérateur : " + ", ".join(sorted(HANDLERS)) + "."))
            continue
        name = operator.get("id")
        if name not in HANDLERS:
            found.append(problem("operateur", task, f"l'opérateur « {name} » n'est pas enregistré",
                                 "Opérateurs disponibles : " + ", ".join(sorted(HANDLERS)) + "." + _nearest(name, HANDLERS)))
            continue
        given = {p.get("id") for p in operator.iter(SPIFF + "parameter")}
        required, accepted, any_name = handler_parameters(name)
        for missing in sorted(required - given):
            found.append(problem("parametres", task, f"le paramètre « {missing} » de l'opérateur « {name} » manque",
                                 "Ajoutez ce paramètre à la tâche de service."))
        for extra in sorted(given - accepted) if not any_name else []:
            found.append(problem("parametres", task, f"l'opérateur « {name} » ne prend pas de paramètre « {extra} »",
                                 "Retirez-le ; paramètres acceptés : " + (", ".join(sorted(accepted)) or "aucun") + "."))
    return found


_TIMER_KINDS = {"timeDuration": "une durée ISO 8601 (\"P7D\")", "timeDate": "une date ISO 8601 "
                "(\"2026-12-01T09:00:00+01:00\")", "timeCycle": "un cycle ISO 8601 (\"R3/P1D\")"}
_ISO_LIKE = re.compile(r"^(R\d*/)?P|^\d{4}-\d{2}-\d{2}", re.IGNORECASE)


def _timer_value_ok(kind: str, value: str) -> bool:
    try:
        if kind == "timeDuration":
            return bool(TimerEventDefinition.parse_iso_duration(value)) and value.upper().startswith("P")
        if kind == "timeDate":
            TimerEventDefinition.get_datetime(value)
        else:
            TimerEventDefinition.parse_iso_recurring_interval(value)
        return True
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises bare Exception/ValueError on a bad value
        return False


def timer_problems(process, defined: set) -> list[Problem]:
    """Timer expressions must evaluate (with the restricted interpreter) to an ISO 8601 value of their kind."""
    found = []
    for kind, wanted in _TIMER_KINDS.items():
        for element in process.iter(BPMN + kind):
            source = (element.text or "").strip()
            try:
                check(source)
                value = Interpreter(()).run(parse(source).body)
            except ExpressionRefused:
                continue  # reported with the other refused expressions
            except NameError as exc:
                if exc.name in defined:
                    continue  # depends on the dossier's data: checked when the timer starts
                quoted = f" : écrivez \"{source}\" entre guillemets" if _ISO_LIKE.match(source) else ""
                found.append(problem("minuterie", element, f"l'expression de la minuterie « {source} » n'est pas "
                                     f"{wanted}{quoted}", "Une valeur littérale s'écrit entre guillemets."))
                continue
            except Exception as exc:  # noqa: BLE001 - 1/0 and the like
                value = exc
            if not isinstance(value, str) or not _timer_value_ok(kind, value):
                found.append(problem("minuterie", element, f"l'expression de la minuterie « {source} » ne donne pas "
                                     f"{wanted}", "Corrigez la valeur (par exemple \"P7D\" pour sept jours)."))
    return found
