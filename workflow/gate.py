"""The one deployment gate: the web upload, the modeller, `flask deploy` and the start command (init-db) all
deploy through `deploy` here, which runs the validator, then the dry run, and decides.

A version is never activated when the validator reports a problem, when the dry run could not be run, or when
a named scenario fails on it (an engine error, a budget overrun, a dossier left stuck). A scenario whose path
differs from the active version's (elements, the role that works each human task, final state, what the
dossier waits on) must be accepted explicitly, by name, with the deployment's comment; each acceptance is
recorded with the version (scenario_acceptances). The dry run is reached through `app.extensions["dry_run"]`
(it lives in cli/, above this layer).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from engine.errors import EngineError
from models import ProcessDefinition, ScenarioAcceptance, db
from timekeeping import clock as clock_mod
from validation import validator
from validation.problems import ValidationFailed
from workflow import deployment


class GateRefused(EngineError):
    """The gate refuses a version; `lines` are the French reasons, `message` renders them."""

    status = 422

    def __init__(self, filename: str, lines: list[str]):
        super().__init__(f"La version ({filename}) n'est pas déployée :\n" + "\n".join(f"- {line}" for line in lines))
        self.filename = filename
        self.lines = lines


@dataclass
class Verdict:
    """What the gate found for one candidate: the validator's report, the dry run's rows, the active version."""

    filename: str
    validation: validator.Report | None = None
    problems: list = field(default_factory=list)
    scenarios: list = field(default_factory=list)
    active_id: int | None = None
    dry_run_failed: bool = False

    @property
    def failing(self) -> list[dict]:
        """Scenarios that fail on the candidate: they forbid the deployment."""
        return [s for s in self.scenarios if s.get("bloquant")]

    @property
    def differing(self) -> list[dict]:
        """Scenarios that run but whose path differs from the active version's: each must be accepted."""
        if self.active_id is None:
            return []
        return [s for s in self.scenarios if s.get("different") and not s.get("bloquant")]

    @property
    def blocked(self) -> bool:
        """True when nothing the process owner can accept would let this version be deployed."""
        return bool(self.problems or self.failing or self.dry_run_failed or not self.scenarios)

    def blocking_lines(self) -> list[str]:
        """Why the version cannot be deployed at all, in French."""
        lines = [p.render(self.filename) for p in self.problems]
        if not self.problems and (self.dry_run_failed or not self.scenarios):
            lines.append("l'essai à blanc (les scénarios nommés) n'a pas pu être mené : rien n'est déployé sans lui")
        lines += [f"le scénario « {s['titre']} » ({s['nom']}) échoue : {s['erreur']}" for s in self.failing]
        return lines

    def refusal_lines(self, accepted: set, comment: str) -> list[str]:
        """Every reason to refuse the deployment with these acceptances and this comment (none: deploy)."""
        lines = self.blocking_lines()
        if lines:
            return lines
        missing = [s for s in self.differing if s["nom"] not in accepted]
        lines += [f"le parcours du scénario « {s['titre']} » ({s['nom']}) diffère de celui de la version active : "
                  "acceptez explicitement cet écart" for s in missing]
        if self.differing and not comment.strip():
            lines.append("indiquez en commentaire pourquoi les écarts de parcours sont acceptés")
        return lines

    def report(self) -> dict:
        """What a pending deployment keeps (JSON)."""
        return {"active": self.active_id, "scenarios": self.scenarios, "dry_run_failed": self.dry_run_failed,
                "linted": bool(self.validation and self.validation.linted)}

    @classmethod
    def from_report(cls, filename: str, report: dict) -> "Verdict":
        """A verdict kept by a pending deployment (its file passed the validator when it was uploaded)."""
        return cls(filename, scenarios=report.get("scenarios") or [], active_id=report.get("active"),
                   dry_run_failed=bool(report.get("dry_run_failed")))


def examine(xml: str, forms: dict, filename: str, active: ProcessDefinition | None) -> Verdict:
    """The validator's report, then (only for a valid file) the dry run against the active version."""
    report = validator.validate(xml, forms, filename, deployment.process_id(), lint=current_app.config["BPMN_LINT"])
    verdict = Verdict(filename, validation=report, problems=list(report.problems),
                      active_id=active.id if active else None)
    if not report.ok:
        return verdict
    try:
        verdict.scenarios = current_app.extensions["dry_run"](xml, forms, active)
    except Exception:  # noqa: BLE001 - a dry run that cannot run refuses the version, never a 500
        current_app.logger.exception("dry run failed")
        verdict.dry_run_failed = True
    return verdict


def current_active() -> ProcessDefinition | None:
    """The active version, or None before the first deployment."""
    try:
        return deployment.active_definition()
    except EngineError:
        return None


def deploy(xml: str, forms: dict, filename: str, actor: str, comment: str = "", accepted=(),
           verdict: Verdict | None = None) -> ProcessDefinition:
    """Deploy a candidate through the gate; a version already deployed is returned as it is (nothing activated).

    `verdict` is reused when it was made against the version active now (a pending web deployment), else the
    candidate is examined again. ValidationFailed or GateRefused (422, French reasons) when it does not pass.
    """
    known = deployment.known_version(xml, forms)
    if known is not None:
        return known
    active = current_active()
    if verdict is None or verdict.active_id != (active.id if active else None):
        verdict = examine(xml, forms, filename, active)
    if verdict.problems:
        raise ValidationFailed(filename, verdict.problems)
    accepted = set(accepted)
    lines = verdict.refusal_lines(accepted, comment)
    if lines:
        raise GateRefused(filename, lines)

    def record(definition: ProcessDefinition) -> None:
        now = clock_mod.app_now()
        for row in verdict.differing:
            db.session.add(ScenarioAcceptance(
                definition_id=definition.id, previous_id=verdict.active_id, scenario=row["nom"], title=row["titre"],
                actor=actor, at=now, comment=comment.strip()[:2000],
                details={key: row.get(key) for key in ("etapes_avant", "etapes_apres", "etat", "etat_actuel",
                                                       "erreur", "attente_noms", "attente_actuelle_noms")}))
    return deployment.deploy_xml(xml, actor=actor, filename=filename, forms=forms, comment=comment,
                                 checked=verdict.validation, on_stored=record)


def acceptances(definition: ProcessDefinition) -> list[ScenarioAcceptance]:
    """The scenario paths accepted when a version was deployed."""
    return db.session.scalars(db.select(ScenarioAcceptance).where(ScenarioAcceptance.definition_id == definition.id)
                              .order_by(ScenarioAcceptance.id)).all()
