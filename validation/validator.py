"""The one validator: the CLI deploy, the web upload and the application's start (init-db) all call it."""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine import parsing
from validation import deadlines, elements, external, graph, lanes, loops, protected_data, recipients, variables
from validation.problems import Problem, ValidationFailed, problem


@dataclass
class Report:
    """What the validator found in one file: the problems, whether bpmnlint ran, the parsed spec."""

    filename: str
    problems: list[Problem] = field(default_factory=list)
    linted: bool = False
    spec: object = None
    subprocess_specs: dict | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems

    def lines(self) -> list[str]:
        """The problems as French sentences."""
        return [p.render(self.filename) for p in self.problems]


def _read(xml_text: str) -> tuple[object | None, list[Problem]]:
    try:
        return parsing.parse_xml(xml_text), []
    except ValueError as exc:
        return None, [problem("xml", None, str(exc), "Enregistrez à nouveau le fichier depuis le modeleur.")]
    except etree.XMLSyntaxError as exc:
        return None, [problem("xml", None, f"le fichier n'est pas du XML lisible ({exc.msg})",
                              "Enregistrez à nouveau le fichier depuis le modeleur (format BPMN 2.0 XML).")]


def _model_problems(process, forms: dict) -> list[Problem]:
    defined = variables.defined_names(process, forms)
    found = graph.reachability(process) + graph.gateway_defaults(process, forms) + lanes.lane_problems(process)
    found += loops.loop_problems(process) + loops.cycle_problems(process)
    found += elements.form_problems(process, forms) + elements.service_problems(process)
    found += elements.timer_problems(process, defined) + variables.variable_problems(process, defined)
    found += deadlines.target_problems(process)
    found += protected_data.protected_data_problems(process, forms) + recipients.recipient_problems(process)
    found += [problem("expression", el, message, "Réécrivez l'expression avec les constructions permises.")
              for el, message in parsing.expression_refusals(process)]
    return found


def validate(xml_text: str, forms: dict, filename: str = "processus.bpmn", process_id: str | None = None,
             lint: bool = True) -> Report:
    """Check a BPMN text and the forms it would be deployed with; every problem is kept, none raised."""
    report = Report(filename)
    root, report.problems = _read(xml_text)
    if root is None:
        return report
    process, report.problems = graph.executable_process(root, process_id)
    if process is None:
        return report
    report.problems += _model_problems(process, forms) + graph.diagram_interchange(root, process)
    report.spec, report.subprocess_specs, refused = external.spiff_parse(root, process.get("id"))
    named = {p.element_id for p in report.problems}
    # SpiffWorkflow stops at its first error, often one already reported above in more detail.
    report.problems += [p for p in refused if p.element_id not in named and not (p.element_id is None and named)]
    if lint:
        names = {el.get("id"): el.get("name") for el in root.iter() if el.get("id")}
        linted = external.bpmnlint_problems(xml_text, names)
        report.linted = linted is not None
        report.problems += linted or []
    return report


def ensure_valid(xml_text: str, forms: dict, filename: str = "processus.bpmn", process_id: str | None = None,
                 lint: bool = True) -> Report:
    """The report of a file without problems; ValidationFailed (422) listing them all otherwise."""
    report = validate(xml_text, forms, filename, process_id, lint)
    if not report.ok:
        raise ValidationFailed(filename, report.problems)
    return report
