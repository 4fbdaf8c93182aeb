"""kiln's gemma3 forward pass vs the independent NumPy reference (decoder_ref.py) on a real
model: final-position logits and 32-token greedy continuations.

  KILN_BIN=build/release/kiln KILN_MODEL_GEMMA3=$(scripts/fetch_models_extra.sh gemma3) \\
      python3 -m pytest tests/reference/test_gemma3_logits.py -s

The model is Gemma 3 270M, Q4_K_M GGUF: 18 layers, d_model 640, 4 query heads / 1 KV head
of head_dim 256 (so q is 1024 wide), GeGLU FFN 2048, 262144-token SentencePiece vocab,
tied Q8_0 embedding, sliding window 512 on 15 local layers (RoPE base 1e4) and full
attention on layers 5, 11, 17 (RoPE base 1e6). KILN_MODEL_GEMMA3 defaults to the cached
copy that scripts/fetch_models_extra.sh gemma3 writes; the test skips when neither exists.
Skips when KILN_BIN is unset.

Two variants of the same weights (as in test_llama_logits.py):
  f32     every tensor dequantized by gguf-py and written as F32 (a 1.1 GB temporary file):
          the strict check of the model code (embedding scale, sandwich norms, q/k norms,
          GeGLU, two RoPE bases, 1/sqrt(head_dim) query scale, tied output).
  native  the file as it is. kiln quantizes activations to 8 bits for the integer dot
          products, as llama.cpp does: llama.cpp (llama-cpp-python 0.3.36) lands
          1.4e-2 .. 3.3e-2 rel L2 from the float64 reference at these prompts' final
          positions and up to 4.8e-2 along a continuation, with max |diff| near 1 logit.

The reference uses Gemma's norm weights as stored (llama.cpp's converter writes 1 + w);
adding 1 again puts llama.cpp's own logits 1.3 rel L2 away from the reference, against
2.3e-2 as stored (measured on "The capital of France is").
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import decoder_ref
import kiln_cli
import llama_ref
import logits_check

DEFAULT_MODEL = os.path.join(os.environ.get("KILN_CACHE", os.path.expanduser("~/.cache/kiln")),
                             "models", "gemma-3-270m-q4_k_m.gguf")

# Tolerances per variant (the rules are in logits_check.py).
#   f32:    kiln measured <= 7.2e-7 rel err and 32/32 greedy tokens on every prompt. 1e-4
#           still catches, on these prompts (the reference changed, rel L2 from the right
#           one): rms eps 1e-5 instead of 1e-6 2.0e-2 .. 4.8e-2, RoPE base 1e4 on every layer
#           1.7e-2 .. 0.19 (1e6 on every layer 4.4e-2 .. 0.57), adjacent RoPE pairs 0.12 ..
#           1.3, query scale 1/sqrt(d_model/n_head) 6.8e-2 .. 0.24, SwiGLU for GeGLU 0.12 ..
#           0.52, norms as 1 + stored 0.54 .. 1.6, no embedding scale 1.2 .. 7.2, no post
#           norms 3.9 .. 11.
#   native: kiln measured 2.0e-2 .. 4.4e-2 at the final positions (1.4e-2 .. 5.8e-2 with
#           the F16 cache, 5.3e-2 after 577 tokens; llama.cpp 1.4e-2 ..
#           3.3e-2), 5.0e-2 after the 577-token prompt, and up to 6.6e-2 along the chat
#           continuation (llama.cpp 4.8e-2); 0.1 is 2x llama.cpp's worst. Greedy: kiln left the reference's argmax at top-two gaps
#           0.012 .. 0.11 (llama.cpp at 0.012 and 0.089), under tie_tol 0.3, and once at a
#           position where this base model is lost in the chat prompt (token 11 of "chat":
#           the reference's top token has probability 0.024 and its top logit is -9.8);
#           there kiln picks the reference's #4, 0.58 below its #1, and llama.cpp, given the
#           same tokens as one batch, picks the #3, 0.57 below. Such low-confidence positions
#           (top probability < 0.05) are excused when kiln's token is in the reference's top 5.
# KV cache element types (`--kv-cache-dtype`; the reference rounds its K and V to the same):
# f32 and native use an F32 cache (f32 is the strict check of the model code); f32_kvf16 has
# kiln's default F16 cache, held to logits_check.KV_ROUNDING_TOLERANCES (why: there);
# native_kvf16 has the F16 cache within the native bounds.
VARIANTS = {
    "f32": {"rel_tol": 1e-4, "tie_tol": 1e-3, "low_confidence": None, "kv_dtype": "f32"},
    "f32_kvf16": {**logits_check.KV_ROUNDING_TOLERANCES["f16"], "low_confidence": None, "kv_dtype": "f16"},
    "native": {"rel_tol": 1e-1, "tie_tol": 0.3, "low_confidence": (0.05, 5), "kv_dtype": "f32"},
    "native_kvf16": {"rel_tol": 1e-1, "tie_tol": 0.3, "low_confidence": (0.05, 5), "kv_dtype": "f16"},
}
N_GREEDY = 32

# Ids in Gemma 3's vocabulary (SentencePiece, BOS 2 first); `kiln tokenize --parse-special`
# and llama.cpp give exactly these, and test_prompt_ids_decode checks that each decodes
# back to its text.
PROMPTS: dict[str, tuple[str, list[int]]] = {
    "france": ("The capital of France is", [2, 818, 5279, 529, 7001, 563]),
    "chat": (
        "<start_of_turn>user\nWhat is the boiling point of water at sea level?<end_of_turn>\n"
        "<start_of_turn>model\n",
        [2, 105, 2364, 107, 3689, 563, 506, 31476, 1523, 529, 1813, 657, 5442, 1984, 236881, 106, 107, 105,
         4368, 107],
    ),
    "code": (
        "def fibonacci(n):\n    if n <= 1:\n        return n\n    return",
        [2, 2063, 10779, 78113, 236769, 236749, 1473, 107, 140, 584, 538, 6605, 236743, 236770, 236787, 107,
         144, 2060, 538, 107, 140, 2060],
    ),
    "eiffel": (
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
        "after the engineer Gustave Eiffel, whose company designed and built the tower. Locally nicknamed "
        "\"La dame de fer\" (French for \"Iron Lady\"), it was constructed from 1887 to 1889 as the "
        "centerpiece of the",
        [2, 818, 94648, 25822, 563, 496, 82326, 236772, 2128, 18928, 18515, 580, 506, 50975, 569, 23156, 528,
         9079, 236764, 7001, 236761, 1030, 563, 7489, 1308, 506, 19042, 211718, 94648, 236764, 5769, 2544,
         5402, 532, 5284, 506, 18515, 236761, 181302, 116551, 623, 4967, 115829, 569, 8808, 236775, 568,
         42150, 573, 623, 51024, 18472, 3959, 625, 691, 14494, 699, 236743, 236770, 236828, 236828, 236832,
         531, 236743, 236770, 236828, 236828, 236819, 618, 506, 110263, 529, 506],
    ),
}
BOS = 2


@pytest.fixture(scope="module")
def model_path() -> str:
    path = os.environ.get("KILN_MODEL_GEMMA3", DEFAULT_MODEL)
    if not os.path.isfile(path):
        pytest.skip(f"gemma3 model not found: {path} (scripts/fetch_models_extra.sh gemma3; KILN_MODEL_GEMMA3)")
    return path


@pytest.fixture(scope="module")
def ref(model_path) -> decoder_ref.DecoderRef:
    r = decoder_ref.DecoderRef(model_path)
    assert r.cfg.arch == "gemma3", f"{model_path} is a {r.cfg.arch!r} model, not gemma3"
    return r


@pytest.fixture(scope="module")
def tok(ref):
    return decoder_ref.detokenizer(ref.f)


@pytest.fixture(scope="module")
def f32_model_path(model_path, ref, tmp_path_factory) -> str:
    kiln_cli.require_subcommand("logits")
    path = tmp_path_factory.mktemp("gemma3_f32") / "model-f32.gguf"
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
    assert ids[0] == BOS, f"prompt {name!r} does not start with BOS"
    got = tok.decode(ids[1:])
    assert got == text, f"prompt {name!r}: ids decode to {got!r}, expected {text!r} (wrong model or bad ids)"


@pytest.mark.parametrize("name", list(PROMPTS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_final_logits(variant, name, runs, tok):
    out, ref_logits = runs(variant, name)
    n = len(PROMPTS[name][1])
    logits_check.check_final_logits(f"gemma3 {variant}/{name}", n, out, ref_logits[n - 1],
                                    VARIANTS[variant]["rel_tol"], tok)


@pytest.mark.parametrize("name", list(PROMPTS))
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_greedy_continuation(variant, name, runs, ref, tok):
    out, ref_logits = runs(variant, name)
    n = len(PROMPTS[name][1])
    logits_check.check_greedy(f"gemma3 {variant}/{name}", n, out, ref_logits[n - 1:], N_GREEDY,
                              VARIANTS[variant]["tie_tol"], logits_check.eog_ids(ref.f), tok,
                              low_confidence=VARIANTS[variant]["low_confidence"])


# Longer than the model's 512-token sliding window, so that the local layers' window cuts
# off the start of the prompt: the eiffel prompt's text eight times after one BOS. Without
# the window the reference's final logits move 0.60 rel L2.
LONG_IDS = [BOS] + PROMPTS["eiffel"][1][1:] * 8
N_LONG_GREEDY = 4


@pytest.fixture(scope="module")
def long_runs(request, model_path, ref):
    """Per variant: kiln's output and the reference's logits over the long prompt + kiln's
    tokens; also the reference's final-position logits with every window removed."""
    cache: dict = {}

    def get(variant: str):
        if variant not in cache:
            path = model_path if variant.startswith("native") else request.getfixturevalue("f32_model_path")
            kv_dtype = VARIANTS[variant]["kv_dtype"]
            out = kiln_cli.kiln_logits(path, LONG_IDS, n=N_LONG_GREEDY, kv_dtype=kv_dtype)
            gen = [int(t) for t in out["generated"]]
            cache[variant] = (out, ref.forward(LONG_IDS + gen[:-1], last_rows=N_LONG_GREEDY,
                                               kv_dtype=kv_dtype))
        return cache[variant]

    return get


