#!/usr/bin/env python3
"""Independent NumPy reference forward pass for Llama-architecture GGUF models.

Shares no code with kiln: the GGUF file is read with gguf-py (``gguf.GGUFReader``),
every weight type is dequantized with ``gguf.quants.dequantize``, and the transformer
is computed in float64 (dequantized weights are cached as float64, or as float32
when the model would exceed 4 GiB in float64).

Conventions (those of llama.cpp's ``llama`` architecture):

* GGUF lists tensor dims in ggml ``ne`` order (fastest first); the NumPy array is the
  reverse, so a matrix with ne = [n_in, n_out] is an (n_out, n_in) array and
  ``y = x @ W.T``. ``token_embd.weight`` is (vocab, n_embd).
* llama.cpp's converter permutes the Q/K projection rows so that RoPE in the file
  rotates ADJACENT pairs (x[2i], x[2i+1]) ("normal"/GPT-J style). ``rope_style="neox"``
  (halves: x[i], x[i + n_rot/2]) exists only to demonstrate that it is the wrong one.
* Grouped-query attention: query head h reads KV head h // (n_head / n_head_kv)
  (what HF's ``repeat_kv`` and ggml's broadcasting both do).
* RoPE frequency for pair i: theta_i = base^(-2i/n_rot), divided by
  ``rope_freqs.weight[i]`` when the file has that tensor (llama3 scaling as stored by
  llama.cpp's converter), or by factors computed from ``rope.scaling.*`` metadata when the
  type is "llama3" and no tensor is present; "linear" scaling multiplies by 1/factor.
* ``kv_dtype`` ("f32", "f16", "bf16"): the element type of the engine's KV cache. K (after
  RoPE) and V are rounded to it before attention, as an engine that stores them so reads
  them back (see ``round_kv``); "f32" keeps them in float64.

CLI (manual checks)::

    python3 tests/reference/llama_ref.py MODEL --ids 1,2,3 --greedy 8
    python3 tests/reference/llama_ref.py MODEL --text "The capital of France is" --greedy 8

``--text`` uses a small byte-level BPE over the GGUF's own vocab and merges; it is meant
for quick manual checks of gpt2-style vocabularies, not as a tokenizer oracle.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any, Sequence

import numpy as np

try:
    import gguf
    from gguf import GGUFReader
    from gguf.quants import dequantize
except ImportError as e:  # pragma: no cover - import guard with a useful message
    raise ImportError("llama_ref.py needs the `gguf` package (pip install -r tests/requirements.txt)") from e

_MISSING = object()
_F64_CACHE_LIMIT_BYTES = 4 << 30


class GGUFFile:
    """Metadata and lazily dequantized, cached float32 tensors of one GGUF file."""

    def __init__(self, path: str, cache_dtype: Any = None):
        self.path = str(path)
        self.reader = GGUFReader(self.path, "r")
        self.tensors = {t.name: t for t in self.reader.tensors}
        self._cache: dict[str, np.ndarray] = {}
        if cache_dtype is None:
            # float64 storage avoids a conversion per matmul; fall back to float32
            # (converted on use) when the dequantized model would be large.
            n = sum(int(t.n_elements) for t in self.reader.tensors)
            cache_dtype = np.float64 if n * 8 <= _F64_CACHE_LIMIT_BYTES else np.float32
        self.cache_dtype = np.dtype(cache_dtype)

    # -- metadata -------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return key in self.reader.fields

    def get(self, key: str, default: Any = _MISSING) -> Any:
        f = self.reader.fields.get(key)
        if f is None:
            if default is _MISSING:
                raise KeyError(f"{self.path}: missing GGUF metadata key {key!r}")
            return default
        return f.contents()

    # -- tensors --------------------------------------------------------------------
    def has_tensor(self, name: str) -> bool:
        return name in self.tensors

    def tensor(self, name: str) -> np.ndarray:
        """Dequantized array (float64 or float32 storage) in NumPy order (reverse of ggml ne)."""
        w = self._cache.get(name)
        if w is not None:
            return w
        t = self.tensors.get(name)
        if t is None:
            raise KeyError(f"{self.path}: missing tensor {name!r}")
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        w = np.asarray(dequantize(t.data, t.tensor_type)).astype(self.cache_dtype).reshape(shape)
        self._cache[name] = w
        return w

    def tensor_type_name(self, name: str) -> str:
        return self.tensors[name].tensor_type.name


class LlamaConfig:
    def __init__(self, f: GGUFFile):
        arch = f.get("general.architecture")
        if arch != "llama":
            raise ValueError(f"{f.path}: general.architecture is {arch!r}, this reference handles 'llama'")
        p = "llama."
        self.n_layer = int(f.get(p + "block_count"))
        self.n_embd = int(f.get(p + "embedding_length"))
        self.n_ff = int(f.get(p + "feed_forward_length"))
        self.n_head = int(f.get(p + "attention.head_count"))
        self.n_head_kv = int(f.get(p + "attention.head_count_kv", self.n_head))
        self.head_dim = int(f.get(p + "attention.key_length", self.n_embd // self.n_head))
        self.head_dim_v = int(f.get(p + "attention.value_length", self.head_dim))
        self.eps = float(f.get(p + "attention.layer_norm_rms_epsilon"))
        self.rope_base = float(f.get(p + "rope.freq_base", 10000.0))
        self.n_rot = int(f.get(p + "rope.dimension_count", self.head_dim))
        if self.n_head % self.n_head_kv:
            raise ValueError(f"n_head {self.n_head} not a multiple of n_head_kv {self.n_head_kv}")
        if self.n_rot % 2 or self.n_rot > self.head_dim:
            raise ValueError(f"bad rope.dimension_count {self.n_rot} for head_dim {self.head_dim}")

        # rope scaling
        stype = f.get(p + "rope.scaling.type", None)
        factor = f.get(p + "rope.scaling.factor", None)
        if stype is None and f.has(p + "rope.scale_linear"):  # old key
            stype, factor = "linear", f.get(p + "rope.scale_linear")
        self.rope_scaling_type = str(stype or "none")
        self.rope_scaling_factor = float(factor) if factor is not None else 1.0
        self.rope_low_freq_factor = float(f.get(p + "rope.scaling.low_freq_factor", 1.0))
        self.rope_high_freq_factor = float(f.get(p + "rope.scaling.high_freq_factor", 4.0))
        self.rope_orig_ctx = int(f.get(p + "rope.scaling.original_context_length", 8192))
        if self.rope_scaling_type not in ("none", "linear", "llama3"):
            raise NotImplementedError(f"rope scaling type {self.rope_scaling_type!r} is not implemented in the reference")

        self.vocab = int(f.tensors["token_embd.weight"].shape[1])

    def __repr__(self) -> str:
        return "LlamaConfig(" + ", ".join(f"{k}={v}" for k, v in vars(self).items()) + ")"


def llama3_freq_factors(n_rot: int, base: float, factor: float, low_freq_factor: float,
                        high_freq_factor: float, orig_ctx: int) -> np.ndarray:
    """Divisors for theta_i, the way llama.cpp's converter builds rope_freqs.weight
    from HF's rope_scaling {"rope_type": "llama3", ...}."""
    low_freq_wavelen = orig_ctx / low_freq_factor
    high_freq_wavelen = orig_ctx / high_freq_factor
    out = []
    for i in range(n_rot // 2):
        freq = 1.0 / base ** (2 * i / n_rot)
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            out.append(1.0)
        elif wavelen > low_freq_wavelen:
            out.append(factor)
        else:
            smooth = (orig_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float64)


KV_DTYPES = ("f32", "f16", "bf16")


def round_kv(x: np.ndarray, kv_dtype: str) -> np.ndarray:
    """K or V as a KV cache of ``kv_dtype`` holds them, back in float64: the engine's float32
    values rounded to nearest even in float16 or bfloat16. "f32" returns x unchanged (the
    float64 reference's own values)."""
    if kv_dtype == "f32":
        return x
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    if kv_dtype == "f16":
        return x32.astype(np.float16).astype(np.float64)
    if kv_dtype == "bf16":
        bits = x32.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000  # round to nearest even
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)
    raise ValueError(f"kv_dtype must be one of {KV_DTYPES}, not {kv_dtype!r}")


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


