"""kiln vs the NumPy reference (decoder_ref.py) on tiny random models of every supported
architecture, written here by gguf-py's GGUFWriter with F32 weights. They cover what the
real models in test_qwen2_logits.py / test_gemma3_logits.py do not:

* qwen3 (no real qwen3 GGUF is available to the tests): per-head q/k RMSNorm and a head_dim
  (key_length) that differs from n_embd / n_head;
* gemma3's sliding window with a window of a few tokens, so that it matters within a short
  prompt, in both metadata forms (a period, and one bool per layer), linear RoPE scaling on
  the global layers only, and final-logit soft-capping;
* qwen2 with tied output and llama with q/k/v biases (optional there).

Weights are F32 and kiln keeps F32 activations for F32 weights, so the strict tolerance of
the real models' F32 variant applies: rel L2 < 1e-4 and every greedy token the reference's
argmax unless its top two are within 1e-3, with an F32 or F16 KV cache (the reference
rounding its K and V to the same type). With a BF16 cache a single element that rounds one
BF16 step apart already costs up to 1.2e-4 here, so that one is held to
logits_check.KV_ROUNDING_TOLERANCES["bf16"]. Skips when KILN_BIN is unset.
"""
from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass, field

import numpy as np
import pytest

import decoder_ref
import kiln_cli
import logits_check

REL_TOL = 1e-4
TIE_TOL = 1e-3
N_GREEDY = 16
VOCAB = 96


@dataclass
class Tiny:
    arch: str
    n_layer: int = 3
    n_embd: int = 64
    n_ff: int = 96
    n_head: int = 4
    n_head_kv: int = 2
    head_dim: int | None = None      # written as key_length/value_length when set
    eps: float = 1e-6
    rope_base: float = 10000.0
    qkv_bias: bool = False
    qk_norm: bool = False
    post_norms: bool = False
    tied: bool = False
    extra: dict = field(default_factory=dict)  # key suffix -> value (int/float/bool list/str)


MODELS: dict[str, Tiny] = {
    "qwen3": Tiny("qwen3", n_embd=64, n_head=4, n_head_kv=2, head_dim=24, qk_norm=True, rope_base=1e6),
    "qwen3_tied": Tiny("qwen3", n_head=6, n_head_kv=1, head_dim=16, qk_norm=True, tied=True),
    "qwen2": Tiny("qwen2", qkv_bias=True, rope_base=1e6),
    "qwen2_tied": Tiny("qwen2", n_head=8, n_head_kv=2, qkv_bias=True, tied=True),
    "llama_bias": Tiny("llama", qkv_bias=True, eps=1e-5),
    # 7 layers: 0-4 local, 5 global, 6 local; window 4 over prompts of 12 tokens + 16 generated.
    "gemma3": Tiny("gemma3", n_layer=7, n_head=2, n_head_kv=1, head_dim=48, qk_norm=True,
                   post_norms=True, tied=True, rope_base=1e6, extra={"attention.sliding_window": 4}),
    "gemma3_pattern": Tiny("gemma3", n_layer=4, n_head=4, n_head_kv=2, head_dim=16, qk_norm=True,
                           post_norms=True, tied=True, rope_base=1e6,
                           extra={"attention.sliding_window": 3,
                                  "attention.sliding_window_pattern": [True, False, True, False],
                                  "rope.scaling.type": "linear", "rope.scaling.factor": 4.0,
                                  "final_logit_softcapping": 3.0}),
}

PROMPTS = {
    "a": [1, 17, 5, 88, 42, 9, 60, 33, 2, 71, 14, 50],
    "b": [3, 95, 12, 12, 40, 7],
}


