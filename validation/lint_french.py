"""bpmnlint's English messages in French (validation/bpmnlint-fr.json, shared with the modeller's canvas)."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "bpmnlint-fr.json"


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern, str, str]]:
    entries = json.loads(TABLE.read_text(encoding="utf-8"))["messages"]
    return [(re.compile(pattern), text, hint) for pattern, text, hint in entries]


def french(message: str, rule: str) -> tuple[str, str]:
    """(text, hint) of a bpmnlint message; an unknown message keeps its English words, named as bpmnlint's."""
    for pattern, text, hint in _patterns():
        found = pattern.match(message.strip())
        if found:
            text = re.sub(r"\{(\d)\}", lambda m: found.group(int(m.group(1))), text)
            return f"{text} (règle bpmnlint « {rule} »)", hint
    return f"règle bpmnlint « {rule} » : {message.strip()}", "Corrigez l'élément dans le modeleur."
