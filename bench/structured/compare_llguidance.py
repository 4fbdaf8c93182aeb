#!/usr/bin/env python3
"""Structured output: kiln's token masks against llguidance's, and both engines' speed.

kiln side: `kiln bench structured MODEL --schemas FILE --dump OUT.jsonl` walks random paths
through each schema's grammar and writes every mask it computed (JSONL: grammar, walk,
tokens of the walk so far, allowed count, mask_base64 = bitset, bit t = byte t/8, bit t%8).
This script replays the same token sequences through llguidance (a peer installed outside
the repo, see bench/structured/README.md), computes its mask at every step, compares the
two sets and times llguidance's compile and mask on the same walks.

The tokenizer is read from the GGUF with the `gguf` package, independently of kiln:
  - tokenizer.ggml.model "gpt2" (byte-level BPE): each character of a token maps back to a
    byte through the GPT-2 byte-to-unicode table;
  - "llama" (SentencePiece): "\u2581" -> space, byte tokens "<0xXX>" (token type 6) -> the byte.
  - user-defined tokens (type 4) are their raw text (as llama.cpp prints them).
Text tokens are token types 0 (undefined), 1 (normal), 4 (user-defined) and 6 (byte), the
tokens kiln can put into structured text. All others (control, unknown, unused) are given
to llguidance as special tokens (its 0xFF marker), which its grammars never allow.

End of generation: kiln allows its end tokens (EOS, EOT and the control tokens spelled
<|im_end|>, <|endoftext|>, <end_of_turn>, <|eot_id|>, ... ) exactly when the grammar may
end. llguidance is given the same end-token set as its EOS list. The comparison is split:
  - text tokens: bit for bit;
  - end: "kiln allows an end token" against "llguidance allows its EOS";
  - the non-text tokens kiln allows are checked to be exactly the end set (or none).

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
import base64
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

# Token types (tokenizer.ggml.token_type, llama.cpp's llama_token_type).
T_UNDEFINED, T_NORMAL, T_UNKNOWN, T_CONTROL, T_USER_DEFINED, T_UNUSED, T_BYTE = range(7)
TEXT_TYPES = (T_UNDEFINED, T_NORMAL, T_USER_DEFINED, T_BYTE)
# Control tokens that end a turn (the rule kiln documents for its end-of-generation set).
END_OF_TURN_TEXTS = ("<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|eot_id|>",
                     "<|eom_id|>", "<|end|>", "<|end_of_text|>", "</s>", "<eos>", "<EOT>")
SPM_SPACE = "\u2581"


# ----------------------------------------------------------------------------- vocabulary

def gpt2_unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode(): printable bytes map to themselves, the other
    68 bytes to U+0100.. in byte order."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
                 + list(range(ord("\xae"), ord("\xff") + 1)))
    table = {}
    extra = 0
    for b in range(256):
        if b in printable:
            table[chr(b)] = b
        else:
            table[chr(256 + extra)] = b
            extra += 1
    return table


_GPT2 = gpt2_unicode_to_byte()


def gpt2_token_bytes(text: str) -> bytes:
    out = bytearray()
    for ch in text:
        b = _GPT2.get(ch)
        if b is None:
            out += ch.encode("utf-8")  # not in the table: keep the character as UTF-8
        else:
            out.append(b)
    return bytes(out)


def spm_token_bytes(text: str, token_type: int) -> bytes:
    if token_type == T_BYTE and len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
        try:
            return bytes([int(text[3:5], 16)])
        except ValueError:
            pass
    return text.replace(SPM_SPACE, " ").encode("utf-8")


def readable(b: bytes) -> str:
    """Bytes for humans: quoted, printable characters kept, everything else escaped."""
    out = []
    for ch in b.decode("utf-8", errors="surrogateescape"):
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that is not (complete) UTF-8
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


@dataclass
class Vocab:
    path: str
    model: str                 # "gpt2" or "llama"
    texts: list[str]           # the pieces as stored in the GGUF
    types: np.ndarray          # token type per token
    token_bytes: list[bytes]   # text tokens: their bytes; others: their raw text (special)
    is_text: np.ndarray        # bool per token
    end_tokens: list[int]      # kiln's end-of-generation set
    eos_id: int

    @property
    def size(self) -> int:
        return len(self.texts)

    def show(self, t: int) -> str:
        """A token for humans: id and its bytes, escaped."""
        if 0 <= t < self.size and self.is_text[t]:
            return f"{t}:{readable(self.token_bytes[t])}"
        return f"{t}:<special {self.texts[t] if 0 <= t < self.size else '?'}>"

    def text_of(self, tokens: list[int]) -> bytes:
        return b"".join(self.token_bytes[t] for t in tokens)


def _gguf_strings(field_) -> list[str]:
    return [bytes(field_.parts[i]).decode("utf-8", errors="surrogateescape") for i in field_.data]


def _gguf_scalar(fields, key: str, default=None):
    f = fields.get(key)
    if f is None:
        return default
    v = f.parts[f.data[0]]
    return v.tolist()[0] if hasattr(v, "tolist") else v


def load_vocab(path: str) -> Vocab:
    from gguf import GGUFReader

    r = GGUFReader(path)
    f = r.fields
    model = bytes(f["tokenizer.ggml.model"].parts[f["tokenizer.ggml.model"].data[0]]).decode()
    texts = _gguf_strings(f["tokenizer.ggml.tokens"])
    n = len(texts)
    if "tokenizer.ggml.token_type" in f:
        tf = f["tokenizer.ggml.token_type"]
        types = np.array([int(tf.parts[i][0]) for i in tf.data], dtype=np.int32)
    else:
        types = np.full(n, T_NORMAL, dtype=np.int32)
    if model not in ("gpt2", "llama"):
        raise SystemExit(f"{path}: tokenizer.ggml.model {model!r} is neither gpt2 nor llama")
    is_text = np.isin(types, TEXT_TYPES)
    token_bytes = []
    for t, (s, ty) in enumerate(zip(texts, types)):
        if not is_text[t] or ty == T_USER_DEFINED:
            token_bytes.append(s.encode("utf-8", errors="surrogateescape"))
        elif model == "gpt2":
            token_bytes.append(gpt2_token_bytes(s))
        else:
            token_bytes.append(spm_token_bytes(s, int(ty)))
    eos = _gguf_scalar(f, "tokenizer.ggml.eos_token_id", -1)
    eot = _gguf_scalar(f, "tokenizer.ggml.eot_token_id", -1)
    end = set(x for x in (eos, eot) if x is not None and 0 <= x < n)
    by_text = {s: i for i, s in enumerate(texts) if types[i] == T_CONTROL}
    for s in END_OF_TURN_TEXTS:
        if s in by_text:
            end.add(by_text[s])
    return Vocab(path, model, texts, types, token_bytes, is_text, sorted(end),
                 eos if eos is not None else -1)


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
        self.compile_seconds = time.perf_counter() - t0
        self.matcher = m
        self.n = tok.vocab_size
        self.buf = np.zeros((self.n + 31) // 32, dtype=np.int32)

    def reset(self) -> None:
        self.matcher.reset()

    def consume(self, t: int) -> bool:
        return self.matcher.consume_token(t)

    def mask(self) -> tuple[np.ndarray, float]:
        buf = self.buf
        t0 = time.perf_counter()
        self.matcher.unsafe_compute_mask_ptr(buf.ctypes.data, buf.nbytes)
        dt = time.perf_counter() - t0
        bits = np.unpackbits(buf.view(np.uint8), bitorder="little")[: self.n].astype(bool)
        return bits, dt


# ----------------------------------------------------------------------------- kiln dump

def decode_kiln_mask(b64: str, n: int) -> np.ndarray:
    raw = np.frombuffer(base64.b64decode(b64), dtype=np.uint8)
    bits = np.unpackbits(raw, bitorder="little")
    if len(bits) < n:
        bits = np.concatenate([bits, np.zeros(n - len(bits), dtype=np.uint8)])
    return bits[:n].astype(bool)


def encode_kiln_mask(bits: np.ndarray) -> str:
    return base64.b64encode(np.packbits(bits.astype(np.uint8), bitorder="little").tobytes()).decode()


def read_walks(path: str) -> Iterator[tuple[str, int, list[dict]]]:
    """Dump lines grouped by consecutive (grammar, walk)."""
    key, lines = None, []
    with open(path) as fh:
        for line in fh:
            if not line.strip():
                continue
            d = json.loads(line)
            k = (d["grammar"], d["walk"])
            if k != key and lines:
                yield key[0], key[1], lines
                lines = []
            key = k
            lines.append(d)
    if lines:
        yield key[0], key[1], lines


def percentile(v: list[float], p: float) -> float:
    """kiln's definition: the sorted value at index min(n-1, floor(p*n))."""
    if not v:
        return 0.0
    s = sorted(v)
    return s[min(len(s) - 1, int(p * len(s)))]


