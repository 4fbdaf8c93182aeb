#!/usr/bin/env python3
"""Independent NumPy reference forward pass for the decoder-only GGUF architectures kiln
runs: llama, qwen2, qwen3 and gemma3.

Shares no code with kiln. It builds on llama_ref.py (gguf-py reading and dequantization,
float64 math) and adds each family's differences, written from the llama.cpp graph
builders and the Hugging Face modeling code, not from kiln:

* llama   RMSNorm -> attention (RoPE on ADJACENT pairs, the layout llama.cpp's converter
          gives Llama q/k rows; q/k/v biases when the file has them) -> residual;
          RMSNorm -> SwiGLU -> residual.
* qwen2   as llama, with biases on the q/k/v projections (``blk.N.attn_{q,k,v}.bias``) and
          NeoX RoPE (HALVES: x[i] with x[i + n_rot/2]); the converter does not permute
          Qwen's q/k rows, so the HF rotate_half pairing is the right one in the file.
* qwen3   as qwen2 without biases, plus an RMSNorm over each q and k head (weights
          ``attn_q_norm``/``attn_k_norm`` of head_dim floats) before RoPE; head_dim is
          ``qwen3.attention.key_length`` and may differ from n_embd / n_head.
* gemma3  the token embedding times sqrt(n_embd); per layer
              h = x + post_attention_norm(attn(attn_norm(x)))
              x = h + post_ffw_norm(ffn(ffn_norm(h)))
          with per-head q/k RMSNorm before RoPE, GeGLU (gelu-tanh(gate) * up), NeoX RoPE,
          query scale 1/sqrt(key_length) (1/sqrt(n_embd/n_head) for the 62-layer 27B, whose
          query_pre_attn_scalar is not head_dim: llama.cpp has no key for it either),
          sliding-window attention on local layers and full attention on every
          ``sliding_window_pattern``-th layer (6: layer i is global iff (i+1) % 6 == 0), local
          layers with RoPE base 10000 (``rope.freq_base_swa`` if present) and no RoPE scaling,
          global layers with ``rope.freq_base`` and its scaling; final logit soft-capping
          only when ``final_logit_softcapping`` is in the metadata (Gemma 2 had it; Gemma 3
          files do not). Norm weights are used AS STORED: llama.cpp's converter already
          writes Gemma's (1 + w) into the file. ``norm_offset=1.0`` (adding 1 again) exists
          only to show numerically that it is the wrong convention for these files.

A sliding window of W lets a query at position p see keys at positions p - W + 1 .. p
(llama.cpp's LLAMA_SWA_TYPE_STANDARD, HF's ``q_idx - kv_idx < sliding_window``).

``kv_dtype`` ("f32", "f16", "bf16") rounds K (after norm and RoPE) and V to the engine's KV
cache element type before attention (``llama_ref.round_kv``).

CLI (manual checks)::

    python3 tests/reference/decoder_ref.py MODEL --ids 2,818,5279 --greedy 8
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

import llama_ref
from llama_ref import GGUFFile, rms_norm, round_kv, silu, softmax


@dataclass(frozen=True)
class ArchRef:
    rope_style: str             # "norm" (adjacent pairs) or "neox" (halves)
    qkv_bias: str = "never"     # q/k/v projection biases: "never", "optional" or "required"
    qk_norm: bool = False       # per-head RMSNorm on q and k before RoPE
    post_norms: bool = False    # post_attention_norm / post_ffw_norm on the branch outputs
    ffn_act: str = "silu"       # "silu" (SwiGLU) or "gelu_tanh" (GeGLU)
    embed_scale: bool = False   # token embedding times sqrt(n_embd)
    gemma_layers: bool = False  # sliding-window pattern, per-layer RoPE base


ARCHS: dict[str, ArchRef] = {
    "llama": ArchRef(rope_style="norm", qkv_bias="optional"),
    "qwen2": ArchRef(rope_style="neox", qkv_bias="required"),
    "qwen3": ArchRef(rope_style="neox", qk_norm=True),
    "gemma3": ArchRef(rope_style="neox", qk_norm=True, post_norms=True, ffn_act="gelu_tanh",
                      embed_scale=True, gemma_layers=True),
}


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class DecoderConfig:
    def __init__(self, f: GGUFFile):
        self.arch = str(f.get("general.architecture"))
        if self.arch not in ARCHS:
            raise ValueError(f"{f.path}: general.architecture is {self.arch!r}; this reference handles {sorted(ARCHS)}")
        p = self.arch + "."
        self.n_layer = int(f.get(p + "block_count"))
        self.n_embd = int(f.get(p + "embedding_length"))
        self.n_ff = int(f.get(p + "feed_forward_length"))
        self.n_head = int(f.get(p + "attention.head_count"))
        self.n_head_kv = int(f.get(p + "attention.head_count_kv", self.n_head))
        self.head_dim = int(f.get(p + "attention.key_length", self.n_embd // self.n_head))
        self.head_dim_v = int(f.get(p + "attention.value_length", self.head_dim))
        self.eps = float(f.get(p + "attention.layer_norm_rms_epsilon"))
        self.n_rot = int(f.get(p + "rope.dimension_count", self.head_dim))
        rope_base = float(f.get(p + "rope.freq_base", 10000.0))
        stype = str(f.get(p + "rope.scaling.type", "none"))
        factor = float(f.get(p + "rope.scaling.factor", 1.0))
        if stype not in ("none", "linear"):
            raise NotImplementedError(f"rope scaling type {stype!r} is not implemented in this reference")
        rope_scale = 1.0 / factor if stype == "linear" and factor > 0 else 1.0
        self.vocab = int(f.tensors["token_embd.weight"].shape[1])
        self.final_softcap = float(f.get(p + "final_logit_softcapping", 0.0))
        if f.has(p + "attn_logit_softcapping"):
            raise NotImplementedError("attention logit soft-capping (Gemma 2) is not implemented")

        # Per layer: (rope base, rope position scale, sliding window or 0 for full).
        self.layers: list[tuple[float, float, int]] = [(rope_base, rope_scale, 0)] * self.n_layer
        if ARCHS[self.arch].gemma_layers:
            window = int(f.get(p + "attention.sliding_window", 0))
            pattern = f.get(p + "attention.sliding_window_pattern", 6)
            base_swa = float(f.get(p + "rope.freq_base_swa", 10000.0))
            for i in range(self.n_layer):
                if isinstance(pattern, (list, tuple)):
                    local = bool(pattern[i])
                else:
                    local = (i + 1) % int(pattern) != 0
                self.layers[i] = (base_swa, 1.0, window) if local and window > 0 else (rope_base, rope_scale, 0)
            self.attn_scale = 1.0 / math.sqrt(self.n_embd / self.n_head if self.n_layer == 62 else self.head_dim)
        else:
            self.attn_scale = 1.0 / math.sqrt(self.head_dim)

    def __repr__(self) -> str:
        return "DecoderConfig(" + ", ".join(f"{k}={v}" for k, v in vars(self).items() if k != "layers") + ")"


class DecoderRef:
    """float64 forward pass; ``forward(ids)`` returns logits (T, vocab) for every position
    (or for the rows asked for)."""

    def __init__(self, path: str, cache_dtype: Any = None, norm_offset: float = 0.0,
                 rope_style: str | None = None):
        self.f = GGUFFile(path, cache_dtype)
        self.cfg = DecoderConfig(self.f)
        self.arch = ARCHS[self.cfg.arch]
        self.rope_style = rope_style or self.arch.rope_style
        self.norm_offset = norm_offset

    def w(self, name: str) -> np.ndarray:
        return self.f.tensor(name)

    def norm_w(self, name: str) -> np.ndarray:
        return self.w(name).astype(np.float64) + self.norm_offset

    def _linear(self, x: np.ndarray, name: str, bias: str = "never") -> np.ndarray:
        y = x @ self.w(name + ".weight").T.astype(np.float64, copy=False)
        has_bias = self.f.has_tensor(name + ".bias")
        if bias == "never" and has_bias:
            raise ValueError(f"{self.f.path}: unexpected tensor {name}.bias for {self.cfg.arch}")
        if bias == "required" or (bias == "optional" and has_bias):
            y = y + self.w(name + ".bias")
        return y

    def rope(self, x: np.ndarray, pos: np.ndarray, base: float, scale: float) -> np.ndarray:
        """x: (T, n_heads, head_dim); rotates the first n_rot dims of each head."""
        n_rot = self.cfg.n_rot
        inv_freq = base ** (-2.0 * np.arange(n_rot // 2, dtype=np.float64) / n_rot)
        ang = (pos.astype(np.float64) * scale)[:, None] * inv_freq[None, :]
        cos = np.cos(ang)[:, None, :]
        sin = np.sin(ang)[:, None, :]
        out = x.copy()
        if self.rope_style == "norm":
            x0, x1 = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
            out[..., 0:n_rot:2] = x0 * cos - x1 * sin
            out[..., 1:n_rot:2] = x0 * sin + x1 * cos
        else:
            h = n_rot // 2
            x0, x1 = x[..., :h], x[..., h:n_rot]
            out[..., :h] = x0 * cos - x1 * sin
            out[..., h:n_rot] = x0 * sin + x1 * cos
        return out

    def attention(self, h: np.ndarray, layer: int, pos: np.ndarray, kv_dtype: str = "f32") -> np.ndarray:
        c, a = self.cfg, self.arch
        T = h.shape[0]
        p = f"blk.{layer}."
        q = self._linear(h, p + "attn_q", a.qkv_bias).reshape(T, c.n_head, c.head_dim)
        k = self._linear(h, p + "attn_k", a.qkv_bias).reshape(T, c.n_head_kv, c.head_dim)
        v = self._linear(h, p + "attn_v", a.qkv_bias).reshape(T, c.n_head_kv, c.head_dim_v)
        if a.qk_norm:
            q = rms_norm(q, self.norm_w(p + "attn_q_norm.weight"), c.eps)
            k = rms_norm(k, self.norm_w(p + "attn_k_norm.weight"), c.eps)
        base, scale, window = c.layers[layer]
        q = self.rope(q, pos, base, scale)
        k = round_kv(self.rope(k, pos, base, scale), kv_dtype)
        v = round_kv(v, kv_dtype)
        group = c.n_head // c.n_head_kv
        k = np.repeat(k, group, axis=1)  # q head hq -> kv head hq // group
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("thd,shd->hts", q, k) * c.attn_scale
        hidden = pos[None, :] > pos[:, None]  # key after the query
        if window > 0:
            hidden |= pos[:, None] - pos[None, :] >= window  # key out of the window
        scores = np.where(hidden[None, :, :], -np.inf, scores)
        probs = softmax(scores, axis=-1)
        o = np.einsum("hts,shd->thd", probs, v).reshape(T, c.n_head * c.head_dim_v)
        return self._linear(o, p + "attn_output")

    def ffn(self, h: np.ndarray, layer: int) -> np.ndarray:
        p = f"blk.{layer}."
        act = silu if self.arch.ffn_act == "silu" else gelu_tanh
        return self._linear(act(self._linear(h, p + "ffn_gate")) * self._linear(h, p + "ffn_up"), p + "ffn_down")

    def hidden(self, token_ids: Sequence[int], kv_dtype: str = "f32") -> np.ndarray:
        """Final-normed hidden states (T, n_embd), float64."""
        c, a = self.cfg, self.arch
        ids = np.asarray(token_ids, dtype=np.int64)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError("token_ids must be a non-empty 1-D sequence")
        if ids.min() < 0 or ids.max() >= c.vocab:
            raise ValueError(f"token id out of range [0, {c.vocab})")
        pos = np.arange(ids.size)
        x = self.w("token_embd.weight")[ids].astype(np.float64)
        if a.embed_scale:
            x = x * math.sqrt(c.n_embd)
        for layer in range(c.n_layer):
            p = f"blk.{layer}."
            y = self.attention(rms_norm(x, self.norm_w(p + "attn_norm.weight"), c.eps), layer, pos, kv_dtype)
            if a.post_norms:
                y = rms_norm(y, self.norm_w(p + "post_attention_norm.weight"), c.eps)
            x = x + y
            y = self.ffn(rms_norm(x, self.norm_w(p + "ffn_norm.weight"), c.eps), layer)
            if a.post_norms:
                y = rms_norm(y, self.norm_w(p + "post_ffw_norm.weight"), c.eps)
            x = x + y
        return rms_norm(x, self.norm_w("output_norm.weight"), c.eps)

    def output_weight_name(self) -> str:
        return "output.weight" if self.f.has_tensor("output.weight") else "token_embd.weight"

    def forward(self, token_ids: Sequence[int], last_rows: int | None = None,
                kv_dtype: str = "f32") -> np.ndarray:
        """Logits (T, vocab), float64, for every position of token_ids (or the last
        `last_rows` positions), with K and V rounded to kv_dtype."""
        h = self.hidden(token_ids, kv_dtype)
        if last_rows is not None:
            h = h[-last_rows:]
        logits = h @ self.w(self.output_weight_name()).T.astype(np.float64, copy=False)
        if self.cfg.final_softcap > 0:
            logits = self.cfg.final_softcap * np.tanh(logits / self.cfg.final_softcap)
        return logits

    def greedy(self, token_ids: Sequence[int], n: int) -> list[int]:
        """n greedy tokens (full recompute per step: simple, fine for short checks)."""
        ids = list(token_ids)
        out = []
        for _ in range(n):
            tok = int(np.argmax(self.forward(ids, last_rows=1)[-1]))
            out.append(tok)
            ids.append(tok)
        return out


class SentencePieceDecoder:
    """Detokenizer for the GGUF "llama" (SentencePiece) vocab: "▁" is a space and <0xNN>
    pieces are bytes. For messages and prompt checks only."""

    def __init__(self, f: GGUFFile):
        if f.get("tokenizer.ggml.model", None) != "llama":
            raise ValueError("not a SentencePiece vocab")
        self.tokens = list(f.get("tokenizer.ggml.tokens"))

    def decode(self, ids: Sequence[int]) -> str:
        out = bytearray()
        for i in ids:
            t = self.tokens[i]
            if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
                out.append(int(t[3:5], 16))
            else:
                out += t.replace("\u2581", " ").encode("utf-8")
        return out.decode("utf-8", errors="replace")


def detokenizer(f: GGUFFile):
    """A decoder for the file's vocab (byte-level BPE or SentencePiece), or None."""
    for cls in (llama_ref.ByteBPE, SentencePieceDecoder):
        try:
            return cls(f)
        except ValueError:
            pass
    return None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--greedy", type=int, default=0, help="greedy continuation length")
    ap.add_argument("--norm-offset", type=float, default=0.0, help="add this to every norm weight")
    a = ap.parse_args(argv)
    t0 = time.time()
    ref = DecoderRef(a.model, norm_offset=a.norm_offset)
    print(ref.cfg)
    tok = detokenizer(ref.f)
    ids = [int(s) for s in a.ids.split(",")]
    if tok:
        print("prompt text:", repr(tok.decode(ids)))
    logits = ref.forward(ids, last_rows=1)[-1]
    print(f"forward over {len(ids)} tokens (incl. dequantization): {time.time() - t0:.2f}s")
    for t in np.argsort(-logits)[:5]:
        print(f"  {int(t):6d} {logits[t]:10.4f} {repr(tok.decode([int(t)])) if tok else ''}")
    if a.greedy:
        gen = ref.greedy(ids, a.greedy)
        print("greedy ids:", gen)
        if tok:
            print("greedy text:", repr(tok.decode(gen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
