# schemathesis hooks for test/cluster/endpoint/schemathesis.test.ts (SCHEMATHESIS_HOOKS=hooks,
# PYTHONPATH=this folder). Only requests schemathesis generated as valid (positive mode) are touched,
# and only so that they reach the pipeline as a real caller's would; invalid ones go out as drawn.
#
# - sender: a drawn name is almost never an identity (a 404, which the checks accept), so valid
#   requests name the test's identity and are really sent, to the test's SMTP sink.
# - The two rules of the door that JSON Schema cannot say, and the schema's descriptions do: at most
#   100 recipients in to, cc and bcc together; a header name at most once, in any case.
# - Idempotency-Key: a drawn key repeats across requests with other bodies (422 by design, README),
#   so each valid request gets its own.
import itertools
import os

import schemathesis

SENDER = os.environ["POSTMASTER_FUZZ_SENDER"]
MAX_RECIPIENTS = 100
_keys = itertools.count()


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    body = case.body
    if isinstance(body, dict) and "sender" in body:
        body["sender"] = SENDER
        room = MAX_RECIPIENTS
        for field in ("to", "cc", "bcc"):
            if isinstance(body.get(field), list):
                body[field] = body[field][: max(room, 1 if field == "to" else 0)]
                room -= len(body[field])
        headers = body.get("headers")
        if isinstance(headers, dict):
            seen = set()
            for name in list(headers):
                if name.lower() in seen:
                    del headers[name]
                seen.add(name.lower())
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"fuzz-{next(_keys)}"