# ----------------------------------------------------------------------------- comparison

@dataclass
class Results:
    vocab: str
    vocab_tokens: int
    masks_compared: int = 0
    identical: int = 0
    text_differs: int = 0
    end_differs: int = 0
    special_anomalies: int = 0
    walks: int = 0
    walks_diverged: int = 0      # kiln took a token llguidance refuses: rest not comparable
    steps_skipped: int = 0
    grammars: int = 0
    grammars_llg_error: list = field(default_factory=list)
    grammars_llg_lenient: list = field(default_factory=list)
    grammars_with_diff: set = field(default_factory=set)
    llg_compile_s: list = field(default_factory=list)
    llg_first_mask_s: list = field(default_factory=list)
    llg_mask_s: list = field(default_factory=list)
    llg_consume_s: list = field(default_factory=list)
    differences: list = field(default_factory=list)
    string_policy_only: int = 0  # masks that differ only by STRING_POLICY classes
    class_masks: Counter = field(default_factory=Counter)   # masks with a token of the class
    class_tokens: Counter = field(default_factory=Counter)  # (mask, token) pairs of the class
    class_diverged: Counter = field(default_factory=Counter)  # walks cut by a token of the class


# ----------------------------------------------------------------------------- classes

def schema_traits(schema: Any) -> set[str]:
    """What a schema uses that explains known differences: formats, and a format or
    pattern combined with a length limit."""
    traits: set[str] = set()

    def visit(x):
        if isinstance(x, dict):
            fmt = x.get("format")
            if isinstance(fmt, str):
                traits.add("format:" + fmt)
                if "maxLength" in x or "minLength" in x:
                    traits.add("format+length")
            for v in x.values():
                visit(v)
        elif isinstance(x, list):
            for v in x:
                visit(v)

    visit(schema)
    return traits


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

