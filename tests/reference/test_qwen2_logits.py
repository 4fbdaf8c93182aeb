"""kiln's qwen2 forward pass vs the independent NumPy reference (decoder_ref.py) on a real
model: final-position logits and 32-token greedy continuations.

  KILN_BIN=build/release/kiln KILN_MODEL_QWEN2=$(scripts/fetch_models_extra.sh qwen) \\
      python3 -m pytest tests/reference/test_qwen2_logits.py -s

The model is Qwen2.5-Coder-0.5B-Instruct (converted from the AWQ checkpoint), Q4_K_M GGUF:
general.architecture qwen2, 24 layers, d_model 896, 14 query / 2 KV heads, q/k/v biases,
untied output (Q8_0), most matrices Q5_0 (896 is not a multiple of 256, so the k-quant
mix falls back), some Q4_K/Q6_K/Q8_0. KILN_MODEL_QWEN2 defaults to the cached copy that
scripts/fetch_models_extra.sh qwen writes; the test skips when neither exists. Skips
when KILN_BIN is unset.

Two variants of the same weights (as in test_llama_logits.py):
  f32     every tensor dequantized by gguf-py and written as F32 (a 2 GB temporary file):
          the strict check of the model code (biases, NeoX RoPE, GQA 7:1, untied output).
  native  the file as it is. kiln quantizes activations to 8 bits for the integer dot
          products, as llama.cpp does: llama.cpp (llama-cpp-python 0.3.36) lands
          1.1e-2 .. 1.7e-2 rel L2 from the float64 reference on these prompts.
"""
from __future__ import annotations

import os

import pytest

import decoder_ref
import kiln_cli
import llama_ref
import logits_check