def test_long_prompt_exceeds_the_window(ref):
    window = max(l[2] for l in ref.cfg.layers)
    assert 0 < window < len(LONG_IDS), f"window {window}, long prompt {len(LONG_IDS)} tokens"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_sliding_window_long_prompt(variant, long_runs, ref, tok):
    out, tail_logits = long_runs(variant)
    label = f"gemma3 {variant}/long ({len(LONG_IDS)} tokens)"
    logits_check.check_final_logits(label, len(LONG_IDS), out, tail_logits[0], VARIANTS[variant]["rel_tol"], tok)
    logits_check.check_greedy(label, len(LONG_IDS), out, tail_logits, N_LONG_GREEDY, VARIANTS[variant]["tie_tol"],
                              logits_check.eog_ids(ref.f), tok, low_confidence=VARIANTS[variant]["low_confidence"])


def test_sliding_window_matters_at_this_length(long_runs, ref):
    """Without the window the reference's final logits move far beyond the f32 tolerance,
    so test_sliding_window_long_prompt[f32] would catch an engine that ignored it."""
    out, tail_logits = long_runs("f32")
    windowed = tail_logits[0]
    layers = ref.cfg.layers
    try:
        ref.cfg.layers = [(base, scale, 0) for base, scale, _ in layers]
        full = ref.forward(LONG_IDS, last_rows=1, kv_dtype=VARIANTS["f32"]["kv_dtype"])[-1]
    finally:
        ref.cfg.layers = layers
    rel = float(np.linalg.norm(full - windowed) / np.linalg.norm(windowed))
    print(f"\n[gemma3 long] reference without the sliding window: rel L2 {rel:.3e} from the windowed one")
    assert rel > 100 * VARIANTS["f32"]["rel_tol"]