EXTRA_CLASSES = {
    "end": "the engines disagree on whether the grammar may end here",
    "special_tokens": "kiln allows a non-text token outside its end set, or llguidance allows "
                      "a special token other than EOS",
    "other_kiln_only": "not a known class, tokens only kiln allows: read the examples",
    "other_llg_only": "not a known class, tokens only llguidance allows: read the examples",
}


_IN_U_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{0,3}$")


def escapes_in(text: bytes, tb: bytes) -> set[str]:
    """The JSON escape letters the token writes or completes ("u", "/", "n", ...), given
    the text before it. A backslash can only stand inside a JSON string, so no parsing of
    the rest is needed: only the escape state at the end of the text matters."""
    found: set[str] = set()
    backslashes = len(text) - len(text.rstrip(b"\\"))
    pending = backslashes % 2 == 1
    in_u = 0  # hex digits of a \\u escape still to come
    if not pending and _IN_U_ESCAPE.search(text):
        found.add("u")
        in_u = 4 - (len(text) - text.rindex(b"\\u") - 2)
    for c in tb:
        if in_u:
            in_u -= 1
        elif pending:
            found.add(chr(c))
            pending = False
            if c == ord("u"):
                in_u = 4
        elif c == ord("\\"):
            pending = True
    return found


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


def tail(b: bytes, n: int = 80) -> str:
    return ("..." if len(b) > n else "") + readable(b[-n:])


