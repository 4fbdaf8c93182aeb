# schemathesis hooks for tests/e2e/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).
# Generated requests may ask for any number of tokens; the API accepts them, so the bound is
# kept here rather than in /openapi.json: each generated body asks for at most a few tokens
# and samples, so a run of hundreds of requests stays within a CI minute or two.
import os

import schemathesis

# The served model's name: generated bodies name it, so that they reach the route's own
# validation and the engine instead of stopping at "model not found" (a 404 the random
# names still get where the field is missing or mistyped).
MODEL = os.environ.get("KILN_SCHEMATHESIS_MODEL")

# Fields that ask for generated tokens or samples, and the most a test request may ask for.
BOUNDS = {"max_tokens": 4, "max_completion_tokens": 4, "max_output_tokens": 4, "min_tokens": 2,
          "n": 2}


@schemathesis.hook
def map_case(context, case):
    body = case.body
    if isinstance(body, dict):
        if MODEL and isinstance(body.get("model"), str):
            body["model"] = MODEL
        for key, bound in BOUNDS.items():
            value = body.get(key)
            # Only numbers out of bounds are clamped; wrong types stay, to be rejected.
            if isinstance(value, int) and not isinstance(value, bool) and value > bound:
                body[key] = bound
    return case
