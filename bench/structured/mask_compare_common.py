#!/usr/bin/env python3
"""Shared parts of the structured-output mask comparisons against a peer engine
(compare_llguidance.py, compare_xgrammar.py; the README beside this file has the setup).

kiln side: `kiln bench structured MODEL --schemas FILE --dump OUT.jsonl` walks random paths
through each schema's grammar and writes every mask it computed (JSONL: grammar, walk,
tokens of the walk so far, allowed count, mask_base64 = bitset, bit t = byte t/8, bit t%8).
compare() replays the same token sequences through the peer, computes its mask at every
step, compares the two sets and times the peer's compile and mask on the same walks.

The tokenizer is read from the GGUF with the `gguf` package, independently of kiln:
  - tokenizer.ggml.model "gpt2" (byte-level BPE): each character of a token maps back to a
    byte through the GPT-2 byte-to-unicode table;
  - "llama" (SentencePiece): "\u2581" -> space, byte tokens "<0xXX>" (token type 6) -> the byte.
  - user-defined tokens (type 4) are their raw text (as llama.cpp prints them).
Text tokens are token types 0 (undefined), 1 (normal), 4 (user-defined) and 6 (byte), the
tokens kiln can put into structured text. All others (control, unknown, unused) are given
to the peer as special tokens, which its grammars never allow.

End of generation: kiln allows its end tokens (EOS, EOT and the control tokens spelled
<|im_end|>, <|endoftext|>, <end_of_turn>, <|eot_id|>, ... ) exactly when the grammar may
end. The peer is given the same end-token set as its EOS / stop tokens. The comparison is split:
  - text tokens: bit for bit;
  - end: "kiln allows an end token" against "the peer allows one of its stop tokens";
  - the non-text tokens kiln allows are checked to be exactly the end set (or none).

A peer (class Peer) is its name, a short key for the result fields ("llg", "xgr"), a
walker per grammar (compile timed; reset, consume a token, fill a mask timed) and its
known classes of difference: every token only one engine allows goes through the peer's
classify(); what no rule explains is "other_kiln_only" / "other_KEY_only" and is printed
with examples for a human to read.
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
from typing import Any, Callable, Iterator, Protocol

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



def tail(b: bytes, n: int = 80) -> str:
    return ("..." if len(b) > n else "") + readable(b[-n:])


# ----------------------------------------------------------------------------- the peer

class Walker(Protocol):
    """One grammar in the peer engine: compiled (timed) when made, then masks along a path."""

    error: str              # the peer cannot compile the schema (then nothing else is used)
    note: dict | None       # something to list about the compile (llguidance: lenient)
    compile_seconds: float

    def reset(self) -> None: ...

    def consume(self, t: int) -> bool: ...

    def mask(self) -> tuple[np.ndarray, float]: ...   # bool per token, seconds to fill it

    def error_text(self) -> str: ...                   # why the last consume() failed

    # Optional (Peer.self_check_class): would the peer's matcher take token t here? A copy
    # of the matcher is asked; the walk's own state is left as it is.
    # def accepts(self, t: int) -> bool: ...


@dataclass
class Peer:
    name: str                                   # "llguidance", "xgrammar"
    key: str                                    # "llg", "xgr": in the result field names
    new_walker: Callable[[Any], Walker]         # schema -> a compiled walker
    classify: Callable[[str, bytes, bytes, set], str]  # (side, token, text, traits) -> class
    classes: dict                               # class -> (side that allows it, explanation)
    string_policy: set                          # classes that are only string-content policy
    split_first_mask: bool = False              # report each grammar's first mask apart
    notes_key: str = ""                         # summary key for the walkers' notes
    print_notes: bool = True                    # list the grammars with a note
    timing_note: str = ""                       # printed under the speed table
    extra_timing: Callable[[Results], dict] | None = None  # more figures for the summary
    extra_markdown: Callable[[dict], str] | None = None    # more lines for print_markdown
    traits: Callable[[Any], set] = schema_traits  # what classify() is told about a schema
    # When set, a token only the peer allows that no class explains is fed to a copy of the
    # peer's matcher (walker.accepts(t)); if the peer itself refuses it, it is this class.
    self_check_class: str = ""

    def extra_classes(self) -> dict:
        return {
            "end": "the engines disagree on whether the grammar may end here",
            "special_tokens": f"kiln allows a non-text token outside its end set, or {self.name} "
                              f"allows a special token other than its stop tokens",
            "other_kiln_only": "not a known class, tokens only kiln allows: read the examples",
            f"other_{self.key}_only": f"not a known class, tokens only {self.name} allows: read "
                                      f"the examples",
        }

    def unexplained(self) -> set:
        return {"other_kiln_only", f"other_{self.key}_only", "end", "special_tokens"}


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
    walks_diverged: int = 0      # kiln took a token the peer refuses: rest not comparable
    steps_skipped: int = 0
    grammars: int = 0
    grammars_peer_error: list = field(default_factory=list)
    grammars_peer_notes: list = field(default_factory=list)
    grammars_with_diff: set = field(default_factory=set)
    peer_compile_s: list = field(default_factory=list)
    peer_first_mask_s: list = field(default_factory=list)
    peer_mask_s: list = field(default_factory=list)
    peer_consume_s: list = field(default_factory=list)
    differences: list = field(default_factory=list)
    string_policy_only: int = 0  # masks that differ only by the peer's string_policy classes
    class_masks: Counter = field(default_factory=Counter)   # masks with a token of the class
    class_tokens: Counter = field(default_factory=Counter)  # (mask, token) pairs of the class
    class_diverged: Counter = field(default_factory=Counter)  # walks cut by a token of the class
    diff_counts_by_grammar: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- comparison

def compare(v: Vocab, peer: Peer, schemas: dict[str, Any], dump: str, examples: int = 8,
            max_diffs_per_grammar: int = 3, progress: bool = True) -> Results:
    p = peer.key
    res = Results(vocab=os.path.basename(v.path), vocab_tokens=v.size)
    end_set = np.zeros(v.size, dtype=bool)
    end_set[v.end_tokens] = True
    nontext = ~v.is_text
    walkers: dict[str, Walker] = {}
    traits_of: dict[str, set[str]] = {}
    diffs_in: Counter = Counter()
    classes_detailed: set[str] = set()  # classes with an example kept
    t_start = time.time()
    for gi, (name, w, lines) in enumerate(read_walks(dump)):
        if name not in schemas:
            raise SystemExit(f"{dump}: grammar {name!r} is not in the schemas file")
        if name not in walkers:
            walkers.clear()  # one grammar at a time, as kiln does
            pw = peer.new_walker(schemas[name])
            walkers[name] = pw
            traits_of[name] = peer.traits(schemas[name])
            res.grammars += 1
            if pw.error:
                res.grammars_peer_error.append({"grammar": name, "error": pw.error[:400]})
            else:
                res.peer_compile_s.append(pw.compile_seconds)
                if pw.note:
                    res.grammars_peer_notes.append({"grammar": name, **pw.note})
            first = True
        else:
            pw = walkers[name]
            pw.reset()
            first = False
        res.walks += 1
        if pw.error:
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
                ok = pw.consume(t)
                res.peer_consume_s.append(time.perf_counter() - t0)
                consumed.append(t)
                if not ok:
                    res.walks_diverged += 1
                    res.steps_skipped += len(lines) - step
                    cls = peer.classify("kiln", v.token_bytes[t], v.text_of(toks[:-1]),
                                        traits_of[name])
                    res.class_diverged[cls] += 1
                    res.differences.append({
                        "grammar": name, "walk": w, "step": step, "kind": "walk_diverged",
                        "classes": {cls: 1}, "token": v.show(t),
                        "text_before": tail(v.text_of(toks[:-1])),
                        f"{p}_error": pw.error_text()[:300]})
                    break
            pm, dt = pw.mask()
            if step == 0 and first and peer.split_first_mask:
                res.peer_first_mask_s.append(dt)
            else:
                res.peer_mask_s.append(dt)
            km = decode_kiln_mask(d["mask_base64"], v.size)
            res.masks_compared += 1
            k_text, p_text = km & v.is_text, pm & v.is_text
            k_special = km & nontext
            k_end = bool(k_special.any())
            p_end = bool((pm & end_set).any())
            anomaly = k_end and not np.array_equal(k_special, end_set)
            p_special_other = pm & nontext & ~end_set
            text_same = np.array_equal(k_text, p_text)
            if text_same and k_end == p_end and not anomaly and not p_special_other.any():
                res.identical += 1
                continue
            only_k = np.flatnonzero(k_text & ~p_text)
            only_p = np.flatnonzero(p_text & ~k_text)
            if not text_same:
                res.text_differs += 1
            if k_end != p_end:
                res.end_differs += 1
            if anomaly:
                res.special_anomalies += 1
            res.grammars_with_diff.add(name)
            diffs_in[name] += 1
            text = v.text_of(toks)
            classes: Counter = Counter()
            by_class: dict[str, list[int]] = defaultdict(list)
            for side, ids in (("kiln", only_k), (peer.name, only_p)):
                for t in ids:
                    c = peer.classify(side, v.token_bytes[t], text, traits_of[name])
                    if c == f"other_{p}_only" and peer.self_check_class and not pw.accepts(int(t)):
                        c = peer.self_check_class  # the peer's own matcher refuses it
                    classes[c] += 1
                    by_class[c].append(int(t))
            if k_end != p_end:
                classes["end"] += 1
            if anomaly or p_special_other.any():
                classes["special_tokens"] += 1
            if set(classes) <= peer.string_policy:
                res.string_policy_only += 1
            for c, n in classes.items():
                res.class_masks[c] += 1
                res.class_tokens[c] += n
            rng = random.Random(f"{name}/{w}/{step}")
            pick = lambda ids: [v.show(int(t)) for t in (
                sorted(rng.sample(list(ids), examples)) if len(ids) > examples else ids)]
            other = by_class["other_kiln_only"] + by_class[f"other_{p}_only"]
            detail = (diffs_in[name] <= max_diffs_per_grammar or bool(other)
                      or not set(classes) <= classes_detailed)
            if detail:
                classes_detailed.update(classes)
            res.differences.append({
                "grammar": name, "walk": w, "step": step, "kind": "mask",
                "classes": dict(classes), "text_before": tail(text),
                **({} if not detail else {"tokens": toks}),
                "kiln_allowed": int(km.sum()), f"{p}_allowed": int(pm.sum()),
                "only_kiln": len(only_k), f"only_{p}": len(only_p),
                "only_kiln_examples": pick(only_k) if detail else [],
                f"only_{p}_examples": pick(only_p) if detail else [],
                "other_examples": pick(other),
                **({} if not detail else {"class_examples": {
                    c: pick(ids)[:3] for c, ids in sorted(by_class.items()) if ids}}),
                "kiln_end": k_end, f"{p}_end": p_end,
                "kiln_special_not_end": [v.show(int(t)) for t in np.flatnonzero(k_special & ~end_set)][:5],
                f"{p}_special_not_end": [v.show(int(t)) for t in np.flatnonzero(p_special_other)][:5],
            })
        if progress and gi % 20 == 0:
            print(f"  [{res.vocab}] {gi} walks, {res.masks_compared} masks, "
                  f"{res.identical} identical, {time.time() - t_start:.0f}s", file=sys.stderr)
    res.diff_counts_by_grammar = dict(diffs_in)
    return res


def summary(res: Results, peer: Peer, kiln_report: dict | None) -> dict:
    us = lambda v, p: round(1e6 * percentile(v, p), 1)
    ms = lambda v, p: round(1e3 * percentile(v, p), 2)
    extra = peer.extra_classes()
    timing = {
        "compile_ms_p50": ms(res.peer_compile_s, 0.5), "compile_ms_p99": ms(res.peer_compile_s, 0.99),
    }
    if peer.split_first_mask:
        timing.update({
            "first_mask_ms_p50": ms(res.peer_first_mask_s, 0.5),
            "first_mask_ms_p99": ms(res.peer_first_mask_s, 0.99)})
    timing.update({
        "masks": len(res.peer_mask_s),
        "mask_us_p50": us(res.peer_mask_s, 0.5), "mask_us_p99": us(res.peer_mask_s, 0.99),
        "mask_us_mean": round(1e6 * float(np.mean(res.peer_mask_s)), 1) if res.peer_mask_s else 0,
        "compile_s_total": round(float(sum(res.peer_compile_s)), 3),
        "mask_s_total": round(float(sum(res.peer_mask_s) + sum(res.peer_first_mask_s)), 3),
    })
    if peer.split_first_mask:
        timing.update({
            "all_masks_us_p50": us(res.peer_mask_s + res.peer_first_mask_s, 0.5),
            "all_masks_us_p99": us(res.peer_mask_s + res.peer_first_mask_s, 0.99)})
    else:
        timing.update({"compile_ms_max": ms(res.peer_compile_s, 1.0),
                       "mask_us_max": us(res.peer_mask_s, 1.0)})
    timing.update({"consume_us_p50": us(res.peer_consume_s, 0.5),
                   "consume_us_p99": us(res.peer_consume_s, 0.99)})
    if peer.extra_timing:
        timing.update(peer.extra_timing(res))
    out = {
        "vocab": res.vocab, "vocab_tokens": res.vocab_tokens, "grammars": res.grammars,
        "walks": res.walks, "masks_compared": res.masks_compared, "identical": res.identical,
        "identical_but_string_policy": res.identical + res.string_policy_only,
        "text_differs": res.text_differs, "end_differs": res.end_differs,
        "special_anomalies": res.special_anomalies, "walks_diverged": res.walks_diverged,
        "steps_skipped": res.steps_skipped,
        "grammars_with_diff": sorted(res.grammars_with_diff),
        "diff_counts_by_grammar": res.diff_counts_by_grammar,
        "classes": {c: {"masks": res.class_masks[c], "tokens": res.class_tokens[c],
                        "walks_diverged": res.class_diverged[c],
                        "grammars": sorted({d["grammar"] for d in res.differences
                                            if c in d.get("classes", {})}),
                        "allowed_by": peer.classes[c][0] if c in peer.classes else "",
                        "explanation": peer.classes[c][1] if c in peer.classes else extra.get(c, "")}
                    for c in sorted(set(res.class_masks) | set(res.class_diverged))},
        f"grammars_{peer.key}_error": res.grammars_peer_error,
    }
    if peer.notes_key:
        out[peer.notes_key] = res.grammars_peer_notes
    out[peer.name] = timing
    if kiln_report:
        out["kiln"] = {k: kiln_report[k] for k in (
            "vocab_seconds", "grammars", "compile_ms_p50", "compile_ms_p99", "compile_ms_max",
            "masks", "mask_us_p50", "mask_us_p99", "mask_us_mean") if k in kiln_report}
    return out


def print_markdown(s: dict, diffs: list, peer: Peer) -> None:
    p, name = peer.key, peer.name
    print(f"\n### {s['vocab']} ({s['vocab_tokens']} tokens)\n")
    print(f"- grammars {s['grammars']}, walks {s['walks']}, masks compared {s['masks_compared']}, "
          f"**identical {s['identical']}** ({100 * s['identical'] / max(1, s['masks_compared']):.1f}%), "
          f"identical but for the string-content classes {s['identical_but_string_policy']} "
          f"({100 * s['identical_but_string_policy'] / max(1, s['masks_compared']):.1f}%); "
          f"text tokens differ in {s['text_differs']}, end differs in {s['end_differs']}, "
          f"special-token anomalies {s['special_anomalies']}; walks diverged {s['walks_diverged']} "
          f"(steps not compared {s['steps_skipped']})")
    errors = s[f"grammars_{p}_error"]
    if errors:
        print(f"- {name} cannot compile {len(errors)}: "
              + "; ".join(f"{e['grammar']}: {e['error'][:120]}" for e in errors))
    if peer.notes_key and peer.print_notes and s.get(peer.notes_key):
        print(f"- {peer.notes_key}: " + ", ".join(e["grammar"] for e in s[peer.notes_key]))
    print("\n| class | allowed only by | masks | tokens | walks cut | grammars | explanation |")
    print("|---|---|---|---|---|---|---|")
    for c, x in s["classes"].items():
        print(f"| {c} | {x['allowed_by']} | {x['masks']} | {x['tokens']} | {x['walks_diverged']} | "
              f"{len(x['grammars'])} | {x['explanation']} |")
    l, k = s[name], s.get("kiln", {})
    nan = float("nan")
    print(f"\n| | kiln | {name} |\n|---|---|---|")
    print(f"| mask us p50 / p99 / mean | {k.get('mask_us_p50', nan):.1f} / "
          f"{k.get('mask_us_p99', nan):.1f} / {k.get('mask_us_mean', nan):.1f} | "
          f"{l['mask_us_p50']} / {l['mask_us_p99']} / {l['mask_us_mean']} |")
    if peer.split_first_mask:
        print(f"| compile ms p50 / p99 | {k.get('compile_ms_p50', nan):.2f} / "
              f"{k.get('compile_ms_p99', nan):.2f} | {l['compile_ms_p50']} / {l['compile_ms_p99']} "
              f"(first mask {l['first_mask_ms_p50']} / {l['first_mask_ms_p99']}) |")
        print(f"| {name} masks with the first of each grammar, us p50 / p99 | | "
              f"{l['all_masks_us_p50']} / {l['all_masks_us_p99']} |")
    else:
        print(f"| compile ms p50 / p99 / max | {k.get('compile_ms_p50', nan):.2f} / "
              f"{k.get('compile_ms_p99', nan):.2f} / {k.get('compile_ms_max', nan):.2f} | "
              f"{l['compile_ms_p50']} / {l['compile_ms_p99']} / {l['compile_ms_max']} |")
        print(f"| masks timed | {k.get('masks', '?')} | {l['masks']} |")
    if peer.timing_note:
        print(f"\n({peer.timing_note})")
    if peer.extra_markdown:
        print(peer.extra_markdown(s))
    # One example per class, and every unexplained one (up to 10).
    shown: set = set()
    others = 0
    for d in diffs:
        cls = set(d.get("classes", {}))
        unexplained = bool(cls & peer.unexplained())
        if d["kind"] == "mask" and not d["only_kiln_examples"] and not d[f"only_{p}_examples"]:
            continue  # no detail kept
        if cls <= shown and not (unexplained and others < 10):
            continue
        shown |= cls
        others += unexplained
        print(f"\n- {sorted(cls)}: {d['grammar']} walk {d['walk']} step {d['step']} after "
              f"{d['text_before']}")
        if d["kind"] == "walk_diverged":
            err = d[f"{p}_error"].split("\n")[0]
            print(f"  {name} refuses kiln's token {d['token']}: {err}")
            continue
        print(f"  allowed: kiln {d['kiln_allowed']}, {name} {d[f'{p}_allowed']}; "
              f"end kiln {d['kiln_end']} {name} {d[f'{p}_end']}")
        if d["only_kiln"]:
            print(f"  only kiln ({d['only_kiln']}): {', '.join(d['only_kiln_examples'])}")
        if d[f"only_{p}"]:
            print(f"  only {name} ({d[f'only_{p}']}): {', '.join(d[f'only_{p}_examples'])}")
        if d["other_examples"]:
            print(f"  unexplained: {', '.join(d['other_examples'])}")
        if d["kiln_special_not_end"] or d[f"{p}_special_not_end"]:
            print(f"  special tokens: kiln {d['kiln_special_not_end']}, {name} "
                  f"{d[f'{p}_special_not_end']}")


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


def add_common_arguments(ap: argparse.ArgumentParser, default_out: str) -> None:
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
    ap.add_argument("--out", default=default_out, help="folder for the outputs")
    ap.add_argument("--examples", type=int, default=8, help="token examples per difference")
    ap.add_argument("--selftest", action="store_true", help="check this script's parts and exit")


def run_comparison(ap: argparse.ArgumentParser, a: argparse.Namespace,
                   make_peer: Callable[[Vocab], Peer]) -> int:
    """The driver: kiln's dump (run or given), the vocabulary, the replay, the outputs."""
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
    peer = make_peer(v)
    res = compare(v, peer, schemas, dump, examples=a.examples)
    s = summary(res, peer, kiln_report)
    s["command"] = " ".join(sys.argv)
    with open(os.path.join(a.out, "results.json"), "w") as fh:
        json.dump({"summary": s, "differences": res.differences}, fh, indent=1, ensure_ascii=False)
    print_markdown(s, res.differences, peer)
    print(f"\n(results: {os.path.join(a.out, 'results.json')})")
    return 0