def compare(v: Vocab, schemas: dict[str, Any], dump: str, examples: int = 8,
            max_diffs_per_grammar: int = 3, progress: bool = True) -> Results:
    tok = llg_tokenizer(v)
    res = Results(vocab=os.path.basename(v.path), vocab_tokens=v.size)
    end_set = np.zeros(v.size, dtype=bool)
    end_set[v.end_tokens] = True
    nontext = ~v.is_text
    walkers: dict[str, LlgWalker] = {}
    traits_of: dict[str, set[str]] = {}
    diffs_in: Counter = Counter()
    classes_detailed: set[str] = set()  # classes with an example kept
    t_start = time.time()
    for gi, (name, w, lines) in enumerate(read_walks(dump)):
        if name not in schemas:
            raise SystemExit(f"{dump}: grammar {name!r} is not in the schemas file")
        if name not in walkers:
            walkers.clear()  # one grammar at a time, as kiln does
            lw = LlgWalker(tok, schemas[name])
            walkers[name] = lw
            traits_of[name] = schema_traits(schemas[name])
            res.grammars += 1
            if lw.error:
                res.grammars_llg_error.append({"grammar": name, "error": lw.error[:400]})
            else:
                res.llg_compile_s.append(lw.compile_seconds)
                if lw.lenient:
                    res.grammars_llg_lenient.append(
                        {"grammar": name, "strict_error": getattr(lw, "strict_error", "")[:400]})
            first = True
        else:
            lw = walkers[name]
            lw.reset()
            first = False
        res.walks += 1
        if lw.error:
            res.steps_skipped += len(lines)
            continue
        consumed: list[int] = []
        for step, d in enumerate(lines):
            toks = d["tokens"]
            if toks[: len(consumed)] != consumed or len(toks) != len(consumed) + (step > 0):
                raise SystemExit(f"{dump}: {name} walk {w} step {step}: tokens do not extend the walk")
            if step > 0:
                t = toks[-1]
                t0 = time.perf_counter()
                ok = lw.consume(t)
                res.llg_consume_s.append(time.perf_counter() - t0)
                consumed.append(t)
                if not ok:
                    res.walks_diverged += 1
                    res.steps_skipped += len(lines) - step
                    cls = classify("kiln", v.token_bytes[t], v.text_of(toks[:-1]), traits_of[name])
                    res.class_diverged[cls] += 1
                    res.differences.append({
                        "grammar": name, "walk": w, "step": step, "kind": "walk_diverged",
                        "classes": {cls: 1}, "token": v.show(t),
                        "text_before": tail(v.text_of(toks[:-1])),
                        "llg_error": lw.matcher.get_error()[:300]})
                    break
            lm, dt = lw.mask()
            if step == 0 and first:
                res.llg_first_mask_s.append(dt)
            else:
                res.llg_mask_s.append(dt)
            km = decode_kiln_mask(d["mask_base64"], v.size)
            res.masks_compared += 1
            k_text, l_text = km & v.is_text, lm & v.is_text
            k_special = km & nontext
            k_end = bool(k_special.any())
            l_end = bool((lm & end_set).any())
            anomaly = k_end and not np.array_equal(k_special, end_set)
            l_special_other = lm & nontext & ~end_set
            text_same = np.array_equal(k_text, l_text)
            if text_same and k_end == l_end and not anomaly and not l_special_other.any():
                res.identical += 1
                continue
            only_k = np.flatnonzero(k_text & ~l_text)
            only_l = np.flatnonzero(l_text & ~k_text)
            if not text_same:
                res.text_differs += 1
            if k_end != l_end:
                res.end_differs += 1
            if anomaly:
                res.special_anomalies += 1
            res.grammars_with_diff.add(name)
            diffs_in[name] += 1
            text = v.text_of(toks)
            classes: Counter = Counter()
            by_class: dict[str, list[int]] = defaultdict(list)
            for side, ids in (("kiln", only_k), ("llguidance", only_l)):
                for t in ids:
                    c = classify(side, v.token_bytes[t], text, traits_of[name])
                    classes[c] += 1
                    by_class[c].append(int(t))
            if k_end != l_end:
                classes["end"] += 1
            if anomaly or l_special_other.any():
                classes["special_tokens"] += 1
            if set(classes) <= STRING_POLICY:
                res.string_policy_only += 1
            for c, n in classes.items():
                res.class_masks[c] += 1
                res.class_tokens[c] += n
            rng = random.Random(f"{name}/{w}/{step}")
            pick = lambda ids: [v.show(int(t)) for t in (
                sorted(rng.sample(list(ids), examples)) if len(ids) > examples else ids)]
            other = by_class["other_kiln_only"] + by_class["other_llg_only"]
            detail = (diffs_in[name] <= max_diffs_per_grammar or bool(other)
                      or not set(classes) <= classes_detailed)
            if detail:
                classes_detailed.update(classes)
            res.differences.append({
                "grammar": name, "walk": w, "step": step, "kind": "mask",
                "classes": dict(classes), "text_before": tail(text),
                **({} if not detail else {"tokens": toks}),
                "kiln_allowed": int(km.sum()), "llg_allowed": int(lm.sum()),
                "only_kiln": len(only_k), "only_llg": len(only_l),
                "only_kiln_examples": pick(only_k) if detail else [],
                "only_llg_examples": pick(only_l) if detail else [],
                "other_examples": pick(other),
                "kiln_end": k_end, "llg_end": l_end,
                "kiln_special_not_end": [v.show(int(t)) for t in np.flatnonzero(k_special & ~end_set)][:5],
                "llg_special_not_end": [v.show(int(t)) for t in np.flatnonzero(l_special_other)][:5],
            })
        if progress and gi % 20 == 0:
            print(f"  [{res.vocab}] {gi} walks, {res.masks_compared} masks, "
                  f"{res.identical} identical, {time.time() - t_start:.0f}s", file=sys.stderr)
    res.diff_counts_by_grammar = dict(diffs_in)
    return res