class LlamaRef:
    """float64 forward pass; ``forward(ids)`` returns logits (T, vocab) for every position."""

    def __init__(self, path: str, rope_style: str = "norm", cache_dtype: Any = None):
        if rope_style not in ("norm", "neox"):
            raise ValueError("rope_style must be 'norm' (adjacent pairs, llama GGUF) or 'neox'")
        self.f = GGUFFile(path, cache_dtype)
        self.cfg = LlamaConfig(self.f)
        self.rope_style = rope_style
        c = self.cfg
        i = np.arange(c.n_rot // 2, dtype=np.float64)
        inv_freq = c.rope_base ** (-2.0 * i / c.n_rot)
        if self.f.has_tensor("rope_freqs.weight"):
            ff = self.f.tensor("rope_freqs.weight").astype(np.float64).reshape(-1)
            if ff.shape[0] != c.n_rot // 2:
                raise ValueError(f"rope_freqs.weight has {ff.shape[0]} entries, expected n_rot/2 = {c.n_rot // 2}")
            inv_freq = inv_freq / ff
        elif c.rope_scaling_type == "llama3":
            inv_freq = inv_freq / llama3_freq_factors(c.n_rot, c.rope_base, c.rope_scaling_factor,
                                                      c.rope_low_freq_factor, c.rope_high_freq_factor,
                                                      c.rope_orig_ctx)
        if c.rope_scaling_type == "linear" and c.rope_scaling_factor != 0:
            inv_freq = inv_freq / c.rope_scaling_factor
        self.inv_freq = inv_freq

    # -- weights --------------------------------------------------------------------
    def w(self, name: str) -> np.ndarray:
        return self.f.tensor(name)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        y = x @ self.w(name + ".weight").T.astype(np.float64, copy=False)
        if self.f.has_tensor(name + ".bias"):
            y = y + self.w(name + ".bias")
        return y

    def output_weight_name(self) -> str:
        return "output.weight" if self.f.has_tensor("output.weight") else "token_embd.weight"

    # -- ops ------------------------------------------------------------------------
    def rope(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """x: (T, n_heads, head_dim); rotates the first n_rot dims of each head."""
        n_rot = self.cfg.n_rot
        ang = pos[:, None].astype(np.float64) * self.inv_freq[None, :]  # (T, n_rot/2)
        cos = np.cos(ang)[:, None, :]
        sin = np.sin(ang)[:, None, :]
        out = x.copy()
        if self.rope_style == "norm":
            x0 = x[..., 0:n_rot:2]
            x1 = x[..., 1:n_rot:2]
            out[..., 0:n_rot:2] = x0 * cos - x1 * sin
            out[..., 1:n_rot:2] = x0 * sin + x1 * cos
        else:
            h = n_rot // 2
            x0 = x[..., :h]
            x1 = x[..., h:n_rot]
            out[..., :h] = x0 * cos - x1 * sin
            out[..., h:n_rot] = x0 * sin + x1 * cos
        return out

    def attention(self, h: np.ndarray, layer: int, pos: np.ndarray, kv_dtype: str = "f32") -> np.ndarray:
        c = self.cfg
        T = h.shape[0]
        p = f"blk.{layer}."
        q = self._linear(h, p + "attn_q").reshape(T, c.n_head, c.head_dim)
        k = self._linear(h, p + "attn_k").reshape(T, c.n_head_kv, c.head_dim)
        v = self._linear(h, p + "attn_v").reshape(T, c.n_head_kv, c.head_dim_v)
        q = self.rope(q, pos)
        k = round_kv(self.rope(k, pos), kv_dtype)
        v = round_kv(v, kv_dtype)
        group = c.n_head // c.n_head_kv
        k = np.repeat(k, group, axis=1)  # q head hq -> kv head hq // group
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("thd,shd->hts", q, k) / math.sqrt(c.head_dim)
        causal = pos[None, :] > pos[:, None]  # key position after query position
        scores = np.where(causal[None, :, :], -np.inf, scores)
        probs = softmax(scores, axis=-1)
        o = np.einsum("hts,shd->thd", probs, v).reshape(T, c.n_head * c.head_dim_v)
        return self._linear(o, p + "attn_output")

    def ffn(self, h: np.ndarray, layer: int) -> np.ndarray:
        p = f"blk.{layer}."
        return self._linear(silu(self._linear(h, p + "ffn_gate")) * self._linear(h, p + "ffn_up"), p + "ffn_down")

    def hidden(self, token_ids: Sequence[int], kv_dtype: str = "f32") -> np.ndarray:
        """Final-normed hidden states (T, n_embd), float64."""
        c = self.cfg
        ids = np.asarray(token_ids, dtype=np.int64)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError("token_ids must be a non-empty 1-D sequence")
        if ids.min() < 0 or ids.max() >= c.vocab:
            raise ValueError(f"token id out of range [0, {c.vocab})")
        pos = np.arange(ids.size)
        x = self.w("token_embd.weight")[ids].astype(np.float64)
        for layer in range(c.n_layer):
            p = f"blk.{layer}."
            x = x + self.attention(rms_norm(x, self.w(p + "attn_norm.weight"), c.eps), layer, pos, kv_dtype)
            x = x + self.ffn(rms_norm(x, self.w(p + "ffn_norm.weight"), c.eps), layer)
        return rms_norm(x, self.w("output_norm.weight"), c.eps)

    def forward(self, token_ids: Sequence[int], kv_dtype: str = "f32") -> np.ndarray:
        """Logits (T, vocab), float64, for every position of token_ids, with K and V rounded
        to kv_dtype."""
        return self.hidden(token_ids, kv_dtype) @ self.w(self.output_weight_name()).T.astype(np.float64, copy=False)

    def greedy(self, token_ids: Sequence[int], n: int) -> list[int]:
        """n greedy tokens (full recompute per step: simple, fine for short checks)."""
        ids = list(token_ids)
        out = []
        for _ in range(n):
            tok = int(np.argmax(self.forward(ids)[-1]))
            out.append(tok)
            ids.append(tok)
        return out



def write_f32_copy(src: str, dst: str, source: GGUFFile | None = None) -> None:
    """Write dst: the same GGUF (all metadata) with every tensor dequantized by gguf-py and
    stored as F32. Lets a test run an engine on a real model without weight quantization.
    `source`: an already open GGUFFile of src whose dequantized tensors (cached as float64
    or float32, the same float32 values either way) are reused."""
    f = source if source is not None else GGUFFile(src, cache_dtype=np.float32)
    w = gguf.GGUFWriter(str(dst), f.get("general.architecture"))
    for key, field in f.reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            w.add_file_type(int(gguf.LlamaFileType.ALL_F32))
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, field.contents(), vtype, sub)
    # Tensor infos first, then the data one tensor at a time, so that no more than one
    # float32 copy is held at once (a 0.5B model is 2 GB in F32).
    for name, t in f.tensors.items():
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        w.add_tensor_info(name, shape, np.dtype(np.float32), 4 * int(t.n_elements))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name in f.tensors:
        w.write_tensor_data(np.ascontiguousarray(f.tensor(name), dtype=np.float32))
    w.close()

# ---------------------------------------------------------------------------------------
# Byte-level BPE helpers for the CLI (manual checks only).

def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class ByteBPE:
    """Minimal GPT-2 byte-level BPE from the GGUF vocab and merges."""

    def __init__(self, f: GGUFFile):
        model = f.get("tokenizer.ggml.model", None)
        if model != "gpt2":
            raise ValueError(f"--text needs a gpt2-style (byte-level BPE) vocab, this file has {model!r}")
        self.tokens = list(f.get("tokenizer.ggml.tokens"))
        self.tok2id = {t: i for i, t in enumerate(self.tokens)}
        merges = list(f.get("tokenizer.ggml.merges", []))
        self.ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(merges)}
        self.b2u = _bytes_to_unicode()
        self.u2b = {u: b for b, u in self.b2u.items()}
        types = list(f.get("tokenizer.ggml.token_type", []))
        special = sorted((t for t, ty in zip(self.tokens, types) if ty in (3, 4)), key=len, reverse=True)
        import re as _re
        self.special_re = _re.compile("(" + "|".join(map(_re.escape, special)) + ")") if special else None
        self.split_digits = f.get("tokenizer.ggml.pre", "default") == "smollm"
        try:
            import regex
            self.pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
            self.digit = regex.compile(r"(\p{N})")
        except ImportError:
            import re
            self.pat = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""")
            self.digit = re.compile(r"(\d)")

    def _bpe(self, word: str) -> list[str]:
        parts = list(word)
        while len(parts) > 1:
            best = min(((self.ranks.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))))
            if best[0] == math.inf:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return parts

    def _pieces(self, text: str) -> list[str]:
        chunks = [text]
        if self.split_digits:  # llama.cpp's "smollm" pre-tokenizer: each digit alone first
            chunks = [c for c in self.digit.split(text) if c]
        out = []
        for c in chunks:
            out += [c] if self.digit.fullmatch(c) else self.pat.findall(c)
        return out

    def encode(self, text: str) -> list[int]:
        """Control/user-defined tokens written literally in text (e.g. "<|im_start|>") map to their ids."""
        ids: list[int] = []
        if self.special_re is not None:
            for i, part in enumerate(self.special_re.split(text)):
                if i % 2:
                    ids.append(self.tok2id[part])
                elif part:
                    ids += self._encode_plain(part)
            return ids
        return self._encode_plain(text)

    def _encode_plain(self, text: str) -> list[int]:
        ids = []
        for piece in self._pieces(text):
            word = "".join(self.b2u[b] for b in piece.encode("utf-8"))
            for p in self._bpe(word):
                if p not in self.tok2id:
                    raise ValueError(f"BPE piece {p!r} not in vocab")
                ids.append(self.tok2id[p])
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        out = bytearray()
        for i in ids:
            t = self.tokens[i]
            if all(ch in self.u2b for ch in t):
                out += bytes(self.u2b[ch] for ch in t)
            else:  # special / control token
                out += t.encode("utf-8")
        return out.decode("utf-8", errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids", help="comma-separated token ids")
    g.add_argument("--text", help="prompt text (approximate byte-level BPE; manual checks only)")
    ap.add_argument("--greedy", type=int, default=0, help="greedy continuation length")
    ap.add_argument("--rope-style", choices=["norm", "neox"], default="norm")
    a = ap.parse_args(argv)

    t0 = time.time()
    ref = LlamaRef(a.model, rope_style=a.rope_style)
    print(ref.cfg)
    bpe = None
    try:
        bpe = ByteBPE(ref.f)
    except Exception as e:
        if a.text is not None:
            raise
        print(f"(no detokenizer: {e})")
    ids = [int(s) for s in a.ids.split(",")] if a.ids is not None else bpe.encode(a.text)
    print("prompt ids:", ids)
    if bpe:
        print("prompt text:", repr(bpe.decode(ids)))
    logits = ref.forward(ids)[-1]
    t1 = time.time()
    top = np.argsort(-logits)[:5]
    print(f"forward over {len(ids)} tokens (incl. dequantization): {t1 - t0:.2f}s")
    print("top-5 at last position:")
    for t in top:
        print(f"  {int(t):6d} {logits[t]:10.4f} {repr(bpe.decode([int(t)])) if bpe else ''}")
    if a.greedy:
        gen = ref.greedy(ids, a.greedy)
        print("greedy ids:", gen)
        if bpe:
            print("greedy text:", repr(bpe.decode(gen)))
        print(f"total {time.time() - t0:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
