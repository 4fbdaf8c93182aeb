#!/usr/bin/env python3
"""Writes the structured-output test corpus next to this file, and checks it:

  schemas.jsonl   JSON Schemas: Pydantic v2 models (pydantic_models.py), OpenAI strict
                  function-calling parameters (function_schemas.py), configuration-file
                  subsets (config_schemas.py) and keyword corner cases (keyword_schemas.py)
  regexes.jsonl   regular expressions with strings they do and do not fullmatch (regexes.py)
  grammars.jsonl  Lark EBNF grammars, some with a GBNF twin, with strings they do and do not
                  parse (grammars.py)

Usage: python3 tests/data/structured/make_schemas.py [--check]
  --check   write nothing; fail if the files differ from what would be written
Needs pydantic>=2 (the jsonl was written with 2.13; another version may word its schemas
differently), jsonschema>=4.18 and lark.

Each schemas.jsonl line: {"name", "schema", "strict", "prompt", "example"}: `strict` is true
for the OpenAI strict-mode schemas (sent with "strict": true), `prompt` a one-line request
for the model, `example` a small instance that validates (the smallest this script finds,
properties in declared order), for unit tests of the schema compiler. Every schema is
checked against the Draft 2020-12 meta-schema, uses only keywords a grammar can enforce
(ALLOWED_KEYWORDS; minimum/maximum only on integers; patterns in the regex subset and
anchored), and has an example under MAX_EXAMPLE_CHARS of compact JSON, so a small model can
finish an instance within a couple of hundred tokens.
"""
import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "e2e"))

import jsonschema  # noqa: E402

import structured_ref  # noqa: E402  (tests/e2e/structured_ref.py)
from config_schemas import CONFIGS  # noqa: E402
from function_schemas import function_schemas  # noqa: E402
from keyword_schemas import keyword_schemas  # noqa: E402
from structured_ref import sre_c, sre_parse  # noqa: E402

MAX_EXAMPLE_CHARS = 320

# ---- Schema checks -------------------------------------------------------------------------

ALLOWED_KEYWORDS = {
    # structure
    "type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum",
    "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
    # bounds a grammar can enforce
    "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum",
    # annotations
    "title", "description", "default", "examples", "$schema", "$comment", "discriminator",
}
FORMATS = set(structured_ref.FORMATS)
MAX_ITEMS_LIMIT = 3
UNANCHORED = r"\d"


