# schemathesis hooks for tests/e2e/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).
# They run before every request of every phase (before_call), and change two things in a
# generated JSON body:
#   - a string `model` becomes the served model's name, so that bodies reach the route's own
#     validation and the engine instead of stopping at "model not found" (missing and
#     mistyped `model` fields stay as generated);
#   - counts of tokens or samples above a small bound are lowered to it: the API accepts any
#     number, so the bound lives here rather than in /openapi.json, and a run of a couple of
#     thousand requests stays within CI's minutes. Wrong types stay, to be rejected.
import os

import schemathesis

MODEL = os.environ.get("KILN_SCHEMATHESIS_MODEL")
BOUNDS = {"max_tokens": 4, "max_completion_tokens": 4, "max_output_tokens": 4, "min_tokens": 2,
          "n": 2}


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not isinstance(body, dict):
        return
    if MODEL and isinstance(body.get("model"), str):
        body["model"] = MODEL
    for key, bound in BOUNDS.items():
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > bound:
            body[key] = bound
