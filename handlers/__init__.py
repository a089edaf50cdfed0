"""Service-task handlers: the explicit registry that BPMN `serviceTaskOperator` ids name.

Each handler is `handler(ctx, data, **params) -> dict`, where `ctx` is the running command
(see workflow.context.CommandContext) and `data` the task data. Handlers never send mail or call out:
they queue outbox rows through `ctx.notify` and write rows in the command's transaction.
"""
from handlers.calendar import heures_ouvrees
from handlers.dossier import changer_etat, incidents_similaires, passer_significatif
from handlers.notify import notifier
from handlers.retex import anonymiser_retex, enregistrer_retex, enrichir_base_connaissances, retex_similaires
from handlers.support import diffuser_alerte, fiches_reflexes

HANDLERS = {
    "notifier": notifier,
    "changer_etat": changer_etat,
    "heures_ouvrees": heures_ouvrees,
    "incidents_similaires": incidents_similaires,
    "passer_significatif": passer_significatif,
    "fiches_reflexes": fiches_reflexes,
    "diffuser_alerte": diffuser_alerte,
    "retex_similaires": retex_similaires,
    "enrichir_base_connaissances": enrichir_base_connaissances,
    "enregistrer_retex": enregistrer_retex,
    "anonymiser_retex": anonymiser_retex,
}
