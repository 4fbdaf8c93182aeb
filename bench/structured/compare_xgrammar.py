#!/usr/bin/env python3
"""Structured output: kiln's token masks against xgrammar's, and both engines' speed.

kiln side: `kiln bench structured MODEL --schemas FILE --dump OUT.jsonl` walks random paths
through each schema's grammar and writes every mask it computed. This script replays the
same token sequences through xgrammar (the PyPI package, a peer installed outside the repo,
see bench/structured/README.md), fills its bitmask at every step, compares the two sets and
times xgrammar's compile and mask on the same walks. The parts shared with
compare_llguidance.py (the GGUF vocabulary, kiln's dump, the comparison loop, the summary)
are in mask_compare_common.py.

xgrammar's tokenizer: TokenizerInfo built from the same token byte strings that the
llguidance comparison uses (read from the GGUF by mask_compare_common.load_vocab), as
VocabType.RAW since they are already decoded (the self-test checks that xgrammar's own
BYTE_LEVEL / BYTE_FALLBACK decoding of the GGUF pieces gives the same bytes). Non-text
tokens (control, unknown, unused) are given as empty strings, which xgrammar treats as
special and never allows; kiln's end-token set is its stop_token_ids.

xgrammar's grammar: GrammarCompiler.compile_json_schema's options as kiln's defaults:
any_whitespace=False with separators (",", ":") (kiln's compact JSON), strict_mode=False
(kiln, as JSON Schema, allows properties a schema does not declare unless
additionalProperties says otherwise; xgrammar's strict mode would forbid them). Every token
only one engine allows is put in a known class (classify(), CLASSES); the rest are "other"
and printed with examples for a human to explain.

Timing: compile = Grammar.from_json_schema + GrammarCompiler.compile_grammar (cache off,
one thread, so every schema is a cold compile like kiln's) + GrammarMatcher(...); the
schema-to-grammar conversion alone is reported too (kiln's compile figure does not include
its own). mask = GrammarMatcher.fill_next_token_bitmask into a preallocated numpy int32
array (DLPack), timed from Python.

Usage (the README has the setup):
  compare_xgrammar.py --kiln build/release/kiln --model M.gguf \\
      --schemas tests/data/structured/schemas.jsonl --walks 1 --steps 30 --out /tmp/xgr-qwen
  compare_xgrammar.py --model M.gguf --dump DUMP.jsonl --kiln-report REPORT.json --out DIR
  compare_xgrammar.py --selftest [--model M.gguf]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
import types
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mask_compare_common import (  # noqa: E402  (the shared parts, beside this script)
    T_USER_DEFINED, Peer, Vocab, add_common_arguments, escapes_in, load_vocab, run_comparison,
    schema_traits, selftest_common, selftest_end_to_end)


# ----------------------------------------------------------------------------- xgrammar

def _absent_module(name: str) -> types.ModuleType:
    """A stand-in for a package xgrammar imports at its top level but that no code path used
    here calls. Any attribute is a class whose instances accept anything."""

    class Absent:
        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, *args, **kwargs):
            return Absent()

        def __getattr__(self, attr):
            return Absent()

    m = types.ModuleType(name)
    m.__path__ = []  # a package, so `from name.sub import x` fails loudly rather than oddly

    def getattr_(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return type(attr, (Absent,), {})

    m.__getattr__ = getattr_
    return m


ABSENT_MODULES: list[str] = []


def import_xgrammar():
    """xgrammar 0.2.x imports torch and transformers at its top level (for its torch bitmask
    helpers, logits kernels and Hugging Face adapters), although the grammar compiler and
    the matcher are C++ and fill any DLPack int32 array. When they are not installed
    (pip install --no-deps, see the README), stand-ins are put in their place: the paths
    used here (TokenizerInfo from a list of bytes, Grammar.from_json_schema,
    GrammarCompiler, GrammarMatcher.fill_next_token_bitmask on a numpy array) never touch
    them. tvm_ffi is imported first: it looks for torch itself, and must see that it is
    absent."""
    importlib.import_module("tvm_ffi")  # before the stand-ins: it looks for torch itself

    for name in ("torch", "transformers"):
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = _absent_module(name)
            ABSENT_MODULES.append(name)
    import xgrammar

    return xgrammar


def versions() -> dict:
    from importlib.metadata import version

    out = {}
    for p in ("xgrammar", "apache-tvm-ffi", "gguf", "numpy"):
        try:
            out[p] = version(p)
        except Exception:
            out[p] = "?"
    out["absent (stand-ins)"] = ",".join(ABSENT_MODULES) or "none"
    return out


JSON_OPTIONS = {"any_whitespace": False, "separators": (",", ":"), "strict_mode": False}
THREADS = 1  # --xgr-threads: GrammarCompiler's max_threads (xgrammar's default is 8)


def xgr_tokenizer_info(v: Vocab):
    xgr = import_xgrammar()
    encoded = [v.token_bytes[i] if v.is_text[i] else b"" for i in range(v.size)]
    return xgr.TokenizerInfo(encoded, xgr.VocabType.RAW, vocab_size=v.size,
                             stop_token_ids=list(v.end_tokens), add_prefix_space=False)


class _Stderr:
    """Captures what xgrammar's C++ code logs on file descriptor 2 (its warnings, such as
    "format combined with minLength/maxLength is not supported; ignoring ...")."""

    def __enter__(self):
        import tempfile

        sys.stderr.flush()
        self.file = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.seek(0)
        self.text = self.file.read().decode("utf-8", errors="replace")
        self.file.close()
        return False


def _warnings(log: str) -> list[str]:
    """The messages of xgrammar's log lines ("[time] file:line: Warning: message")."""
    out = []
    for line in log.splitlines():
        m = re.search(r"Warning: (.*)", line)
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out