def summary(res: Results, kiln_report: dict | None) -> dict:
    us = lambda v, p: round(1e6 * percentile(v, p), 1)
    ms = lambda v, p: round(1e3 * percentile(v, p), 2)
    out = {
        "vocab": res.vocab, "vocab_tokens": res.vocab_tokens, "grammars": res.grammars,
        "walks": res.walks, "masks_compared": res.masks_compared, "identical": res.identical,
        "identical_but_string_policy": res.identical + res.string_policy_only,
        "text_differs": res.text_differs, "end_differs": res.end_differs,
        "special_anomalies": res.special_anomalies, "walks_diverged": res.walks_diverged,
        "steps_skipped": res.steps_skipped,
        "grammars_with_diff": sorted(res.grammars_with_diff),
        "diff_counts_by_grammar": getattr(res, "diff_counts_by_grammar", {}),
        "classes": {c: {"masks": res.class_masks[c], "tokens": res.class_tokens[c],
                        "walks_diverged": res.class_diverged[c],
                        "grammars": sorted({d["grammar"] for d in res.differences
                                            if c in d.get("classes", {})}),
                        "allowed_by": CLASSES[c][0] if c in CLASSES else "",
                        "explanation": CLASSES[c][1] if c in CLASSES else EXTRA_CLASSES.get(c, "")}
                    for c in sorted(set(res.class_masks) | set(res.class_diverged))},
        "grammars_llg_error": res.grammars_llg_error,
        "grammars_llg_lenient": res.grammars_llg_lenient,
        "llguidance": {
            "compile_ms_p50": ms(res.llg_compile_s, 0.5), "compile_ms_p99": ms(res.llg_compile_s, 0.99),
            "first_mask_ms_p50": ms(res.llg_first_mask_s, 0.5),
            "first_mask_ms_p99": ms(res.llg_first_mask_s, 0.99),
            "masks": len(res.llg_mask_s),
            "mask_us_p50": us(res.llg_mask_s, 0.5), "mask_us_p99": us(res.llg_mask_s, 0.99),
            "mask_us_mean": round(1e6 * float(np.mean(res.llg_mask_s)), 1) if res.llg_mask_s else 0,
            "all_masks_us_p50": us(res.llg_mask_s + res.llg_first_mask_s, 0.5),
            "all_masks_us_p99": us(res.llg_mask_s + res.llg_first_mask_s, 0.99),
            "consume_us_p50": us(res.llg_consume_s, 0.5), "consume_us_p99": us(res.llg_consume_s, 0.99),
        },
    }
    if kiln_report:
        out["kiln"] = {k: kiln_report[k] for k in (
            "vocab_seconds", "grammars", "compile_ms_p50", "compile_ms_p99", "compile_ms_max",
            "masks", "mask_us_p50", "mask_us_p99", "mask_us_mean") if k in kiln_report}
    return out


