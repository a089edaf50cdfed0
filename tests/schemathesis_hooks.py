"""Schemathesis hooks of tests/test_api.py (loaded through SCHEMATHESIS_HOOKS; no tests here).

Every POST needs its own Idempotency-Key: a case without one gets 400 before its body is read, and a key
generated again for another body gets 422 (« clé déjà servie »), so most cases would test the key and not
the body. Unless the case is about the key itself (a negative key: missing, too short, bad characters), it
gets a fresh valid key, and its body reaches the operation's own checks. Schemathesis re-checks a case a
hook changed, so one that was negative only through its key is then treated as positive."""
import uuid

import schemathesis
from schemathesis.generation.meta import negated_parameters

HEADER = "Idempotency-Key"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() != "POST":
        return
    negated = {name.lower() for name, _ in negated_parameters(getattr(case, "_meta", None))}
    if HEADER.lower() in negated:
        return
    case.headers = {**(case.headers or {}), HEADER: uuid.uuid4().hex}
