"""Expressions are data, never code: a regression corpus of escapes, refused at deployment and at
evaluation; no BPMN text reaches eval/exec/compile; task data never becomes template code."""
from __future__ import annotations

import ast
import builtins
import html
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from sqlalchemy import func, select

from audit import hash_chain, replayer, verifier
from cli import scenarios
from engine import errors, expressions, parsing, runtime, serialization
from mail import notifications
from models import Dossier, ProcessDefinition, ProcessInstance, db
from test_web_support import AUDITEUR, login
from workflow import commands, context, deployment

CANARY = Path("/tmp/signalement-expressions-canary")
SYSTEM = f"__import__('os').system('touch {CANARY}')"

# Each escape the security review found or that the grammar must keep out; all are refused.
ESCAPES = {
    "generator_frame": f"(x for x in [1]).gi_frame.f_back.f_back.f_builtins['__import__']('os').system('touch {CANARY}')",
    "generator_frame_walrus": f"(b := (x for x in [1]).gi_frame.f_back.f_back.f_builtins) and b['__import__']('os').system('touch {CANARY}')",
    "format_walk_helper": "'{0.func.__globals__[sys].modules[flask].current_app.config}'.format(json_dumps)",
    "subclasses": "().__class__.__bases__[0].__subclasses__()",
    "format_class": '"{0.__class__}".format(x)',
    "format_map": '"{a.__class__}".format_map({"a": x})',
    "percent_format": '"%s" % x',
    "percent_format_tuple": '"%s %r" % (x, x)',
    "str_mod": 'str.__mod__("%s", x)',
    "gi_frame": "(x for x in [1]).gi_frame",
    "f_back": "x.f_back",
    "f_globals": "x.f_globals",
    "globals": "globals()",
    "locals": "locals()",
    "getattr": "getattr(x, 'append')",
    "vars": "vars()",
    "dir": "dir()",
    "type": "type(x)",
    "import_call": SYSTEM,
    "open": "open('/etc/passwd').read()",
    "eval": "eval('1')",
    "exec": f"exec(\"{SYSTEM}\")",
    "compile": "compile('1', 'x', 'eval')",
    "breakpoint": "breakpoint()",
    "lambda": "(lambda: 1)()",
    "list_comprehension": "[c for c in x]",
    "set_comprehension": "{c for c in x}",
    "dict_comprehension": "{c: c for c in x}",
    "generator": "list(c for c in x)",
    "fstring": 'f"{x}"',
    "starred": "[*x]",
    "double_starred": "{**structure}",
    "huge_power": "10**10**7",
    "huge_text": "'a'*10**9",
    "huge_list": "[1]*10**9",
    "text_over_limit": "'a' * 100001",
    "long_source": "'" + "a" * 3000 + "'",
    "deep_parentheses": "(" * 10_000 + "1" + ")" * 10_000,
    "deep_unary": "-" * 100_000 + "1",
    "nesting_within_length": "-" * 1_900 + "1",
    "nested_lists": "[" * 100 + "]" * 100,
    "attribute_method_value": "structure.keys",
    "attribute_dict": "x.__dict__",
    "attribute_plain": "structure.nom",
    "dunder_name": "__builtins__",
    "private_name": "_x",
    "keyword_argument": "sorted(x, key=len)",
    "bytes": "b'x'",
    "complex": "1j",
    "is_identity": "x is x",
}
EXPRESSION_DATA = {"x": [1, 2], "structure": {"nom": "CHU", "finess_et": "350000002"}, "json_dumps": "texte"}

SCRIPT_ESCAPES = {
    "import": "import os",
    "from_import": "from os import system",
    "for_loop": "for c in x:\n    y = c",
    "while_loop": "while True:\n    y = 1",
    "if_statement": "if x:\n    y = 1",
    "function": "def f():\n    return 1",
    "class": "class A:\n    pass",
    "with": "with open('/etc/passwd') as f:\n    y = 1",
    "expression_statement": "print(1)",
    "augmented": "x += [1]",
    "tuple_target": "a, b = 1, 2",
    "chained_target": "a = b = 1",
    "attribute_target": "structure.nom = 1",
    "nested_subscript_target": "structure['a']['b'] = 1",
    "delete": "del x",
    "global": "global x",
    "builtins_target": "__builtins__ = {}",
    "walrus_value": "y = (z := 1)",
    "escape_value": "y = " + ESCAPES["generator_frame"],
}