class XgrWalker:
    """One grammar in xgrammar: compile (timed, cold), then masks along a token path."""

    def __init__(self, info, schema: Any):
        xgr = import_xgrammar()
        self.error = ""
        self.note = None
        self.n = info.vocab_size
        self.buf = np.zeros((1, (self.n + 31) // 32), dtype=np.int32)
        compiler = xgr.GrammarCompiler(info, max_threads=THREADS, cache_enabled=False)
        text = json.dumps(schema)
        with _Stderr() as log:
            t0 = time.perf_counter()
            try:
                grammar = xgr.Grammar.from_json_schema(text, **JSON_OPTIONS)
                t1 = time.perf_counter()
                compiled = compiler.compile_grammar(grammar)
                self.matcher = xgr.GrammarMatcher(compiled)
                t2 = time.perf_counter()
            except Exception as e:  # xgrammar refuses the schema
                self.error = f"{type(e).__name__}: {e}".strip()
        self.warnings = _warnings(log.text)
        if self.error:
            self.compile_seconds = self.convert_seconds = 0.0
            return
        self.compile_seconds = t2 - t0
        self.convert_seconds = t1 - t0
        self.note = {"convert_ms": round(1e3 * self.convert_seconds, 3)}
        if self.warnings:
            self.note["warnings"] = self.warnings
        self._refused = ""

    def reset(self) -> None:
        self.matcher.reset()

    def consume(self, t: int) -> bool:
        ok = self.matcher.accept_token(t)
        if not ok:
            self._refused = f"accept_token({t}) is false"
        return ok

    def error_text(self) -> str:
        return self._refused

    def accepts(self, t: int) -> bool:
        return self.matcher.fork().accept_token(t)

    def mask(self) -> tuple[np.ndarray, float]:
        buf = self.buf
        t0 = time.perf_counter()
        self.matcher.fill_next_token_bitmask(buf)
        dt = time.perf_counter() - t0
        bits = np.unpackbits(buf.view(np.uint8), bitorder="little")[: self.n].astype(bool)
        return bits, dt


# ----------------------------------------------------------------------------- classes

# Each known class of difference: (side that allows the token, explanation). The
# explanations are the findings written up in docs/benchmarks.md.
CLASSES = {
    # kiln allows, xgrammar refuses
    "escape_in_length_string": (
        "kiln", "an escape (\\n, \\\", \\uXXXX, ...) in a string with minLength/maxLength: "
        "xgrammar writes such strings as [^\"\\\\\\r\\n]{m,n}, with no escapes at all (a subset); "
        "kiln takes every escape and counts it as one character"),
    "pattern_unanchored": (
        "kiln", "a string with an unanchored pattern (\"\\\\d\"): JSON Schema patterns are "
        "ECMA-262 regexes that may match anywhere in the string; xgrammar matches the whole "
        "string against them (as if written ^...$)"),
    "uri_scheme_digit": (
        "kiln", "format uri: a digit in the scheme (\"os2:\"), which RFC 3986 section 3.1 allows "
        "(ALPHA *( ALPHA / DIGIT / + / - / . )); xgrammar's scheme is [a-zA-Z][a-zA-Z+.-]*"),
    "negative_zero": (
        "kiln", "-0: the JSON number grammar (RFC 8259) allows it and its value, 0, is an "
        "integer; xgrammar's integer is 0 | -?[1-9][0-9]*"),
    # xgrammar allows, kiln refuses
    "control_in_length_string": (
        "xgrammar", "a raw control character (U+0000-U+001F other than \\n and \\r: tab, \\x0b, "
        "\\x1b, ...) in a string with minLength/maxLength: not JSON (RFC 8259 section 7 requires "
        "them escaped); xgrammar's [^\"\\\\\\r\\n]{m,n} lets them through. An xgrammar bug"),
    "key_or_pattern_escapes": (
        "xgrammar", "an escape that JSON does not require (\\/, \\uXXXX of a printable "
        "character) where kiln writes only the escapes JSON requires: extra property names and "
        "format strings (a documented kiln subset)"),
    "email_quoted_local_part": (
        "xgrammar", "format email: a quoted local part (\"\\\"john doe\\\"@example.com\", RFC 5321); "
        "kiln takes dot-atom@domain only (a documented subset)"),
    "leap_second": (
        "xgrammar", "time/date-time: second 60 (RFC 3339 leap second); kiln takes 00-59"),
    "date_day_of_month": (
        "xgrammar", "date/date-time: a day the month does not have (11-31, 02-30; RFC 3339 "
        "section 5.7); xgrammar's day is 01-31 in every month. An xgrammar bug"),
    "ipv4_leading_zero": (
        "xgrammar", "format ipv4: an octet with a leading zero (\"01\", \"00\"); the JSON Schema "
        "test suite rejects them (octal ambiguity), kiln too"),
    "length_ignored_with_pattern_or_format": (
        "xgrammar", "minLength/maxLength on a string with a pattern or a format: xgrammar "
        "ignores them (it warns \"pattern/format combined with minLength/maxLength is not "
        "supported\"), so it allows strings too short or too long. An xgrammar subset that "
        "breaks validation"),
    "format_length_cap": (
        "xgrammar", "a format with minLength/maxLength that kiln's exact counter cannot hold: "
        "kiln bounds every repetition instead (a documented subset), e.g. uri schemes of at "
        "most about 24 characters"),
    "regex_optional_group": (
        "xgrammar", "a pattern with an optional group ending in a repetition, (?:X Y{m,n})?: "
        "xgrammar takes Y without X (^(?:/\\d{1,2})?$ accepts \"1\"; the semver pattern accepts "
        "\"1.2.3a\"). An xgrammar bug"),
    "allof_ignored": (
        "xgrammar", "allOf with two or more subschemas: xgrammar 0.2.9 compiles it as any JSON "
        "value (it warns \"Support for allOf with multiple options is still ongoing\"); in such a "
        "schema every token only xgrammar allows is put in this class"),
    "xgr_mask_not_accepted": (
        "xgrammar", "a token xgrammar's mask allows but its own GrammarMatcher.accept_token "
        "refuses at the same point (e.g. '\"\"\\n' where an extra property name may start: the "
        "empty name followed by whitespace that its key rule's lookahead [ \\n\\r\\t]* [,}\\]:] "
        "admits but compact JSON does not). An xgrammar bug; kiln refuses the token"),
}

# Classes that are only which escapes and raw characters a JSON string may use (valid JSON
# on both sides).
STRING_POLICY = {"escape_in_length_string", "key_or_pattern_escapes"}

_OPTIONAL_GROUP_WITH_REPEAT = re.compile(r"\((?:\?:)?[^()]*(?:[+*}])\)\?")


def xgr_traits(schema: Any) -> set:
    """schema_traits() and what the xgrammar classes need: strings with a length limit and
    no pattern or format, patterns (unanchored ones, optional groups ending in a
    repetition), length limits on a pattern or format string (("maxLength", n) and
    ("minLength", n) items), allOf with several subschemas."""
    traits = set(schema_traits(schema))

    def visit(x):
        if isinstance(x, dict):
            has_len = "minLength" in x or "maxLength" in x
            pattern = x.get("pattern")
            if isinstance(pattern, str):
                traits.add("pattern")
                if not pattern.startswith("^") or not pattern.endswith("$"):
                    traits.add("pattern:unanchored")
                if _OPTIONAL_GROUP_WITH_REPEAT.search(pattern):
                    traits.add("pattern:optional-group")
                if has_len:
                    traits.add("pattern+length")
            if has_len and (isinstance(pattern, str) or isinstance(x.get("format"), str)):
                for k in ("minLength", "maxLength"):
                    if isinstance(x.get(k), int):
                        traits.add((k, x[k]))
            elif has_len:
                traits.add("string+length")
            if isinstance(x.get("allOf"), list) and len(x["allOf"]) > 1:
                traits.add("allOf")
            for v in x.values():
                visit(v)
        elif isinstance(x, list):
            for v in x:
                visit(v)

    visit(schema)
    return traits


def string_content(text: bytes) -> bytes | None:
    """The content so far of the JSON string the text ends in, or None if it ends outside
    a string (compact JSON: a quote not escaped opens or closes a string)."""
    inside, start, i = False, 0, 0
    while i < len(text):
        c = text[i]
        if inside and c == 0x5C:  # backslash: skip the escaped byte
            i += 2
            continue
        if c == 0x22:
            inside = not inside
            start = i + 1
        i += 1
    return text[start:] if inside else None


def json_chars(b: bytes) -> int:
    """Characters (code points) of JSON string content, an escape counting as one."""
    s = re.sub(rb"\\u[0-9a-fA-F]{4}|\\.", b"_", b)
    return len(s.decode("utf-8", errors="ignore"))


_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def _bad_day(content: bytes, tb: bytes) -> bool:
    """The token completes a day, or the first digit of one, that the month does not have."""
    m = re.search(rb"(\d{4})-(\d\d)-(\d\d?)", content + tb)
    if not m or m.end() <= len(content):
        return False
    year, month, day = (int(g) for g in m.groups())
    if len(m.group(3)) == 1:
        day *= 10  # the smallest day that starts with this digit
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    limit = 29 if month == 2 and leap else 28 if month == 2 else _DAYS.get(month, 31)
    return day > limit


def _has_escape(text: bytes, tb: bytes) -> bool:
    """The token writes, continues or starts a backslash escape."""
    if escapes_in(text, tb):
        return True
    whole = text + tb
    return (len(whole) - len(whole.rstrip(b"\\"))) % 2 == 1


def classify(side: str, tb: bytes, text: bytes, traits: set) -> str:
    """The known class of one token that only one engine allows, or "other"."""
    content = string_content(text)
    if side == "kiln":
        if "string+length" in traits and _has_escape(text, tb):
            return "escape_in_length_string"
        if "pattern:unanchored" in traits:
            return "pattern_unanchored"
        if "format:uri" in traits and content is not None and b":" not in content \
                and any(0x30 <= c <= 0x39 for c in tb.split(b":")[0]):
            return "uri_scheme_digit"
        if tb[:1] == b"0" and text[-1:] == b"-" and text[-2:-1] in (b":", b"[", b",", b""):
            return "negative_zero"
        return "other_kiln_only"
    if "allOf" in traits:
        return "allof_ignored"
    if "string+length" in traits and any(c < 0x20 for c in tb):
        return "control_in_length_string"
    if "format:email" in traits and (
            (content is None and tb.startswith(b'"\\')) or (content == b"" and tb[:1] == b"\\")
            or (content or b"").startswith(b'\\"')):
        return "email_quoted_local_part"
    if escapes_in(text, tb):
        return "key_or_pattern_escapes"
    if content is not None and tb[:1] == b"6" and re.search(rb"\d\d:\d\d:$", content):
        return "leap_second"
    if content is not None and ("format:date" in traits or "format:date-time" in traits) \
            and tb[:1].isdigit() and _bad_day(content, tb):
        return "date_day_of_month"
    if content is not None and "format:ipv4" in traits and tb[:1].isdigit() \
            and re.search(rb"(?:^|\.)0$", content):
        return "ipv4_leading_zero"
    if content is not None and ("pattern+length" in traits or "format+length" in traits):
        longest = max((n for k, n in (t for t in traits if isinstance(t, tuple))
                       if k == "maxLength"), default=None)
        shortest = min((n for k, n in (t for t in traits if isinstance(t, tuple))
                        if k == "minLength"), default=None)
        body = tb.split(b'"')[0]
        if longest is not None and json_chars(content + body) > longest:
            return "length_ignored_with_pattern_or_format"
        if shortest is not None and b'"' in tb and json_chars(content + body) < shortest:
            return "length_ignored_with_pattern_or_format"
        if "format:uri" in traits and "format+length" in traits:
            return "format_length_cap"
    if "pattern:optional-group" in traits:
        return "regex_optional_group"
    return "other_xgr_only"


def convert_timing(res) -> dict:
    """The schema-to-grammar part of xgrammar's compile, and its warnings, from the
    walkers' notes."""
    from mask_compare_common import percentile

    conv = [n["convert_ms"] for n in res.grammars_peer_notes]
    warned: dict[str, list[str]] = {}
    for n in res.grammars_peer_notes:
        for w in n.get("warnings", []):
            warned.setdefault(w, []).append(n["grammar"])
    return {"convert_ms_p50": round(percentile(conv, 0.5), 3),
            "convert_ms_p99": round(percentile(conv, 0.99), 3),
            "warnings": warned, "versions": versions()}


def summary_markdown(s: dict) -> str:
    x = s["xgrammar"]
    lines = [f"\nxgrammar's schema-to-grammar conversion (part of its compile): p50 "
             f"{x['convert_ms_p50']} ms, p99 {x['convert_ms_p99']} ms. Versions: "
             + ", ".join(f"{k} {v}" for k, v in x["versions"].items())]
    for w, names in x["warnings"].items():
        lines.append(f"- xgrammar warned \"{w}\" for {len(names)} schemas: {', '.join(names)}")
    return "\n".join(lines)


def make_peer(v: Vocab) -> Peer:
    info = xgr_tokenizer_info(v)
    return Peer(name="xgrammar", key="xgr", new_walker=lambda schema: XgrWalker(info, schema),
                classify=classify, classes=CLASSES, string_policy=STRING_POLICY,
                traits=xgr_traits, self_check_class="xgr_mask_not_accepted",
                split_first_mask=False, notes_key="grammars_xgr_compile", print_notes=False,
                extra_timing=convert_timing, extra_markdown=summary_markdown,
                timing_note="xgrammar compile = from_json_schema + compile_grammar (cache off, "
                            f"{THREADS} thread) + GrammarMatcher; mask = fill_next_token_bitmask "
                            "into a numpy int32 array, timed from Python")


# ----------------------------------------------------------------------------- driver

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(ap, "/tmp/kiln-xgr-compare")
    ap.add_argument("--xgr-threads", type=int, default=1,
                    help="GrammarCompiler max_threads (default 1, as kiln compiles on one thread)")
    a = ap.parse_args(argv)
    global THREADS
    THREADS = a.xgr_threads
    import_xgrammar()
    print(f"versions: {json.dumps(versions())}", file=sys.stderr)
    if a.selftest:
        return selftest(a.model)
    return run_comparison(ap, a, make_peer)


# ----------------------------------------------------------------------------- self-test

def xgrammar_facts() -> dict[str, bool]:
    """The xgrammar behaviours the classes describe, checked on a one-byte vocabulary:
    all true with xgrammar 0.2.9; one that turns false means a class's explanation is out
    of date."""
    xgr = import_xgrammar()
    vocab = [bytes([b]) for b in range(128)]
    info = xgr.TokenizerInfo(vocab, xgr.VocabType.RAW, vocab_size=len(vocab) + 1,
                             stop_token_ids=[len(vocab)])
    compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)

    def accepts(schema: Any, text: str) -> bool:
        with _Stderr():
            g = xgr.Grammar.from_json_schema(json.dumps(schema), **JSON_OPTIONS)
            m = xgr.GrammarMatcher(compiler.compile_grammar(g))
        return m.accept_string(text) and m.is_completed()

    s_len = {"type": "string", "maxLength": 9}
    return {
        "escape_in_length_string": not accepts(s_len, '"a\\nb"') and accepts({"type": "string"}, '"a\\nb"'),
        "control_in_length_string": accepts(s_len, '"a\tb"') and not accepts({"type": "string"}, '"a\tb"'),
        "pattern_unanchored": not accepts({"type": "string", "pattern": "\\d"}, '"a1"'),
        "uri_scheme_digit": not accepts({"type": "string", "format": "uri"}, '"s3://b"'),
        "negative_zero": not accepts({"type": "integer"}, "-0"),
        "date_day_of_month": accepts({"type": "string", "format": "date"}, '"2023-02-31"'),
        "ipv4_leading_zero": accepts({"type": "string", "format": "ipv4"}, '"10.0.0.01"'),
        "email_quoted_local_part": accepts({"type": "string", "format": "email"},
                                           '"\\"john doe\\"@example.com"'),
        "length_ignored_with_pattern_or_format": accepts(
            {"type": "string", "pattern": "^\\d+$", "minLength": 4}, '"1"'),
        "regex_optional_group": accepts({"type": "string", "pattern": "^(?:/\\d{1,2})?$"}, '"1"'),
        "allof_ignored": accepts({"allOf": [{"type": "integer"}, {"minimum": 1}]}, '"x"'),
        "leap_second": accepts({"type": "string", "format": "time"}, '"10:11:60Z"'),
        "refuses_false_subschema": _refuses({"properties": {"never": False}}),
    }


def _refuses(schema: Any) -> bool:
    xgr = import_xgrammar()
    try:
        with _Stderr():
            xgr.Grammar.from_json_schema(json.dumps(schema), **JSON_OPTIONS)
    except Exception:
        return True
    return False


def selftest(model: str | None) -> int:
    selftest_common()
    # The classes, from the token bytes, the text before them and the schema's traits.
    c = classify
    assert c("kiln", b'"\\', b'{"name":', {"string+length"}) == "escape_in_length_string"
    assert c("kiln", b"a\\n", b'{"name":"x', {"string+length"}) == "escape_in_length_string"
    assert c("kiln", b"x", b'{"s":"', {"pattern", "pattern:unanchored"}) == "pattern_unanchored"
    assert c("kiln", b"2", b'{"u":"os', {"format:uri"}) == "uri_scheme_digit"
    assert c("kiln", b"0", b'{"v":-', set()) == "negative_zero"
    assert c("kiln", b"x", b'{"a":"', set()) == "other_kiln_only"
    assert c("xgrammar", b"\tx", b'{"a":"', {"string+length"}) == "control_in_length_string"
    assert c("xgrammar", b'\\"', b'{"e":"', {"format:email"}) == "email_quoted_local_part"
    assert c("xgrammar", b'"\\', b"", {"format:email"}) == "email_quoted_local_part"
    assert c("xgrammar", b"\\/", b'{"a":1,"', set()) == "key_or_pattern_escapes"
    assert c("xgrammar", b"/x", b'{"a":1,"\\', set()) == "key_or_pattern_escapes"
    assert c("xgrammar", b"6", b'"10:11:', {"format:time"}) == "leap_second"
    assert c("xgrammar", b"1", b'"2023-11-3', {"format:date"}) == "date_day_of_month"
    assert c("xgrammar", b"3", b'"2024-02-', {"format:date"}) == "date_day_of_month"
    assert c("xgrammar", b"9", b'"2024-02-2', {"format:date"}) == "other_xgr_only"
    assert c("xgrammar", b"1", b'"10.0', {"format:ipv4"}) == "ipv4_leading_zero"
    assert c("xgrammar", b'"', b'"9', {"pattern", "pattern+length", ("minLength", 4)}) \
        == "length_ignored_with_pattern_or_format"
    assert c("xgrammar", b"abcd", b'{"s":"ab', {"pattern+length", ("maxLength", 5)}) \
        == "length_ignored_with_pattern_or_format"
    assert c("xgrammar", b"1", b'{"c":"*', {"pattern", "pattern:optional-group"}) \
        == "regex_optional_group"
    assert c("xgrammar", b'"x', b"", {"allOf"}) == "allof_ignored"
    assert c("xgrammar", b"x", b'{"a":"', set()) == "other_xgr_only"
    assert string_content(b'{"a":"x\\"y') == b'x\\"y' and string_content(b'{"a":1') is None
    assert string_content(b'{"a":"\\\\') == b"\\\\" and string_content(b'{"a":"\\\\"') is None
    assert json_chars("a\\u00e9\\n\u00e9".encode()) == 4
    assert xgr_traits({"properties": {"s": {"type": "string", "pattern": "\\d", "maxLength": 3},
                                      "t": {"type": "string", "maxLength": 3},
                                      "v": {"pattern": "^1(?:x\\d{1,2})?$"}}}) == {
        "pattern", "pattern:unanchored", "pattern+length", ("maxLength", 3), "string+length",
        "pattern:optional-group"}
    print("selftest: tables, mask encoding and classes ok", file=sys.stderr)
    facts = xgrammar_facts()
    stale = [k for k, ok in facts.items() if not ok]
    print(f"selftest: {len(facts) - len(stale)} of {len(facts)} xgrammar behaviours behind "
          f"the classes hold" + (f"; NOT: {stale} (update CLASSES)" if stale else ""),
          file=sys.stderr)
    if not model:
        return 0
    xgr = import_xgrammar()
    v = load_vocab(model)
    # xgrammar's own decoding of the GGUF pieces gives the bytes this script reads
    # (user-defined tokens are raw text on both sides and left out).
    native = xgr.TokenizerInfo(
        v.texts, xgr.VocabType.BYTE_LEVEL if v.model == "gpt2" else xgr.VocabType.BYTE_FALLBACK,
        vocab_size=v.size, stop_token_ids=list(v.end_tokens))
    decoded = native.decoded_vocab
    checked = [t for t in range(v.size) if v.is_text[t] and v.types[t] != T_USER_DEFINED]
    bad = [t for t in checked if bytes(decoded[t]) != v.token_bytes[t]]
    assert not bad, [(t, v.texts[t], decoded[t], v.token_bytes[t]) for t in bad[:5]]
    # Non-text tokens are special to xgrammar; the end set is its stop set.
    info = xgr_tokenizer_info(v)
    assert sorted(info.stop_token_ids) == v.end_tokens, info.stop_token_ids
    assert set(info.special_token_ids) == set(np.flatnonzero(~v.is_text)) - set(v.end_tokens)
    # End to end without kiln: a dump made by walking xgrammar itself must compare identical.
    s = selftest_end_to_end(v, make_peer(v))
    print(f"selftest: end to end on {os.path.basename(model)} ok ({len(checked)} pieces "
          f"decoded alike by xgrammar's {native.vocab_type.name}; {s['masks_compared']} masks "
          f"identical; a flipped bit is reported)", file=sys.stderr)
    return 0 if not stale else 1


if __name__ == "__main__":
    sys.exit(main())