def write_tiny(path: str, m: Tiny, seed: int, split_max_tensors: int = 0) -> None:
    """split_max_tensors > 0: gguf-py writes parts PATH-00001-of-0000N.gguf instead, at most
    that many tensors each (the split.* keys and names of llama.cpp's gguf-split)."""
    import gguf

    rng = np.random.default_rng(seed)
    hd = m.head_dim or m.n_embd // m.n_head
    q_dim, kv_dim = m.n_head * hd, m.n_head_kv * hd
    w = gguf.GGUFWriter(path, m.arch, split_max_tensors=split_max_tensors)
    p = m.arch + "."
    w.add_uint32(p + "block_count", m.n_layer)
    w.add_uint32(p + "context_length", 256)
    w.add_uint32(p + "embedding_length", m.n_embd)
    w.add_uint32(p + "feed_forward_length", m.n_ff)
    w.add_uint32(p + "attention.head_count", m.n_head)
    w.add_uint32(p + "attention.head_count_kv", m.n_head_kv)
    if m.head_dim:
        w.add_uint32(p + "attention.key_length", hd)
        w.add_uint32(p + "attention.value_length", hd)
    w.add_float32(p + "attention.layer_norm_rms_epsilon", m.eps)
    w.add_float32(p + "rope.freq_base", m.rope_base)
    for k, v in m.extra.items():
        if isinstance(v, str):
            w.add_string(p + k, v)
        elif isinstance(v, float):
            w.add_float32(p + k, v)
        elif isinstance(v, list):
            w.add_array(p + k, v)
        else:
            w.add_uint32(p + k, v)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float32)

    def norm(n: int) -> np.ndarray:
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    w.add_tensor("token_embd.weight", (rng.standard_normal((VOCAB, m.n_embd)) * 0.5).astype(np.float32))
    for i in range(m.n_layer):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", norm(m.n_embd))
        w.add_tensor(b + "attn_q.weight", mat(q_dim, m.n_embd))
        w.add_tensor(b + "attn_k.weight", mat(kv_dim, m.n_embd))
        w.add_tensor(b + "attn_v.weight", mat(kv_dim, m.n_embd))
        if m.qkv_bias:
            for n, d in (("q", q_dim), ("k", kv_dim), ("v", kv_dim)):
                w.add_tensor(b + f"attn_{n}.bias", (0.3 * rng.standard_normal(d)).astype(np.float32))
        if m.qk_norm:
            w.add_tensor(b + "attn_q_norm.weight", norm(hd))
            w.add_tensor(b + "attn_k_norm.weight", norm(hd))
        w.add_tensor(b + "attn_output.weight", mat(m.n_embd, q_dim))
        w.add_tensor(b + "ffn_norm.weight", norm(m.n_embd))
        w.add_tensor(b + "ffn_gate.weight", mat(m.n_ff, m.n_embd))
        w.add_tensor(b + "ffn_up.weight", mat(m.n_ff, m.n_embd))
        w.add_tensor(b + "ffn_down.weight", mat(m.n_embd, m.n_ff))
        if m.post_norms:
            w.add_tensor(b + "post_attention_norm.weight", norm(m.n_embd))
            w.add_tensor(b + "post_ffw_norm.weight", norm(m.n_embd))
    w.add_tensor("output_norm.weight", norm(m.n_embd))
    if not m.tied:
        w.add_tensor("output.weight", mat(VOCAB, m.n_embd) * 4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    kiln_cli.require_subcommand("logits")
    cache: dict[str, tuple[str, decoder_ref.DecoderRef]] = {}

    def get(name: str):
        if name not in cache:
            path = str(tmp_path_factory.mktemp("tiny") / f"{name}.gguf")
            write_tiny(path, MODELS[name], seed=sorted(MODELS).index(name))
            cache[name] = (path, decoder_ref.DecoderRef(path))
        return cache[name]

    return get


def test_tiny_gemma3_layer_plan(tiny):
    """The reference reads the window pattern the way the tests intend (guards the fixtures)."""
    _, ref = tiny("gemma3")
    assert [l[2] for l in ref.cfg.layers] == [4, 4, 4, 4, 4, 0, 4]
    assert [l[0] for l in ref.cfg.layers] == [1e4] * 5 + [1e6, 1e4]
    _, ref = tiny("gemma3_pattern")
    assert [(l[0], l[1], l[2]) for l in ref.cfg.layers] == [(1e4, 1.0, 3), (1e6, 0.25, 0)] * 2


# Every KV cache element type, the reference rounding K and V to the same one.
@pytest.mark.parametrize("kv_dtype", ["f16", "f32", "bf16"])
@pytest.mark.parametrize("prompt", list(PROMPTS))
@pytest.mark.parametrize("name", list(MODELS))
def test_tiny_model_matches_reference(name, prompt, kv_dtype, tiny):
    path, ref = tiny(name)
    ids = PROMPTS[prompt]
    out = kiln_cli.kiln_logits(path, ids, n=N_GREEDY, kv_dtype=kv_dtype)
    gen = [int(t) for t in out["generated"]]
    ref_logits = ref.forward(ids + gen[:-1], kv_dtype=kv_dtype)
    label = f"tiny {name}/{prompt}/kv {kv_dtype}"
    n = len(ids)
    tol = logits_check.KV_ROUNDING_TOLERANCES["bf16"] if kv_dtype == "bf16" else {}
    logits_check.check_final_logits(label, n, out, ref_logits[n - 1], tol.get("rel_tol", REL_TOL))
    logits_check.check_greedy(label, n, out, ref_logits[n - 1:], N_GREEDY, tol.get("tie_tol", TIE_TOL), set())


@pytest.mark.parametrize("name", ["gemma3", "qwen3"])
def test_tiny_model_departs_when_the_convention_is_wrong(name, tiny):
    """The comparison is sharp enough to see a wrong convention on these tiny models: NeoX
    RoPE read as adjacent pairs, and for gemma3 norm weights used as (1 + w)."""
    path, ref = tiny(name)
    ids = PROMPTS["a"]
    out = kiln_cli.kiln_logits(path, ids, kv_dtype="f32")
    k = np.asarray(out["logits"], dtype=np.float64)
    wrong = [decoder_ref.DecoderRef(path, rope_style="norm")]
    if name == "gemma3":
        wrong.append(decoder_ref.DecoderRef(path, norm_offset=1.0))
    for r in wrong:
        x = r.forward(ids, last_rows=1, kv_dtype="f32")[-1]
        assert np.linalg.norm(k - x) / np.linalg.norm(x) > 100 * REL_TOL


def test_split_gguf_runs_as_the_whole_file(tmp_path, tiny):
    """A model in parts (gguf-py's writer with split_max_tensors: gguf-split's file names and
    split.* keys) runs from its first part bit for bit as the whole file does, which matches
    the reference; a later part, or a first part with a part missing, is refused by name."""
    whole, ref = tiny("qwen2")
    write_tiny(str(tmp_path / "qwen2.gguf"), MODELS["qwen2"], seed=sorted(MODELS).index("qwen2"),
               split_max_tensors=12)
    parts = sorted(tmp_path.glob("qwen2-*-of-*.gguf"))
    assert len(parts) >= 3 and parts[0].name.endswith(f"-00001-of-{len(parts):05d}.gguf")
    ids = PROMPTS["a"]
    split_out = kiln_cli.kiln_logits(str(parts[0]), ids, n=N_GREEDY, kv_dtype="f32")
    whole_out = kiln_cli.kiln_logits(whole, ids, n=N_GREEDY, kv_dtype="f32")
    assert split_out["generated"] == whole_out["generated"]
    assert split_out["logits"] == whole_out["logits"]
    ref_logits = ref.forward(ids, last_rows=1, kv_dtype="f32")[-1]
    logits_check.check_final_logits("split qwen2", len(ids), split_out, ref_logits, REL_TOL)

    def info(path) -> subprocess.CompletedProcess:
        return subprocess.run([kiln_cli.kiln_bin(), "info", str(path)], capture_output=True,
                              text=True, timeout=60)

    # Quantizing it gives one file, which reads as one (no split.* keys copied over).
    kiln_cli.kiln_quantize(str(parts[0]), str(tmp_path / "one.gguf"), "F16")
    one = info(tmp_path / "one.gguf")
    assert one.returncode == 0, one.stderr
    import gguf
    assert not [k for k in gguf.GGUFReader(str(tmp_path / "one.gguf")).fields if k.startswith("split.")]

    whole_info = info(parts[0])
    assert whole_info.returncode == 0, whole_info.stderr
    assert f"split in {len(parts)} parts" in whole_info.stdout
    later = info(parts[1])
    assert later.returncode != 0
    assert f"part 2 of a split GGUF of {len(parts)} parts; open the first part" in later.stderr
    parts[-1].unlink()
    missing = info(parts[0])
    assert missing.returncode != 0
    assert f"part {len(parts)} of {len(parts)}: " in missing.stderr and parts[-1].name in missing.stderr