@pytest.fixture(autouse=True)
def no_canary():
    """No escape may ever create the canary file."""
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "an expression ran a shell command"


def _french_refusal(excinfo):
    assert isinstance(excinfo.value, expressions.ExpressionRefused)
    assert str(excinfo.value).startswith("Expression refusée : ")


@pytest.mark.parametrize("source", ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_is_refused_at_deployment_check(source):
    with pytest.raises(expressions.ExpressionRefused) as excinfo:
        expressions.check(source)
    _french_refusal(excinfo)


@pytest.mark.parametrize("source", ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_is_refused_at_evaluation_and_in_a_script(source):
    env = runtime.EngineScriptEngine(dispatcher=None).environment
    with pytest.raises(expressions.ExpressionRefused) as excinfo:
        env.evaluate(source, dict(EXPRESSION_DATA))
    _french_refusal(excinfo)
    context = dict(EXPRESSION_DATA)
    with pytest.raises(expressions.ExpressionRefused):
        env.execute(f"y = {source}", context)
    assert context == EXPRESSION_DATA


@pytest.mark.parametrize("source", ["-" * 100_000 + "1", "(" * 10_000 + "1" + ")" * 10_000, "a" + "[0]" * 100_000,
                                    "f" + "()" * 100_000, "1+" * 100_000 + "1", "[" * 5_000 + "]" * 5_000])
def test_hostile_nesting_is_refused_by_the_parser_too(monkeypatch, source):
    """Without the length limit, ast.parse's RecursionError/MemoryError/SyntaxError become refusals."""
    monkeypatch.setattr(expressions, "MAX_SOURCE", 10**7)
    with pytest.raises(expressions.ExpressionRefused) as excinfo:
        expressions.parse.__wrapped__(source)
    _french_refusal(excinfo)


@pytest.mark.parametrize("script", SCRIPT_ESCAPES.values(), ids=SCRIPT_ESCAPES.keys())
def test_script_outside_assignments_is_refused(script):
    with pytest.raises(expressions.ExpressionRefused) as excinfo:
        expressions.check(script, "exec")
    _french_refusal(excinfo)
    context = dict(EXPRESSION_DATA)
    with pytest.raises(expressions.ExpressionRefused):
        expressions.RestrictedEnvironment().execute(script, context)
    assert context == EXPRESSION_DATA


def _shipped_xml() -> str:
    return (Path(__file__).parent.parent / "processes" / "signalement_incident_ssi.bpmn").read_text(encoding="utf-8")


# Where an escape can be planted in the shipped BPMN: (what is replaced, how the escape is written)
PLACES = {
    "condition": ('impact_soins != "aucun"</bpmn:conditionExpression>',
                  lambda s: escape(s) + "</bpmn:conditionExpression>", "flow_mil_gw_soins__mil_ars_soins"),
    "parameter": ("value=\"['fssi']\"", lambda s: "value=" + quoteattr(s), "p1_fssi_hno"),
    "timer": ('>"P7D"</bpmn:timeDuration>', lambda s: ">" + escape(s) + "</bpmn:timeDuration>", "p4_hebdo"),
    "postScript": ('qualification = bascule["qualification"]', lambda s: escape("qualification = " + s), "p4_bascule"),
}


def _planted(place: str, source: str) -> str:
    old, write, _ = PLACES[place]
    xml = _shipped_xml()
    assert old in xml
    return xml.replace(old, write(source), 1)


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("source", ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_planted_in_the_shipped_bpmn_is_refused_by_check_expressions(place, source):
    with pytest.raises(expressions.ExpressionRefused) as excinfo:
        parsing.check_expressions(_planted(place, source))
    assert str(excinfo.value).startswith("Expression refusée : ") and "(élément « " in str(excinfo.value)


EVALUATED_ELEMENTS = ["bpmn:conditionExpression", "bpmn:timeDate", "bpmn:timeCycle", "bpmn:loopCardinality",
                      "bpmn:loopCondition", "bpmn:completionCondition", "bpmn:condition", "bpmn:formalExpression",
                      "spiffworkflow:messagePayload", "spiffworkflow:expression"]
SCRIPT_ELEMENTS = ["bpmn:script", "spiffworkflow:preScript", "spiffworkflow:postScript"]


@pytest.mark.parametrize("tag", EVALUATED_ELEMENTS + SCRIPT_ELEMENTS)
def test_every_element_spiffworkflow_evaluates_is_checked(tag):
    """Multi-instance, conditional events, message payloads and correlations too, not only gateways."""
    source = ESCAPES["generator_frame"] if tag in EVALUATED_ELEMENTS else "y = " + ESCAPES["generator_frame"]
    xml = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"><bpmn:process id="p">'
           f'<bpmn:task id="t1" name="Tâche"><{tag}>{escape(source)}</{tag}></bpmn:task>'
           '</bpmn:process></bpmn:definitions>')
    with pytest.raises(expressions.ExpressionRefused) as excinfo:
        parsing.check_expressions(xml)
    assert "élément « t1 » (Tâche)" in str(excinfo.value)


DEPLOYED = ["generator_frame", "generator_frame_walrus", "format_walk_helper", "huge_power", "percent_format"]


@pytest.mark.parametrize("place", PLACES)
def test_escapes_planted_in_a_real_deployment_are_refused(app, place):
    """Runs in the deployed application: deployment.deploy_xml refuses, nothing is stored."""
    before = db.session.scalar(select(func.count()).select_from(ProcessDefinition))
    for name in DEPLOYED:
        with pytest.raises(errors.EngineError) as excinfo:
            deployment.deploy_xml(_planted(place, ESCAPES[name]))
        message = excinfo.value.message
        assert excinfo.value.status == 422 and "Expression refusée" in message, message
        assert "élément « " + PLACES[place][2] in message, message
    assert db.session.scalar(select(func.count()).select_from(ProcessDefinition)) == before


def test_escapes_evaluated_by_the_deployed_engine_are_refused(app, clock):
    """Runs against a live dossier's task data, through the engine the commands use."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p3_qualifier")
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    spec, subs = serialization.spec_from_json(db.session.get(ProcessDefinition, instance.definition_id).spec_json)
    workflow = serialization.load_state(instance.state_json, spec, subs, context.script_engine())
    task = next(t for t in runtime.ready_user_tasks(workflow) if t.task_spec.name == "p3_qualifier")
    assert task.data["structure"]["finess_et"]
    for name in DEPLOYED + ["import_call", "exec", "subclasses"]:
        with pytest.raises(errors.EngineError) as excinfo:
            workflow.script_engine.evaluate(task, ESCAPES[name])
        assert excinfo.value.status == 422 and "Expression refusée" in excinfo.value.message
        assert "p3_qualifier" in excinfo.value.message
        with pytest.raises(errors.EngineError):
            workflow.script_engine.execute(task, "y = " + ESCAPES[name])
        assert "y" not in task.data


def test_a_refusal_that_depends_on_task_data_stops_the_command_cleanly(app, clock):
    """`structure["nom"] * 100000` passes the deployment check; at run time it is refused (422)."""
    xml = _shipped_xml().replace("value=\"'déclaré'\"", "value='structure[\"nom\"] * 100000'", 1)
    deployment.deploy_xml(xml)
    with pytest.raises(errors.EngineError) as excinfo:
        scenarios.run("grave_acss", clock, until="p3_qualifier")
    assert excinfo.value.status == 422 and "texte ou liste trop long" in excinfo.value.message


def test_the_shipped_expressions_keep_working():
    env = expressions.RestrictedEnvironment()
    data = {"structure": {"finess_et": "350000002"}, "qualification": "significatif",
            "bascule": {"qualification": "grave"}}
    assert env.evaluate("'déclaré'", data) == "déclaré"
    assert env.evaluate("['ars', 'acss']", data) == ["ars", "acss"]
    assert env.evaluate('structure["finess_et"]', data) == "350000002"
    assert env.evaluate('["declarant", "ars"] + (["hfds"] if qualification == "significatif" else [])',
                        data) == ["declarant", "ars", "hfds"]
    assert env.evaluate('"P7D"', data) == "P7D"
    env.execute('qualification = bascule["qualification"]', data)
    assert data["qualification"] == "grave"
    parsing.check_expressions(_shipped_xml())


@pytest.mark.parametrize("source, expected", [
    ("len(x) == 2 and x[0] in [1, 3] and x[-1] not in (5,)", True),
    ("x[::-1] + [max(x), min(x), sum(x), abs(-3), round(2.567, 2)]", [2, 1, 2, 1, 3, 3, 2.57]),
    ("structure.get('nom', '').lower().startswith('chu')", True),
    ("sorted(structure.keys())", ["finess_et", "nom"]),
    ("str(x[0]) + '-' + structure['nom'].strip()", "1-CHU"),
    ("int('42') + float('0.5') if bool(x) and any(x) and all(x) else None", 42.5),
    ("absent is None", False),
    ("2 ** 100 // 3 % 7", (2 ** 100 // 3) % 7),
    ("{'a': [1, {'b': None}], 'c': {1, 2}, 'd': (True, 1.5)}", {"a": [1, {"b": None}], "c": {1, 2}, "d": (True, 1.5)}),
])
def test_the_grammar_evaluates_plain_data(source, expected):
    data = dict(EXPRESSION_DATA, absent=0)
    expressions.check(source)
    assert expressions.RestrictedEnvironment().evaluate(source, data) == expected


def test_scripts_assign_plain_data_only():
    env = expressions.RestrictedEnvironment()
    context = {"structure": {"nom": "CHU"}, "liste": [1, 2]}
    env.execute('a = 1\nstructure["region"] = "53"\nliste[0] = a + 1\nb = structure', context)
    assert context == {"structure": {"nom": "CHU", "region": "53"}, "liste": [2, 2], "a": 1,
                       "b": {"nom": "CHU", "region": "53"}}
    assert context["b"] is not context["structure"]  # a copy: nothing stored aliases other data
    with pytest.raises(expressions.ExpressionRefused):
        env.execute("s = {1, 2}", context)  # a set is not JSON data
    with pytest.raises(expressions.ExpressionRefused):
        env.execute("a = [1] * 10000\nb = [a] * 10000", context)  # shared parts are counted
    with pytest.raises(NameError):
        env.evaluate("inconnu == 1", context)


def test_data_that_is_not_plain_is_refused():
    with pytest.raises(expressions.ExpressionRefused):
        expressions.RestrictedEnvironment().evaluate("x", {"x": object()})
    with pytest.raises(expressions.ExpressionRefused):
        expressions.RestrictedEnvironment().evaluate("x.lower()", {"x": builtins})


# --------------------------------------------------------------------------------------------
# No BPMN text reaches Python's evaluator.

class _Guard:
    """Wraps builtins.eval/exec/compile: only the parse-only compile of ast.parse may run."""

    def __init__(self, monkeypatch):
        self.parse_only = 0
        self.other: list = []
        real = {name: getattr(builtins, name) for name in ("eval", "exec", "compile")}
        for name, function in real.items():
            monkeypatch.setattr(builtins, name, self._wrap(name, function))
        self.installed = all(getattr(builtins, name) is not function for name, function in real.items())

    def _wrap(self, name, function):
        def guarded(source, *args, **kwargs):
            flags = kwargs.get("flags", args[2] if name == "compile" and len(args) > 2 else 0)
            if name == "compile" and flags & ast.PyCF_ONLY_AST:
                self.parse_only += 1
            else:
                self.other.append((name, str(source)[:200]))
            return function(source, *args, **kwargs)
        return guarded


def _whole_process(clock, runner) -> Dossier:
    """A significant incident in crisis mode end to end (postScript, conditions, parameters, the
    weekly timer), then its audit: verify, replay step by step, `flask audit verify`."""
    dossier, _ = scenarios.run("significatif_crise", clock)
    assert verifier.verify_dossier(dossier).ok
    snapshots = list(replayer.replay(db.session.get(ProcessInstance, dossier.instance_id)))
    assert snapshots and snapshots[-1].data["qualification"] == "significatif"  # the postScript ran
    result = runner.invoke(args=["audit", "verify", dossier.number])
    assert result.exit_code == 0, result.output
    return dossier


def test_no_bpmn_text_reaches_eval_exec_or_compile(app, clock, monkeypatch, runner):
    _whole_process(clock, runner)  # warm-up: mail templates and SQL constructs are compiled once, unguarded
    guard = _Guard(monkeypatch)
    assert guard.installed
    expressions.parse.cache_clear()  # every expression of the process is parsed again under the guard
    _whole_process(clock, runner)
    assert guard.parse_only > 10  # ast.parse went through the wrapper: the guard saw the expressions
    assert guard.other == [], guard.other


# --------------------------------------------------------------------------------------------
# Task data never becomes template code; secrets never reach a page or a message.

JINJA = ["{{ config }}", "{{ ''.__class__.__mro__ }}", "{% for c in [].__class__.__base__.__subclasses__() %}x{% endfor %}",
         "{0.__class__}", "%(secret)s"]
SECRET = "sk-canary-7f3b9c1e"


def _hostile(value=" ".join(JINJA)) -> dict:
    return {"titre": value, "description": value, "structure": {"nom": value, "finess_et": value, "ville": value},
            "declarant": {"nom": value, "email": "x@example.fr"}, "dispositif_ansm": value,
            "qualification": value, "types_incident": [value], "message_alerte": value,
            "message_grand_public": value, "plan_action": value, "analyse_qualification": value}


def test_mail_templates_show_task_data_literally(app):
    """Every mail template, rendered in the application with Jinja-looking task data."""
    app.config["SECRET_KEY"] = SECRET
    kinds = sorted(set(notifications.INTROS) | {"inconnu"})
    shown = 0
    for kind in kinds:
        ctx = notifications.template_context(kind, _hostile(), "SSI-2026-00001")
        subject, text, body = notifications.render(kind, ctx)
        for part in (subject, text, html.unescape(body)):
            assert SECRET not in part and "SQLALCHEMY" not in part and "<class" not in part, kind
            assert part.count("config") == part.count("{{ config }}"), kind  # shown, if at all, literally
            assert part.count("__mro__") == part.count("{{ ''.__class__.__mro__ }}"), kind
        shown += "{{ config }}" in text and "{{ ''.__class__.__mro__ }}" in html.unescape(body)
    assert shown > len(kinds) // 2  # most messages do show the dossier's title or structure


def test_audit_step_page_shows_task_data_literally(app, client, clock):
    app.config["SECRET_KEY"] = SECRET
    dossier, _ = scenarios.run("grave_acss", clock, until="p3_qualifier")
    row = scenarios.ready_task(dossier, "p3_qualifier")
    data = dict(scenarios.qualification("grave"), analyse_qualification=" ".join(JINJA))
    commands.complete_task(row.id, data, scenarios.actor_for(row))
    dossier = db.session.get(Dossier, dossier.id)
    steps = len(hash_chain.events_of(dossier.instance_id))
    login(client, AUDITEUR)
    page = client.get(f"/audit/dossiers/{dossier.number}/etapes/{steps}")
    assert page.status_code == 200
    assert html.escape("{{ config }}") in page.text or "{{ config }}" in page.text
    assert SECRET not in page.text and app.config["SQLALCHEMY_DATABASE_URI"] not in page.text
    assert "&lt;Config" not in page.text and "<class" not in page.text


def test_web_templates_have_no_config_in_their_context(app):
    """Flask puts the config among every template's globals; the application takes it out."""
    app.config["SECRET_KEY"] = SECRET
    assert "config" not in app.jinja_env.globals
    with app.test_request_context("/"):
        assert app.jinja_env.from_string("{{ config is defined }}").render() == "False"