# ----------------------------------------------------------------------------- self-test

def selftest_common() -> None:
    """The shared parts: vocabulary tables, the mask's bit order, percentiles, escapes."""
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
    # Escape state across the token boundary.
    assert escapes_in(b'"a\\', b"u12") == {"u"} and escapes_in(b'"a', b":\\/\\/") == {"/"}
    assert escapes_in(b'"a\\u1', b"2") == {"u"} and escapes_in(b'"a\\\\', b"u") == set()
    assert schema_traits({"properties": {"u": {"format": "uri", "maxLength": 9}}}) == {
        "format:uri", "format+length"}


SELFTEST_SCHEMAS = {
    "obj": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
            "required": ["a", "b"], "additionalProperties": False},
    "arr": {"type": "array", "items": {"enum": ["x", "yz", None]}, "maxItems": 3},
}


def selftest_end_to_end(v: Vocab, peer: Peer, schemas: dict = SELFTEST_SCHEMAS) -> dict:
    """Without kiln: a dump made by walking the peer itself must compare identical, and one
    flipped bit must be reported with its token. Returns the summary of the identical run."""
    import tempfile

    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        dump = os.path.join(d, "dump.jsonl")
        with open(dump, "w") as fh:
            for name, schema in schemas.items():
                pw = peer.new_walker(schema)
                assert not pw.error, pw.error
                for w in range(2):
                    pw.reset()
                    toks: list[int] = []
                    for step in range(12):
                        m, _ = pw.mask()
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
                        assert pw.consume(t)
                        toks = toks + [t]
        res = compare(v, peer, schemas, dump, progress=False)
        s = summary(res, peer, None)
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
        res = compare(v, peer, schemas, dump, progress=False)
        assert res.text_differs == 1 and res.differences[0]["only_kiln"] == 1, res.differences
        assert res.differences[0]["only_kiln_examples"][0].startswith(f"{flip}:")
    return s
