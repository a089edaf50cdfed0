"""A validation problem: the element it names, what is wrong and what to do, worded in French."""
from __future__ import annotations

from dataclasses import dataclass

from engine.errors import EngineError
from engine.parsing import owner_element

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"


@dataclass(frozen=True)
class Problem:
    """One reason to refuse a file; `element_id` is None for the file as a whole."""

    rule: str
    element_id: str | None
    element_name: str | None
    text: str
    hint: str

    def render(self, filename: str) -> str:
        """The French sentence shown to the process owner."""
        where = filename
        if self.element_id:
            where += f", élément « {self.element_id} »" + (f" ({self.element_name})" if self.element_name else "")
        return f"{where} : {self.text}. {self.hint}".rstrip()


def problem(rule: str, element, text: str, hint: str) -> Problem:
    """A problem about an lxml element (or the BPMN element enclosing it), or about the file when None."""
    owner = owner_element(element) if element is not None else None
    if owner is None:
        return Problem(rule, None, None, text, hint)
    return Problem(rule, owner.get("id"), owner.get("name") or None, text, hint)


class ValidationFailed(EngineError):
    """The file is refused; `problems` lists every reason, `message` renders them in French."""

    status = 422

    def __init__(self, filename: str, problems: list[Problem]):
        count = f"{len(problems)} problème" + ("s" if len(problems) > 1 else "")
        lines = [p.render(filename) for p in problems]
        super().__init__(f"Le fichier BPMN est invalide ({filename}, {count}) :\n" + "\n".join(f"- {line}" for line in lines))
        self.filename = filename
        self.problems = problems
        self.lines = lines


def label(element) -> str:
    """« id » (name) of an element, for messages that name a second element."""
    name = element.get("name")
    return f"« {element.get('id')} »" + (f" ({name})" if name else "")
