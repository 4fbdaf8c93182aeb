"""End to end per weight type: a small random Llama written as an F32 GGUF (gguf-py's
GGUFWriter), converted by kiln's own `kiln quantize --type T`, then `kiln logits` on the
converted file vs the NumPy reference (llama_ref.py) on the same converted file. The
reference dequantizes the same quantized weights with gguf-py, so the only differences
left are kiln's kernels (dequantization, dot products, any activation quantization).

  KILN_BIN=build/release/kiln python3 -m pytest tests/reference/test_weight_types.py -s

Skips when KILN_BIN is unset or the binary lacks `quantize` / `logits`.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import gguf
import kiln_cli
import llama_ref
import logits_check

# The tiny model: dims are multiples of 256 so every k-quant applies to every matrix.
# Prompt (seed SEED+1): the reference's top-two gap is 0.15 .. 0.95 across the types.
N_EMBD, N_HEAD, N_HEAD_KV, N_FF, N_LAYER, VOCAB = 256, 4, 2, 512, 2, 512
HEAD_DIM = N_EMBD // N_HEAD
SEED = 1234
PROMPT_LEN = 24

# Tolerance on ||kiln - ref|| / ||ref|| of the final-position logits, per weight type.
# With identical dequantized weights, kiln's error comes only from its arithmetic:
#  - F32: float32 accumulation, ~1e-6 relative; 1e-4 leaves room for summation order and
#    fast exp/softmax.
#  - F16: an engine may round activations to f16 for the dot (ggml does): 2^-11 relative per
#    element, ~1e-3 on logits -> 3e-3.
#  - BF16: activations rounded to bf16 (2^-8 relative per element) -> 1e-2.
#  - Block types: engines quantize activations to 8 bits for the integer dot (ggml: Q8_0/Q8_1,
#    one scale per 32 values, for the legacy types; Q8_K, one scale per 256, for k-quants).
#    Simulating exactly that in NumPy on this model gives rel errors 4.5e-3..6.6e-3 with
#    32-blocks and 5.6e-3..1.06e-2 with 256-blocks, whatever the weight type (the weights'
#    own bits do not matter: both sides use the same dequantized weights). Tolerances are
#    ~2.5x those: 1.5e-2 for 32-block types, 2.5e-2 for k-quants, 3e-2 for 2-3-bit k-quants.
# Each is far below what a real bug produces: wrong RoPE pairing gives ~0.15 on this model,
# a wrong scale or layout O(1).
# kiln measured (first run): F32/F16/BF16 ~1.5e-7 (it keeps float activations there),
# 32-block types 6.1e-3 .. 7.2e-3, k-quants 9.8e-3 .. 1.1e-2.
TOLERANCES = {
    "F32": 1e-4,
    "F16": 3e-3,
    "BF16": 1e-2,
    "Q8_0": 1.5e-2,
    "Q5_0": 1.5e-2,
    "Q5_1": 1.5e-2,
    "Q4_0": 1.5e-2,
    "Q4_1": 1.5e-2,
    "Q6_K": 2.5e-2,
    "Q5_K": 2.5e-2,
    "Q4_K": 2.5e-2,
    "Q3_K": 3e-2,
    "Q2_K": 3e-2,
}


def _byte_level_vocab() -> tuple[list[str], list[str], list[int]]:
    """256 byte-level single-char tokens, 255 merges of two lowercase letters, one control
    token <|endoftext|> (id 511): a tiny but well-formed gpt2-style BPE vocabulary."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    b2u = dict(zip(bs, map(chr, cs)))
    tokens = [b2u[b] for b in range(256)]
    letters = "abcdefghijklmnop"
    merges = []
    for a in letters:
        for b in letters:
            if len(tokens) < VOCAB - 1:
                merges.append(f"{a} {b}")
                tokens.append(a + b)
    tokens.append("<|endoftext|>")
    types = [int(gguf.TokenType.NORMAL)] * (VOCAB - 1) + [int(gguf.TokenType.CONTROL)]
    assert len(tokens) == VOCAB and len(set(tokens)) == VOCAB
    return tokens, merges, types