def audit(schema, path="#"):
    """Errors for keywords outside ALLOWED_KEYWORDS and bounds a grammar cannot enforce."""
    if isinstance(schema, bool):
        return []
    errors = [f"{path}: keyword {k!r}" for k in schema if k not in ALLOWED_KEYWORDS]
    types = schema.get("type")
    types = {types} if isinstance(types, str) else set(types or ())
    for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if k in schema and not (types and types <= {"integer", "null"}):
            errors.append(f"{path}: {k} on a non-integer")
    if "format" in schema and schema["format"] not in FORMATS:
        errors.append(f"{path}: format {schema['format']!r}")
    if "pattern" in schema:
        p = schema["pattern"]
        errors += [f"{path}: pattern {e}" for e in structured_ref.regex_problems(p)]
        # JSON Schema patterns search; anchoring both ends keeps the string bounded. The one
        # unanchored case is kept on purpose (kw_pattern_unanchored).
        if not (p.startswith("^") and p.endswith("$")) and p != UNANCHORED:
            errors.append(f"{path}: pattern {p!r} is not anchored")
    if schema.get("minItems", 0) > MAX_ITEMS_LIMIT:
        errors.append(f"{path}: minItems above {MAX_ITEMS_LIMIT}")
    for k in ("properties", "$defs", "definitions"):
        for name, sub in schema.get(k, {}).items():
            errors += audit(sub, f"{path}/{k}/{name}")
    for k in ("items", "additionalProperties"):
        if k in schema:
            errors += audit(schema[k], f"{path}/{k}")
    for k in ("prefixItems", "anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(k, [])):
            errors += audit(sub, f"{path}/{k}/{i}")
    return errors


# Minimal instances: the smallest value this walk finds for each schema, used to prove the
# schema satisfiable and small, and shipped as `example`.

FORMAT_EXAMPLES = {"date": "2024-02-29", "time": "12:30:00Z", "date-time": "2024-01-15T09:30:00Z",
                   "uuid": "123e4567-e89b-12d3-a456-426614174000", "email": "a@example.com",
                   "ipv4": "192.168.0.1", "uri": "https://example.com/"}


def regex_example(pattern):
    """The shortest string the walk finds that fullmatches `pattern` (first branches,
    fewest repeats, first class members)."""
    def one(items):
        out = ""
        for op, av in items:
            if op == sre_c.LITERAL:
                out += chr(av)
            elif op == sre_c.NOT_LITERAL:
                out += "a" if av != ord("a") else "b"
            elif op == sre_c.ANY:
                out += "a"
            elif op == sre_c.AT:
                pass
            elif op == sre_c.IN:
                out += class_member(av)
            elif op == sre_c.BRANCH:
                out += one(av[1][0])
            elif op == sre_c.SUBPATTERN:
                out += one(av[3])
            elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
                out += one(av[2]) * av[0]
            else:
                raise ValueError(f"regex_example: {op}")
        return out

    def class_member(items):
        if items and items[0][0] == sre_c.NEGATE:
            for c in "a0x_- ":
                if not re.fullmatch("[" + "".join(_class_text(items[1:])) + "]", c):
                    return c
            raise ValueError("regex_example: negated class")
        op, av = items[0]
        if op == sre_c.LITERAL:
            return chr(av)
        if op == sre_c.RANGE:
            return chr(av[0])
        if op == sre_c.CATEGORY:
            return {sre_c.CATEGORY_DIGIT: "0", sre_c.CATEGORY_WORD: "a",
                    sre_c.CATEGORY_SPACE: " "}.get(av, "a")
        raise ValueError(f"regex_example: class {op}")

    text = one(sre_parse.parse(pattern))
    if not structured_ref.fullmatch(pattern, text):
        raise ValueError(f"regex_example: {text!r} does not match {pattern!r}")
    return text


def _class_text(items):
    for op, av in items:
        if op == sre_c.LITERAL:
            yield re.escape(chr(av))
        elif op == sre_c.RANGE:
            yield re.escape(chr(av[0])) + "-" + re.escape(chr(av[1]))
        elif op == sre_c.CATEGORY:
            yield {sre_c.CATEGORY_DIGIT: r"\d", sre_c.CATEGORY_WORD: r"\w",
                   sre_c.CATEGORY_SPACE: r"\s", sre_c.CATEGORY_NOT_DIGIT: r"\D",
                   sre_c.CATEGORY_NOT_WORD: r"\W", sre_c.CATEGORY_NOT_SPACE: r"\S"}[av]


def resolve(root, ref):
    assert ref.startswith("#"), ref
    node = root
    for part in ref[1:].split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def merge_all_of(root, schema):
    """allOf of objects (and of a string's constraints) as one schema, for the walk."""
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for sub in schema["allOf"]:
        while "$ref" in sub:
            sub = resolve(root, sub["$ref"])
        for k, v in sub.items():
            if k == "properties":
                merged.setdefault("properties", {}).update(v)
            elif k == "required":
                merged["required"] = list(dict.fromkeys(merged.get("required", []) + v))
            else:
                merged.setdefault(k, v)
    return merged


def minimal(root, schema, depth=0):
    if depth > 20:
        raise ValueError("minimal: too deep")
    if schema is True or schema == {}:
        return None
    if "$ref" in schema:
        return minimal(root, resolve(root, schema["$ref"]), depth + 1)
    if "allOf" in schema:
        merged = merge_all_of(root, schema)
        return minimal(root, merged, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            candidates = []
            for sub in schema[key]:
                try:
                    v = minimal(root, sub, depth + 1)
                except ValueError:
                    continue
                candidates.append(v)
            candidates.sort(key=lambda v: len(json.dumps(v)))
            return candidates[0]
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t is None:
        t = "object" if "properties" in schema else "array" if "items" in schema else "null"
    if t == "object":
        props = schema.get("properties", {})
        required = schema.get("required", [])
        # Declared order first: engines that fix the property order follow `properties`.
        out = {}
        for name in [p for p in props if p in required] + [r for r in required if r not in props]:
            sub = props.get(name, schema.get("additionalProperties", True))
            out[name] = minimal(root, sub, depth + 1)
        return out
    if t == "array":
        prefix = schema.get("prefixItems", [])
        n = schema.get("minItems", 0)
        return [minimal(root, prefix[i] if i < len(prefix) else schema.get("items", True), depth + 1)
                for i in range(n)]
    if t == "string":
        if "format" in schema:
            return FORMAT_EXAMPLES[schema["format"]]
        text = regex_example(schema["pattern"]) if "pattern" in schema else ""
        if len(text) < schema.get("minLength", 0):
            # Repeating the last character keeps most patterns (\d+, [a-z]{2,}) matched.
            text += (text[-1:] or "x") * (schema["minLength"] - len(text))
        return text
    if t == "integer":
        if "minimum" in schema:
            return schema["minimum"]
        if "exclusiveMinimum" in schema:
            return schema["exclusiveMinimum"] + 1
        if "maximum" in schema:
            return min(0, schema["maximum"])
        return 0
    if t == "number":
        return 0
    if t == "boolean":
        return False
    return None


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def check_schema_entry(entry):
    name, schema = entry["name"], entry["schema"]
    jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    problems = audit(schema)
    if problems:
        raise ValueError(f"{name}: {problems}")
    errors = list(structured_ref.validator(schema).iter_errors(entry["example"]))
    if errors:
        raise ValueError(f"{name}: example {compact(entry['example'])} fails: {errors[0].message}")
    if len(compact(entry["example"])) > MAX_EXAMPLE_CHARS:
        raise ValueError(f"{name}: example is {len(compact(entry['example']))} characters")
    if entry["strict"]:
        check_strict(name, schema)


def check_strict(name, schema, path="#"):
    """OpenAI strict mode: every object closed, every property required."""
    if isinstance(schema, bool):
        return
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            raise ValueError(f"{name}: {path} is strict but open")
        if set(schema.get("required", [])) != set(schema.get("properties", {})):
            raise ValueError(f"{name}: {path} is strict but not all properties are required")
    for k in ("properties", "$defs"):
        for n, sub in schema.get(k, {}).items():
            check_strict(name, sub, f"{path}/{k}/{n}")
    if isinstance(schema.get("items"), dict):
        check_strict(name, schema["items"], f"{path}/items")
    for k in ("anyOf",):
        for i, sub in enumerate(schema.get(k, [])):
            check_strict(name, sub, f"{path}/{k}/{i}")


def schema_entries():
    from pydantic_models import MODELS
    raw = []
    for name, cls, prompt in MODELS:
        raw.append((name, cls.model_json_schema(), prompt, False))
    for name, schema, prompt in function_schemas():
        raw.append((name, schema, prompt, True))
    for name, prompt, schema in CONFIGS:
        raw.append((name, schema, prompt, False))
    for name, prompt, schema in keyword_schemas():
        raw.append((name, schema, prompt, False))
    entries = []
    for name, schema, prompt, strict in raw:
        entries.append({"name": name, "schema": schema, "strict": strict, "prompt": prompt,
                        "example": minimal(schema, schema)})
    names = [e["name"] for e in entries]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"duplicate names: {sorted(dupes)}")
    for e in entries:
        check_schema_entry(e)
    return entries


# ---- Regexes and grammars ------------------------------------------------------------------

def regex_entries():
    from regexes import REGEXES
    entries = []
    for name, pattern, examples, non_examples in REGEXES:
        problems = structured_ref.regex_problems(pattern)
        if problems:
            raise ValueError(f"regex {name}: {problems}")
        for ex in examples:
            if not (structured_ref.fullmatch(pattern, ex) and re.fullmatch(pattern, ex)):
                raise ValueError(f"regex {name}: example {ex!r} does not fullmatch")
        for ex in non_examples:
            if structured_ref.fullmatch(pattern, ex) or re.fullmatch(pattern, ex):
                raise ValueError(f"regex {name}: non-example {ex!r} matches")
        entries.append({"name": name, "regex": pattern, "examples": examples,
                        "non_examples": non_examples})
    return entries


def grammar_entries():
    from grammars import GRAMMARS
    entries = []
    for g in GRAMMARS:
        name, grammar = g["name"], g["grammar"]
        if "%ignore" in grammar:
            raise ValueError(f"grammar {name}: %ignore")
        left = structured_ref.lark_left_recursion(grammar)
        if left:
            raise ValueError(f"grammar {name}: left-recursive rules {left}")
        variants = [("grammar", grammar)]
        if g.get("gbnf"):
            translated = structured_ref.gbnf_to_lark(g["gbnf"])
            if structured_ref.lark_left_recursion(translated):
                raise ValueError(f"grammar {name}: the GBNF is left-recursive")
            variants.append(("gbnf", translated))
        for which, text in variants:
            for ex in g["examples"]:
                # Both lexers must agree, so the dynamic lexer is not stricter than the CFG.
                for complete in (False, True):
                    try:
                        structured_ref.lark_parser(text, complete).parse(ex)
                    except Exception as e:
                        raise ValueError(f"grammar {name} ({which}, complete={complete}): "
                                         f"example {ex!r} does not parse: {e}") from None
            for ex in g.get("non_examples", []):
                if structured_ref.lark_accepts(text, ex):
                    raise ValueError(f"grammar {name} ({which}): non-example {ex!r} parses")
        entries.append({k: g[k] for k in ("name", "grammar", "gbnf", "prompt", "examples",
                                          "non_examples") if k in g})
    return entries


def dump(entries):
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; fail if the files are not what would be written")
    args = ap.parse_args()
    outputs = {"schemas.jsonl": schema_entries(), "regexes.jsonl": regex_entries(),
               "grammars.jsonl": grammar_entries()}
    minimum = {"schemas.jsonl": 150, "regexes.jsonl": 50, "grammars.jsonl": 20}
    stale = []
    for fname, entries in outputs.items():
        if len(entries) < minimum[fname]:
            raise SystemExit(f"{fname}: only {len(entries)} entries, want {minimum[fname]}")
        path = os.path.join(HERE, fname)
        text = dump(entries)
        if args.check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    stale.append(fname)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        print(f"{fname}: {len(entries)} entries")
    if stale:
        raise SystemExit(f"out of date (run {sys.argv[0]}): {', '.join(stale)}")


if __name__ == "__main__":
    main()
