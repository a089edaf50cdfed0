"""The two outside judges: SpiffWorkflow's parser (its errors translated) and bpmnlint's recommended rules."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from validation.lint_french import french
from validation.problems import Problem

ROOT = Path(__file__).resolve().parent.parent

_SPIFF_MESSAGES = [  # (English message start, French text, what to do)
    ("Non-default exclusive outgoing sequence flow without condition", "un flux sortant sans condition n'est pas "
     "le flux par défaut", "Écrivez sa condition ou faites-en le flux par défaut."),
    ("A Service Task must have an operator", "la tâche de service n'a pas d'opérateur", "Choisissez un opérateur."),
    ("No start event found", "aucun événement de début", "Ajoutez un événement de début."),
    ("Invalid Script Task", "la tâche de script n'a pas de script", "Écrivez le script ou changez le type de tâche."),
    ("Duplicate process ID", "identifiant de processus en double", "Donnez un identifiant unique à chaque processus."),
    ("Time Specification Error", "minuterie mal définie", "Indiquez une durée, une date ou un cycle."),
    ("Unknown Time Specification", "minuterie mal définie", "Indiquez une durée, une date ou un cycle."),
]


def _translate(message: str) -> tuple[str, str]:
    for start, text, hint in _SPIFF_MESSAGES:
        if message.startswith(start):
            return text, hint
    return f"SpiffWorkflow refuse l'élément (« {message.strip()} »)", "Corrigez l'élément dans le modeleur."


def spiff_parse(root, process_id: str):
    """(spec, subprocess specs, problems): SpiffWorkflow's own validation, its errors in French."""
    parser = SpiffBpmnParser()
    try:
        parser.add_bpmn_xml(root, filename="process.bpmn")
        return parser.get_spec(process_id), parser.get_subprocess_specs(process_id), []
    except ValidationException as exc:
        text, hint = _translate(str(exc).split("\n")[0])
        return None, None, [Problem("spiffworkflow", exc.id or None, exc.name or None, text, hint)]
    except Exception as exc:  # noqa: BLE001 - any other parser failure is a refusal, never a 500
        text, hint = _translate(str(exc))
        return None, None, [Problem("spiffworkflow", None, None, text, hint)]


def bpmnlint_binary() -> Path | None:
    """The pinned bpmnlint of node_modules, when it and node are installed."""
    binary = ROOT / "node_modules" / ".bin" / "bpmnlint"
    return binary if binary.exists() and shutil.which("node") else None


_LINE = re.compile(r"^\s+(\S*)\s+(error|warning)\s+(.+?)\s{2,}(\S+)\s*$")


def bpmnlint_problems(xml_text: str, names: dict) -> list[Problem] | None:
    """bpmnlint's recommended rules (.bpmnlintrc); None when bpmnlint is not installed."""
    binary = bpmnlint_binary()
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload.bpmn"
        path.write_text(xml_text, encoding="utf-8")
        result = subprocess.run([str(binary), "--config", str(ROOT / ".bpmnlintrc"), str(path)], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
    found = []
    for line in result.stdout.splitlines():
        match = _LINE.match(line)
        if match and match.group(2) == "error":
            element_id, _, message, rule = match.groups()
            element_id = element_id.split("#")[0] or None
            text, hint = french(message, rule)
            found.append(Problem("bpmnlint", element_id, names.get(element_id), text, hint))
    if result.returncode != 0 and not found:
        # Its output names the temporary file: only its first line, without any path, is shown.
        said = (result.stdout + result.stderr).strip().splitlines()[:1] or [""]
        found.append(Problem("bpmnlint", None, None, "bpmnlint n'a pas pu lire le fichier",
                             re.sub(r"(/[^\s:]+)+", "…", said[0])[:300]))
    return found