def print_markdown(s: dict, diffs: list) -> None:
    print(f"\n### {s['vocab']} ({s['vocab_tokens']} tokens)\n")
    print(f"- grammars {s['grammars']}, walks {s['walks']}, masks compared {s['masks_compared']}, "
          f"**identical {s['identical']}** ({100 * s['identical'] / max(1, s['masks_compared']):.1f}%), "
          f"identical but for the string-content classes {s['identical_but_string_policy']} "
          f"({100 * s['identical_but_string_policy'] / max(1, s['masks_compared']):.1f}%); "
          f"text tokens differ in {s['text_differs']}, end differs in {s['end_differs']}, "
          f"special-token anomalies {s['special_anomalies']}; walks diverged {s['walks_diverged']} "
          f"(steps not compared {s['steps_skipped']})")
    if s["grammars_llg_error"]:
        print(f"- llguidance cannot compile {len(s['grammars_llg_error'])}: "
              + "; ".join(f"{e['grammar']}: {e['error'][:120]}" for e in s["grammars_llg_error"]))
    if s["grammars_llg_lenient"]:
        print("- compiled by llguidance only with lenient: "
              + ", ".join(e["grammar"] for e in s["grammars_llg_lenient"]))
    print("\n| class | allowed only by | masks | tokens | walks cut | grammars | explanation |")
    print("|---|---|---|---|---|---|---|")
    for c, x in s["classes"].items():
        print(f"| {c} | {x['allowed_by']} | {x['masks']} | {x['tokens']} | {x['walks_diverged']} | "
              f"{len(x['grammars'])} | {x['explanation']} |")
    l, k = s["llguidance"], s.get("kiln", {})
    nan = float("nan")
    print("\n| | kiln | llguidance |\n|---|---|---|")
    print(f"| mask us p50 / p99 / mean | {k.get('mask_us_p50', nan):.1f} / "
          f"{k.get('mask_us_p99', nan):.1f} / {k.get('mask_us_mean', nan):.1f} | "
          f"{l['mask_us_p50']} / {l['mask_us_p99']} / {l['mask_us_mean']} |")
    print(f"| compile ms p50 / p99 | {k.get('compile_ms_p50', nan):.2f} / "
          f"{k.get('compile_ms_p99', nan):.2f} | {l['compile_ms_p50']} / {l['compile_ms_p99']} "
          f"(first mask {l['first_mask_ms_p50']} / {l['first_mask_ms_p99']}) |")
    print(f"| llguidance masks with the first of each grammar, us p50 / p99 | | "
          f"{l['all_masks_us_p50']} / {l['all_masks_us_p99']} |")
    # One example per class, and every unexplained one (up to 10).
    shown: set = set()
    others = 0
    for d in diffs:
        cls = set(d.get("classes", {}))
        unexplained = bool(cls & {"other_kiln_only", "other_llg_only", "end", "special_tokens"})
        if d["kind"] == "mask" and not d["only_kiln_examples"] and not d["only_llg_examples"]:
            continue  # no detail kept
        if cls <= shown and not (unexplained and others < 10):
            continue
        shown |= cls
        others += unexplained
        print(f"\n- {sorted(cls)}: {d['grammar']} walk {d['walk']} step {d['step']} after "
              f"{d['text_before']}")
        if d["kind"] == "walk_diverged":
            err = d["llg_error"].split("\n")[0]
            print(f"  llguidance refuses kiln's token {d['token']}: {err}")
            continue
        print(f"  allowed: kiln {d['kiln_allowed']}, llguidance {d['llg_allowed']}; "
              f"end kiln {d['kiln_end']} llguidance {d['llg_end']}")
        if d["only_kiln"]:
            print(f"  only kiln ({d['only_kiln']}): {', '.join(d['only_kiln_examples'])}")
        if d["only_llg"]:
            print(f"  only llguidance ({d['only_llg']}): {', '.join(d['only_llg_examples'])}")
        if d["other_examples"]:
            print(f"  unexplained: {', '.join(d['other_examples'])}")
        if d["kiln_special_not_end"] or d["llg_special_not_end"]:
            print(f"  special tokens: kiln {d['kiln_special_not_end']}, llguidance {d['llg_special_not_end']}")


# ----------------------------------------------------------------------------- driver

def load_schemas(path: str) -> tuple[dict[str, Any], list[str]]:
    schemas, lines = {}, []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            d = json.loads(line)
            name = d.get("name", str(n))
            schemas[name] = d["schema"]
            lines.append(line if line.endswith("\n") else line + "\n")
    return schemas, lines