def write_tiny_llama(path, seed: int = SEED, rope_freqs: np.ndarray | None = None) -> None:
    """Random Llama with untied output, F32 everywhere. Projections are scaled ~1/sqrt(fan_in)
    (std 0.03..0.06) so activations stay O(1); logits come out with std ~3."""
    rng = np.random.default_rng(seed)

    def mat(n_out, n_in, gain=1.0):
        return (rng.standard_normal((n_out, n_in)) * gain / math.sqrt(n_in)).astype(np.float32)

    def norm_w(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("kiln-test-tiny-llama")
    w.add_context_length(2048)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(VOCAB)
    w.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    tokens, merges, types = _byte_level_vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(VOCAB - 1)
    w.add_eos_token_id(VOCAB - 1)
    w.add_add_bos_token(False)

    w.add_tensor("token_embd.weight", rng.standard_normal((VOCAB, N_EMBD)).astype(np.float32))
    if rope_freqs is not None:
        w.add_tensor("rope_freqs.weight", np.asarray(rope_freqs, dtype=np.float32))
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", norm_w(N_EMBD))
        w.add_tensor(p + "attn_q.weight", mat(N_HEAD * HEAD_DIM, N_EMBD))
        w.add_tensor(p + "attn_k.weight", mat(N_HEAD_KV * HEAD_DIM, N_EMBD))
        w.add_tensor(p + "attn_v.weight", mat(N_HEAD_KV * HEAD_DIM, N_EMBD))
        w.add_tensor(p + "attn_output.weight", mat(N_EMBD, N_HEAD * HEAD_DIM, 0.5))
        w.add_tensor(p + "ffn_norm.weight", norm_w(N_EMBD))
        w.add_tensor(p + "ffn_gate.weight", mat(N_FF, N_EMBD))
        w.add_tensor(p + "ffn_up.weight", mat(N_FF, N_EMBD))
        w.add_tensor(p + "ffn_down.weight", mat(N_EMBD, N_FF, 0.5))
    w.add_tensor("output_norm.weight", norm_w(N_EMBD))
    w.add_tensor("output.weight", mat(VOCAB, N_EMBD, 3.0))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def prompt_ids() -> list[int]:
    rng = np.random.default_rng(SEED + 1)
    return [int(t) for t in rng.integers(0, VOCAB - 1, size=PROMPT_LEN)]


@pytest.fixture(scope="module")
def f32_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_llama") / "tiny-f32.gguf"
    write_tiny_llama(path)
    return path


def _compare(model_path, tol: float, label: str, ref: llama_ref.LlamaRef | None = None,
             isa: str | None = None, kv_dtype: str = "f16") -> None:
    """kiln's KV cache in kv_dtype (f16 by default, as kiln runs), the reference's K and V
    rounded to the same."""
    ids = prompt_ids()
    out = kiln_cli.kiln_logits(str(model_path), ids, isa=isa, kv_dtype=kv_dtype)
    ref = ref or llama_ref.LlamaRef(str(model_path))
    r = ref.forward(ids, kv_dtype=kv_dtype)[-1]
    k = np.asarray(out["logits"], dtype=np.float64)
    assert k.shape == r.shape, f"{label}: kiln returned {k.shape[0]} logits, vocab is {r.shape[0]}"
    assert np.all(np.isfinite(k)), f"{label}: kiln logits contain non-finite values"
    rel = float(np.linalg.norm(k - r) / np.linalg.norm(r))
    srt = np.sort(r)
    gap = float(srt[-1] - srt[-2])
    print(f"\n[{label}] rel L2 err {rel:.3e} (tol {tol:g}), max |diff| {np.max(np.abs(k - r)):.3e}, "
          f"ref top-1 {int(np.argmax(r))} kiln top-1 {int(np.argmax(k))}, ref top-two gap {gap:.3f}")
    detail = (f"{label}: rel L2 err {rel:.3e} (tol {tol:g}), max |diff| {np.max(np.abs(k - r)):.3e}; "
              f"ref top-5 {np.argsort(-r)[:5].tolist()}, kiln top-5 {np.argsort(-k)[:5].tolist()}, "
              f"ref top-two gap {gap:.4f}")
    assert rel < tol, "kiln's logits differ from the reference on the same weights: " + detail
    assert int(np.argmax(k)) == int(np.argmax(r)), "top-1 token differs from the reference: " + detail


# Every kernel tier end to end: the machine's best (AVX-512 here), and AVX2 and scalar as a
# CPU without AVX-512 (or without AVX) would run them. A tier the CPU lacks falls back to
# the next one down, so the test stays valid everywhere.
@pytest.mark.parametrize("isa", ["best", "avx2", "scalar"])
@pytest.mark.parametrize("qtype", list(TOLERANCES))
def test_weight_type(qtype, isa, f32_model, tmp_path):
    kiln_cli.require_subcommand("logits")
    out_path = tmp_path / f"tiny-{qtype}.gguf"
    kiln_cli.kiln_quantize(str(f32_model), str(out_path), qtype)

    # The conversion must really produce the type under test, or this test proves nothing.
    reader = gguf.GGUFReader(str(out_path), "r")
    mats = {t.name: t.tensor_type.name for t in reader.tensors if t.name.startswith("blk.") and len(t.shape) == 2}
    wrong = {n: ty for n, ty in mats.items() if ty != qtype}
    assert mats and not wrong, (f"`kiln quantize --type {qtype}` left layer matrices in other types: {wrong}")
    others = sorted({f"{t.name}:{t.tensor_type.name}" for t in reader.tensors if not t.name.startswith("blk.")})
    del reader
    print(f"\n[{qtype}] non-layer tensors: {others}")
    _compare(out_path, TOLERANCES[qtype], f"{qtype}/{isa}", isa=None if isa == "best" else isa)


# The other KV cache element types on every kernel tier (the tests above run kiln's default
# F16 cache): F32 weights, the reference rounding its K and V to the same type.
@pytest.mark.parametrize("isa", ["best", "avx2", "scalar"])
@pytest.mark.parametrize("kv_dtype", ["f32", "bf16"])
def test_kv_cache_dtype(kv_dtype, isa, f32_model):
    kiln_cli.require_subcommand("logits")
    tol = TOLERANCES["F32"] if kv_dtype == "f32" else logits_check.KV_ROUNDING_TOLERANCES[kv_dtype]["rel_tol"]
    _compare(f32_model, tol, f"F32/kv {kv_dtype}/{isa}", isa=None if isa == "best" else isa, kv_dtype=kv_dtype)


def test_rope_freqs_tensor(tmp_path):
    """llama3-style RoPE as llama.cpp stores it: a rope_freqs.weight tensor dividing each
    pair's frequency. F32 weights, so any difference is the rope handling."""
    kiln_cli.require_subcommand("logits")
    factors = np.linspace(1.0, 8.0, HEAD_DIM // 2)
    path = tmp_path / "tiny-rope-freqs.gguf"
    write_tiny_llama(path, rope_freqs=factors)
    ref = llama_ref.LlamaRef(str(path))
    # the factors must matter for this prompt, else the test could not tell
    plain = tmp_path / "tiny-plain.gguf"
    write_tiny_llama(plain)
    ids = prompt_ids()
    a, b = ref.forward(ids)[-1], llama_ref.LlamaRef(str(plain)).forward(ids)[-1]
    effect = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    assert effect > 100 * TOLERANCES["F32"], f"rope_freqs changes the reference logits by only {effect:.2e}"
    _compare(path, TOLERANCES["F32"], "F32+rope_freqs", ref)
