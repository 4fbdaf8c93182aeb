#!/usr/bin/env python3
"""Structured output: kiln's token masks against llguidance's, and both engines' speed.

kiln side: `kiln bench structured MODEL --schemas FILE --dump OUT.jsonl` walks random paths
through each schema's grammar and writes every mask it computed (JSONL: grammar, walk,
tokens of the walk so far, allowed count, mask_base64 = bitset, bit t = byte t/8, bit t%8).
This script replays the same token sequences through llguidance (a peer installed outside
the repo, see bench/structured/README.md), computes its mask at every step, compares the
two sets and times llguidance's compile and mask on the same walks. The parts shared with
compare_xgrammar.py (the GGUF vocabulary, kiln's dump, the comparison loop, the summary)
are in mask_compare_common.py, whose docstring says how the tokenizer is read and how the
end of generation is compared.

Special tokens (control, unknown, unused) are given to llguidance with its 0xFF marker,
which its grammars never allow; kiln's end-token set is its EOS list.

llguidance's grammar: the same schema with compact separators and no whitespace, and its
`no_forcing` option (see llg_grammar()). Every token only one engine allows is put in a
known class of difference (classify(), CLASSES); the rest are "other" and printed with
examples for a human to explain.

Usage (the README has the setup):
  compare_llguidance.py --kiln build/release/kiln --model M.gguf \
      --schemas tests/data/structured/schemas.jsonl --walks 1 --steps 30 --out /tmp/cmp-smol
  compare_llguidance.py --model M.gguf --schemas S.jsonl --dump DUMP.jsonl \
      --kiln-report REPORT.json --out DIR        # a dump made before
  compare_llguidance.py --selftest               # the script's own checks, no kiln needed
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mask_compare_common import (  # noqa: E402  (the shared parts, beside this script)
    Peer, Vocab, add_common_arguments, escapes_in, load_vocab, run_comparison, selftest_common,
    selftest_end_to_end)


# ----------------------------------------------------------------------------- llguidance

class GreedyTokenizer:
    """What llguidance's TokenizerWrapper needs from a tokenizer: the token list, EOS/BOS,
    the special ids and a bytes -> ids function. Only llguidance's prompt/fast-forward paths
    call the function (never mask computation); longest-match is enough for them."""

    def __init__(self, v: Vocab):
        self.tokens = v.token_bytes
        self.eos_token_id = v.eos_id
        self.bos_token_id = None
        self.special_token_ids = [i for i in range(v.size) if not v.is_text[i]]
        self._ids = {}
        for i in range(v.size):
            if v.is_text[i] and v.token_bytes[i] and v.token_bytes[i] not in self._ids:
                self._ids[v.token_bytes[i]] = i
        self._max = max((len(b) for b in self._ids), default=1)

    def __call__(self, data: bytes) -> list[int]:
        if isinstance(data, str):
            data = data.encode("utf-8")
        out, i = [], 0
        while i < len(data):
            for L in range(min(self._max, len(data) - i), 0, -1):
                t = self._ids.get(data[i:i + L])
                if t is not None:
                    out.append(t)
                    i += L
                    break
            else:
                i += 1  # a byte no token spells: skip it (never happens with byte fallback)
        return out


def llg_tokenizer(v: Vocab):
    import llguidance

    wrapper = llguidance.TokenizerWrapper(GreedyTokenizer(v))
    return llguidance.LLTokenizer(wrapper, n_vocab=v.size, eos_token=list(v.end_tokens))



JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}


FORCING = False  # --llg-forcing: llguidance's default, see llg_grammar()
GENERAL_UNICODE_ESCAPES = False  # --llg-unicode-escapes: \\uXXXX for any character


def llg_grammar(schema: Any, lenient: bool = False) -> str:
    """The schema as an llguidance grammar with kiln's compact JSON. By default also with
    llguidance's `no_forcing` option: without it, when the grammar forces some bytes
    (`{"name":"` at the start of an object), llguidance's mask is the single token that
    starts their canonical tokenization, where kiln (like a plain grammar mask) allows every
    token that spells a prefix of them. That is a tokenization policy, not grammar
    semantics, so the comparison turns it off."""
    import llguidance

    opts = dict(JSON_OPTIONS)
    if lenient:
        opts["lenient"] = True
    if GENERAL_UNICODE_ESCAPES:
        opts["json_allow_general_unicode_escapes"] = True
    if FORCING:
        return llguidance.LLMatcher.grammar_from_json_schema(schema, overrides=opts)
    if isinstance(schema, dict):
        schema = dict(schema)
        schema["x-guidance"] = {**schema.get("x-guidance", {}), **opts}
    elif schema is True:
        schema = {"x-guidance": opts}
    else:  # false: nothing validates; llguidance reports it as an error
        schema = {"not": {}, "x-guidance": opts}
    lark = '%llguidance {"no_forcing": true}\nstart: %json ' + json.dumps(schema)
    return llguidance.LLMatcher.grammar_from_lark(lark)


class LlgWalker:
    """One grammar in llguidance: compile (timed), then masks along a token path."""

    def __init__(self, tok, schema: Any):
        import llguidance

        self.lenient = False
        self.error = ""
        self.note = None
        t0 = time.perf_counter()
        grammar = llg_grammar(schema)
        m = llguidance.LLMatcher(tok, grammar, log_level=0)
        if m.is_error():
            # Retry with unknown keywords ignored (kiln ignores them too, as JSON Schema says).
            strict_error = m.get_error()
            grammar = llg_grammar(schema, lenient=True)
            m = llguidance.LLMatcher(tok, grammar, log_level=0)
            self.lenient = True
            if m.is_error():
                self.error = m.get_error()
            else:
                self.strict_error = strict_error
                self.note = {"strict_error": strict_error[:400]}
        self.compile_seconds = time.perf_counter() - t0
        self.matcher = m
        self.n = tok.vocab_size
        self.buf = np.zeros((self.n + 31) // 32, dtype=np.int32)

    def reset(self) -> None:
        self.matcher.reset()

    def consume(self, t: int) -> bool:
        return self.matcher.consume_token(t)

    def error_text(self) -> str:
        return self.matcher.get_error()

    def mask(self) -> tuple[np.ndarray, float]:
        buf = self.buf
        t0 = time.perf_counter()
        self.matcher.unsafe_compute_mask_ptr(buf.ctypes.data, buf.nbytes)
        dt = time.perf_counter() - t0
        bits = np.unpackbits(buf.view(np.uint8), bitorder="little")[: self.n].astype(bool)
        return bits, dt


# ----------------------------------------------------------------------------- classes

# Each known class of difference: (key, side that allows the token, explanation). The
# explanations are the findings written up in docs/benchmarks.md.
CLASSES = {
    "del_in_string": ("kiln", "a raw DEL (0x7F) inside a JSON string: RFC 8259 only requires "
                      "U+0000-U+001F to be escaped; llguidance refuses 0x7F"),
    "escaped_solidus": ("kiln", "the escape \\/ inside a JSON string: RFC 8259 allows it; "
                        "llguidance's default escapes are \\\" \\\\ b f n r t u"),
    "uri_dash_tilde_bang": ("llguidance", "format uri: '-', '~' and '!' after the scheme. A kiln "
                            "bug: its character class \"A-Za-z0-9._~-!$&...\" reads \"~-!\" as an "
                            "empty range"),
    "format_length_cap": ("llguidance", "a format with minLength/maxLength that kiln's exact "
                          "counter cannot hold: kiln bounds every repetition instead (a documented "
                          "subset), e.g. uri schemes of at most about 24 characters"),
    "unicode_escape": ("kiln", "\\uXXXX escapes of any character (surrogates paired) in a "
                       "plain string: RFC 8259 allows them; llguidance by default takes \\u only "
                       "for control characters (its json_allow_general_unicode_escapes option "
                       "lifts that; --llg-unicode-escapes)"),
    "key_or_pattern_escapes": ("llguidance", "a \\uXXXX escape where kiln writes only the escapes "
                               "JSON requires: extra property names and pattern/format strings "
                               "(a documented kiln subset)"),
    "email_address_literal": ("llguidance", "format email: an address literal domain "
                              "(user@[192.0.2.1], RFC 5321); kiln takes dot-atom@domain only (a "
                              "documented subset)"),
    "email_one_label_domain": ("llguidance", "format email: a domain of one label (user@host), "
                               "which RFC 5321 allows; kiln requires two or more labels (a "
                               "documented subset)"),
    "rfc3339_lowercase": ("llguidance", "date-time/time: lower-case 't' and 'z', which RFC 3339 "
                          "section 5.6 allows; kiln takes upper case only"),
    "leap_second": ("llguidance", "time/date-time: second 60 (RFC 3339 leap second); kiln takes "
                    "00-59"),
}


# Classes that are only which escapes and raw characters a JSON string may use: kiln
# takes more of what RFC 8259 allows in plain strings, llguidance more in property names.
STRING_POLICY = {"del_in_string", "escaped_solidus", "unicode_escape", "key_or_pattern_escapes"}


def classify(side: str, tb: bytes, text: bytes, traits: set[str]) -> str:
    """The known class of one token that only one engine allows, or "other"."""
    esc = escapes_in(text, tb)
    if side == "kiln":
        if b"\x7f" in tb:
            return "del_in_string"
        if "/" in esc:
            return "escaped_solidus"
        if "u" in esc:
            return "unicode_escape"
        return "other_kiln_only"
    if "u" in esc:
        return "key_or_pattern_escapes"
    if "format:uri" in traits and any(c in tb for c in b"-~!"):
        return "uri_dash_tilde_bang"
    if "format+length" in traits and "format:uri" in traits:
        return "format_length_cap"
    if "format:email" in traits and (b"@[" in tb or (text.endswith(b"@") and tb[:1] == b"[")):
        return "email_address_literal"
    if "format:email" in traits and tb[:1] == b'"':
        string = text[text.rfind(b'"') + 1:]
        if b"@" in string and b"." not in string[string.rfind(b"@"):]:
            return "email_one_label_domain"
    if tb[:1] in (b"t", b"z") and text[-1:].isdigit() and (
            "format:date-time" in traits or "format:time" in traits):
        return "rfc3339_lowercase"
    if tb[:1] == b"6" and len(text) >= 6 and text[-1:] == b":" and text[-3:-1].isdigit() \
            and text[-4:-3] == b":":
        return "leap_second"
    return "other_llg_only"


def make_peer(v: Vocab) -> Peer:
    tok = llg_tokenizer(v)
    return Peer(name="llguidance", key="llg", new_walker=lambda schema: LlgWalker(tok, schema),
                classify=classify, classes=CLASSES, string_policy=STRING_POLICY,
                split_first_mask=True, notes_key="grammars_llg_lenient")


# ----------------------------------------------------------------------------- driver

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(ap, "/tmp/kiln-llg-compare")
    ap.add_argument("--llg-forcing", action="store_true",
                    help="keep llguidance's forcing of canonical tokens (its default; see llg_grammar)")
    ap.add_argument("--llg-unicode-escapes", action="store_true",
                    help="llguidance's json_allow_general_unicode_escapes: \\uXXXX for any "
                         "character in strings without pattern/format, as kiln allows")
    a = ap.parse_args(argv)
    global FORCING, GENERAL_UNICODE_ESCAPES
    FORCING = a.llg_forcing
    GENERAL_UNICODE_ESCAPES = a.llg_unicode_escapes
    if a.selftest:
        return selftest(a.model)
    return run_comparison(ap, a, make_peer)


# ----------------------------------------------------------------------------- self-test

def selftest(model: str | None) -> int:
    selftest_common()
    assert classify("kiln", b"\x7f", b'{"a":"', set()) == "del_in_string"
    assert classify("kiln", b"/x", b'{"a":"\\', set()) == "escaped_solidus"
    assert classify("llguidance", b":-", b'"values', {"format:uri"}) == "uri_dash_tilde_bang"
    assert classify("llguidance", b"t", b'"2024-01-01', {"format:date-time"}) == "rfc3339_lowercase"
    assert classify("llguidance", b"6", b'"10:11:', {"format:time"}) == "leap_second"
    assert classify("llguidance", b'"', b'{"to":"a@host', {"format:email"}) == "email_one_label_domain"
    assert classify("llguidance", b"x", b'{"a":"', set()) == "other_llg_only"
    print("selftest: tables, mask encoding and classes ok", file=sys.stderr)
    if not model:
        return 0
    # End to end without kiln: a dump made by walking llguidance itself must compare identical.
    v = load_vocab(model)
    s = selftest_end_to_end(v, make_peer(v))
    print(f"selftest: end to end on {os.path.basename(model)} ok "
          f"({s['masks_compared']} masks identical; a flipped bit is reported)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