def run_kiln(kiln: str, model: str, schemas_file: str, walks: int, steps: int, seed: int,
             dump: str) -> dict:
    cmd = [kiln, "bench", "structured", model, "--schemas", schemas_file, "--walks", str(walks),
           "--steps", str(steps), "--seed", str(seed), "--dump", dump]
    print("+ " + " ".join(cmd), file=sys.stderr)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"kiln failed ({p.returncode}):\n{p.stderr}\n{p.stdout}")
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    return json.loads(lines[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="GGUF model (only its tokenizer is read)")
    ap.add_argument("--schemas", default="tests/data/structured/schemas.jsonl")
    ap.add_argument("--subset", type=int, default=0,
                    help="keep every K-th schema (deterministic subset; 0 or 1 = all)")
    ap.add_argument("--limit", type=int, default=0, help="at most N schemas (after --subset)")
    ap.add_argument("--kiln", help="kiln binary: run `kiln bench structured --dump` first")
    ap.add_argument("--walks", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dump", help="an existing kiln dump (instead of --kiln)")
    ap.add_argument("--kiln-report", help="kiln's JSON report line for that dump (a file)")
    ap.add_argument("--out", default="/tmp/kiln-llg-compare", help="folder for the outputs")
    ap.add_argument("--examples", type=int, default=8, help="token examples per difference")
    ap.add_argument("--llg-forcing", action="store_true",
                    help="keep llguidance's forcing of canonical tokens (its default; see llg_grammar)")
    ap.add_argument("--llg-unicode-escapes", action="store_true",
                    help="llguidance's json_allow_general_unicode_escapes: \\uXXXX for any "
                         "character in strings without pattern/format, as kiln allows")
    ap.add_argument("--selftest", action="store_true", help="check this script's parts and exit")
    a = ap.parse_args(argv)
    global FORCING, GENERAL_UNICODE_ESCAPES
    FORCING = a.llg_forcing
    GENERAL_UNICODE_ESCAPES = a.llg_unicode_escapes
    if a.selftest:
        return selftest(a.model)
    if not a.model:
        ap.error("--model is required")
    os.makedirs(a.out, exist_ok=True)
    schemas, lines = load_schemas(a.schemas)
    if a.subset > 1:
        lines = lines[:: a.subset]
    if a.limit:
        lines = lines[: a.limit]
    subset_file = os.path.join(a.out, "schemas.jsonl")
    with open(subset_file, "w") as fh:
        fh.writelines(lines)
    kiln_report = None
    if a.kiln:
        dump = os.path.join(a.out, "kiln_dump.jsonl")
        kiln_report = run_kiln(a.kiln, a.model, subset_file, a.walks, a.steps, a.seed, dump)
        with open(os.path.join(a.out, "kiln_report.json"), "w") as fh:
            json.dump(kiln_report, fh)
    elif a.dump:
        dump = a.dump
        if a.kiln_report:
            with open(a.kiln_report) as fh:
                kiln_report = json.loads([l for l in fh if l.startswith("{")][-1])
    else:
        ap.error("give --kiln (run kiln) or --dump (an existing dump)")
    t0 = time.time()
    v = load_vocab(a.model)
    print(f"vocab: {v.size} tokens ({v.model}), {int(v.is_text.sum())} text, end tokens "
          f"{[v.texts[t] for t in v.end_tokens]}, read in {time.time() - t0:.1f}s", file=sys.stderr)
    res = compare(v, schemas, dump, examples=a.examples)
    s = summary(res, kiln_report)
    s["command"] = " ".join(sys.argv)
    with open(os.path.join(a.out, "results.json"), "w") as fh:
        json.dump({"summary": s, "differences": res.differences}, fh, indent=1, ensure_ascii=False)
    print_markdown(s, res.differences)
    print(f"\n(results: {os.path.join(a.out, 'results.json')})")
    return 0


# ----------------------------------------------------------------------------- self-test

def selftest(model: str | None) -> int:
    # GPT-2 table: a bijection, printable ASCII maps to itself, space is U+0120 ("Ġ").
    assert len(_GPT2) == 256 and sorted(_GPT2.values()) == list(range(256))
    assert gpt2_token_bytes("\u0120hello") == b" hello"
    assert gpt2_token_bytes("\u010a") == b"\n"
    assert gpt2_token_bytes("\u00e4\u00b8\u0143") == "\u4e2d".encode()  # "中" as GPT-2 spells it
    # SentencePiece.
    assert spm_token_bytes("\u2581the", T_NORMAL) == b" the"
    assert spm_token_bytes("<0x0A>", T_BYTE) == b"\n"
    assert spm_token_bytes("<0x0A>", T_NORMAL) == b"<0x0A>"
    # Mask encoding: bit t = byte t/8, bit t%8 (little-endian), as kiln writes it.
    bits = np.zeros(21, dtype=bool)
    bits[[0, 3, 8, 20]] = True
    raw = base64.b64decode(encode_kiln_mask(bits))
    assert raw == bytes([0b00001001, 0b00000001, 0b00010000]), raw
    assert np.array_equal(decode_kiln_mask(encode_kiln_mask(bits), 21), bits)
    assert percentile([3, 1, 2, 4], 0.5) == 3 and percentile([1.0], 0.99) == 1.0
    # Escape state across the token boundary, and a few classes.
    assert escapes_in(b'"a\\', b"u12") == {"u"} and escapes_in(b'"a', b":\\/\\/") == {"/"}
    assert escapes_in(b'"a\\u1', b"2") == {"u"} and escapes_in(b'"a\\\\', b"u") == set()
    assert classify("kiln", b"\x7f", b'{"a":"', set()) == "del_in_string"
    assert classify("kiln", b"/x", b'{"a":"\\', set()) == "escaped_solidus"
    assert classify("llguidance", b":-", b'"values', {"format:uri"}) == "uri_dash_tilde_bang"
    assert classify("llguidance", b"t", b'"2024-01-01', {"format:date-time"}) == "rfc3339_lowercase"
    assert classify("llguidance", b"6", b'"10:11:', {"format:time"}) == "leap_second"
    assert classify("llguidance", b'"', b'{"to":"a@host', {"format:email"}) == "email_one_label_domain"
    assert classify("llguidance", b"x", b'{"a":"', set()) == "other_llg_only"
    assert schema_traits({"properties": {"u": {"format": "uri", "maxLength": 9}}}) == {
        "format:uri", "format+length"}
    print("selftest: tables, mask encoding and classes ok", file=sys.stderr)
    if not model:
        return 0
    # End to end without kiln: a dump made by walking llguidance itself must compare identical.
    import tempfile

    v = load_vocab(model)
    tok = llg_tokenizer(v)
    schemas = {
        "obj": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
                "required": ["a", "b"], "additionalProperties": False},
        "arr": {"type": "array", "items": {"enum": ["x", "yz", None]}, "maxItems": 3},
    }
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        dump = os.path.join(d, "dump.jsonl")
        with open(dump, "w") as fh:
            for name, schema in schemas.items():
                lw = LlgWalker(tok, schema)
                assert not lw.error, lw.error
                for w in range(2):
                    lw.reset()
                    toks: list[int] = []
                    for step in range(12):
                        m, _ = lw.mask()
                        # what kiln would write: end tokens allowed together, as a set
                        km = m.copy()
                        if m[v.end_tokens].any():
                            km[v.end_tokens] = True
                        fh.write(json.dumps({"grammar": name, "walk": w, "tokens": toks,
                                             "allowed": int(km.sum()),
                                             "mask_base64": encode_kiln_mask(km)}) + "\n")
                        text_ids = np.flatnonzero(m & v.is_text)
                        if len(text_ids) == 0:
                            break
                        t = int(text_ids[rng.randrange(len(text_ids))])
                        assert lw.consume(t)
                        toks = toks + [t]
        res = compare(v, schemas, dump, progress=False)
        s = summary(res, None)
        assert s["masks_compared"] > 20 and s["identical"] == s["masks_compared"], s
        # A changed mask must be caught, with the token named.
        with open(dump) as fh:
            lines = fh.readlines()
        d0 = json.loads(lines[1])
        km = decode_kiln_mask(d0["mask_base64"], v.size)
        flip = int(np.flatnonzero(v.is_text & ~km)[0])
        km[flip] = True
        d0["mask_base64"] = encode_kiln_mask(km)
        lines[1] = json.dumps(d0) + "\n"
        with open(dump, "w") as fh:
            fh.writelines(lines)
        res = compare(v, schemas, dump, progress=False)
        assert res.text_differs == 1 and res.differences[0]["only_kiln"] == 1, res.differences
        assert res.differences[0]["only_kiln_examples"][0].startswith(f"{flip}:")
    print(f"selftest: end to end on {os.path.basename(model)} ok "
          f"({s['masks_compared']} masks identical; a flipped bit is reported)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