DEFAULT_MODEL = os.path.join(os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln")),
                             "models", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")

# Tolerances per variant (the rules are in logits_check.py).
#   f32:    kiln measured <= 6.1e-7 rel err and 32/32 greedy tokens on every prompt. 1e-4
#           still catches, on these prompts (the reference changed, rel L2 from the right
#           one): rms eps 1e-5 instead of 1e-6 2.6e-3 .. 4.2e-3, RoPE base 1e4 instead of
#           1e6 2.4e-2 .. 0.14, adjacent instead of NeoX RoPE pairs 0.23 .. 0.40, no q/k/v
#           biases 1.1 .. 1.9.
#   native: kiln measured 9.4e-3 .. 2.0e-2 (1.2e-2 .. 2.0e-2 with the F16 cache),
#           llama.cpp 1.1e-2 .. 1.7e-2; 5e-2 is about 3x
#           llama.cpp's worst. kiln's greedy tokens left the reference's argmax at top-two
#           gaps 0.068 and 0.088 (llama.cpp's at 0.051 .. 0.088); tie_tol 0.2 is over 2x that.
# KV cache element types (`--kv-cache-dtype`; the reference rounds its K and V to the same):
# f32 and native use an F32 cache (f32 is the strict check of the model code); f32_kvf16 has
# kiln's default F16 cache, held to logits_check.KV_ROUNDING_TOLERANCES (why: there);
# native_kvf16 has the F16 cache within the native bounds.
VARIANTS = {
    "f32": {"rel_tol": 1e-4, "tie_tol": 1e-3, "kv_dtype": "f32"},
    "f32_kvf16": {**logits_check.KV_ROUNDING_TOLERANCES["f16"], "kv_dtype": "f16"},
    "native": {"rel_tol": 5e-2, "tie_tol": 0.2, "kv_dtype": "f32"},
    "native_kvf16": {"rel_tol": 5e-2, "tie_tol": 0.2, "kv_dtype": "f16"},
}
N_GREEDY = 32

# Ids in Qwen2's vocabulary (byte-level BPE, "qwen2" pre-tokenizer); `kiln tokenize
# --parse-special` and llama.cpp give exactly these, and test_prompt_ids_decode checks
# that each decodes back to its text.
PROMPTS: dict[str, tuple[str, list[int]]] = {
    "france": ("The capital of France is", [785, 6722, 315, 9625, 374]),
    "chat": (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "What is the boiling point of water at sea level?<|im_end|>\n<|im_start|>assistant\n",
        [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 3838, 374,
         279, 49837, 1459, 315, 3015, 518, 9396, 2188, 30, 151645, 198, 151644, 77091, 198],
    ),
    "code": (
        "def fibonacci(n):\n    if n <= 1:\n        return n\n    return",
        [750, 75698, 1445, 982, 262, 421, 308, 2651, 220, 16, 510, 286, 470, 308, 198, 262, 470],
    ),
    "eiffel": (
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
        "after the engineer Gustave Eiffel, whose company designed and built the tower. Locally nicknamed "
        "\"La dame de fer\" (French for \"Iron Lady\"), it was constructed from 1887 to 1889 as the "
        "centerpiece of the",
        [785, 468, 3092, 301, 21938, 374, 264, 78603, 12, 2475, 54272, 21271, 389, 279, 55590, 409, 21048,
         304, 12095, 11, 9625, 13, 1084, 374, 6941, 1283, 279, 23576, 48620, 523, 468, 3092, 301, 11, 6693,
         2813, 6188, 323, 5798, 279, 21271, 13, 13600, 745, 89134, 330, 8747, 64767, 409, 18227, 1, 320,
         43197, 369, 330, 46393, 20621, 3975, 432, 572, 20346, 504, 220, 16, 23, 23, 22, 311, 220, 16, 23,
         23, 24, 438, 279, 90753, 315, 279],
    ),
}


@pytest.fixture(scope="module")
def model_path() -> str:
    path = os.environ.get("KILN_MODEL_QWEN2", DEFAULT_MODEL)
    if not os.path.isfile(path):
        pytest.skip(f"qwen2 model not found: {path} (scripts/fetch_models_extra.sh qwen; KILN_MODEL_QWEN2)")
    return path


@pytest.fixture(scope="module")
def ref(model_path) -> decoder_ref.DecoderRef:
    r = decoder_ref.DecoderRef(model_path)
    assert r.cfg.arch == "qwen2", f"{model_path} is a {r.cfg.arch!r} model, not qwen2"
    return r


@pytest.fixture(scope="module")
def tok(ref):
    return decoder_ref.detokenizer(ref.f)


@pytest.fixture(scope="module")
def f32_model_path(model_path, ref, tmp_path_factory) -> str:
    kiln_cli.require_subcommand("logits")
    path = tmp_path_factory.mktemp("qwen2_f32") / "model-f32.gguf"
    llama_ref.write_f32_copy(model_path, str(path), source=ref.f)
    return str(path)


@pytest.fixture(scope="module")
def runs(request, model_path, ref):
    def path(variant: str) -> str:
        return model_path if variant.startswith("native") else request.getfixturevalue("f32_model_path")
    return logits_check.make_runs(ref, path, {k: v[1] for k, v in PROMPTS.items()}, N_GREEDY,
                                  kv_dtypes=lambda variant: VARIANTS[variant]["kv_dtype"])


@pytest.mark.parametrize("name", list(PROMPTS))
def test_prompt_ids_decode(name, tok):
    text, ids = PROMPTS[name]
    got = tok.decode(ids)
    assert got == text, f"prompt {name!r}: ids decode to {got!r}, expected {text!r} (wrong model or bad ids)"


@pytest.mark.parametrize("name", list(PROMPTS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_final_logits(variant, name, runs, tok):
    out, ref_logits = runs(variant, name)
    n = len(PROMPTS[name][1])
    logits_check.check_final_logits(f"qwen2 {variant}/{name}", n, out, ref_logits[n - 1],
                                    VARIANTS[variant]["rel_tol"], tok)


@pytest.mark.parametrize("name", list(PROMPTS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_greedy_continuation(variant, name, runs, ref, tok):
    out, ref_logits = runs(variant, name)
    n = len(PROMPTS[name][1])
    logits_check.check_greedy(f"qwen2 {variant}/{name}", n, out, ref_logits[n - 1:], N_GREEDY,
                              VARIANTS[variant]["tie_tol"], logits_check.eog_ids(ref.f), tok)
