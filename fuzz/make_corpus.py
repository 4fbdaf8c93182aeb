#!/usr/bin/env python3
"""Writes the fuzz targets' generated seed corpora into OUTDIR/<target>/ (scripts/fuzz.sh
adds the committed seeds in fuzz/corpus/ and the regressions in fuzz/regressions/):

  gguf_model_fuzz   tiny models of each architecture (llama, qwen2, qwen3, gemma3) with a
                    vocabulary and a chat template, F32/F16 weights, written with the
                    `gguf` package (the reference writer, independent of kiln's)
  jinja_fuzz        the chat templates of tests/reference/chat_templates/
  structured_fuzz   the JSON Schemas, regexes and grammars of tests/data/structured/
                    (a selector byte in front: 0 schema, 1 regex, 2 GBNF, 3 Lark)

Usage: fuzz/make_corpus.py OUTDIR
"""
import json
import pathlib
import sys

import numpy as np
import gguf

ROOT = pathlib.Path(__file__).resolve().parent.parent


def byte_level(b):
    # GPT-2's printable spelling of a byte.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    if b in printable:
        return chr(b)
    return chr(256 + sorted(set(range(256)) - set(printable)).index(b))


def add_vocab(w, kind):
    if kind == "gpt2":
        tokens = [byte_level(b) for b in range(256)] + ["he", "Ġt", "<|im_start|>", "<|im_end|>"]
        types = [1] * 258 + [3, 3]
        w.add_string("tokenizer.ggml.model", "gpt2")
        w.add_string("tokenizer.ggml.pre", "smollm")
        w.add_array("tokenizer.ggml.merges", ["h e", "Ġ t"])
        w.add_uint32("tokenizer.ggml.bos_token_id", 258)
        w.add_uint32("tokenizer.ggml.eos_token_id", 259)
    else:
        tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["▁", "h", "e", "▁he"]
        types = [2, 3, 3] + [6] * 256 + [1] * 4
        w.add_string("tokenizer.ggml.model", "llama")
        w.add_array("tokenizer.ggml.scores", [0.0] * 259 + [-1.0, -2.0, -3.0, -4.0])
        w.add_uint32("tokenizer.ggml.bos_token_id", 1)
        w.add_uint32("tokenizer.ggml.eos_token_id", 2)
        w.add_uint32("tokenizer.ggml.unknown_token_id", 0)
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_string("tokenizer.chat_template",
                 "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    return len(tokens)


def tiny_model(path, arch, vocab_kind, dtype, d=8, ffn=12, heads=2, kv_heads=1, head_dim=4,
               layers=1, qkv_bias=False, qk_norm=False, post_norms=False, sliding_window=0):
    rng = np.random.default_rng(7)
    w = gguf.GGUFWriter(str(path), arch)
    vocab = add_vocab(w, vocab_kind)
    w.add_uint32(f"{arch}.block_count", layers)
    w.add_uint32(f"{arch}.context_length", 64)
    w.add_uint32(f"{arch}.embedding_length", d)
    w.add_uint32(f"{arch}.feed_forward_length", ffn)
    w.add_uint32(f"{arch}.attention.head_count", heads)
    w.add_uint32(f"{arch}.attention.head_count_kv", kv_heads)
    w.add_uint32(f"{arch}.attention.key_length", head_dim)
    w.add_uint32(f"{arch}.attention.value_length", head_dim)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    w.add_float32(f"{arch}.rope.freq_base", 10000.0)
    if sliding_window:
        w.add_uint32(f"{arch}.attention.sliding_window", sliding_window)

    def add(name, ne, mean=0.0):
        # GGUF lists dimensions innermost first; numpy wants them outermost first.
        a = (mean + 0.2 * rng.standard_normal(tuple(reversed(ne)))).astype(np.float32)
        if dtype == "f16" and len(ne) == 2:
            a = a.astype(np.float16)
        w.add_tensor(name, a)

    q, kv = heads * head_dim, kv_heads * head_dim
    add("token_embd.weight", [d, vocab])
    for i in range(layers):
        b = f"blk.{i}."
        add(b + "attn_norm.weight", [d], 1.0)
        add(b + "attn_q.weight", [d, q])
        add(b + "attn_k.weight", [d, kv])
        add(b + "attn_v.weight", [d, kv])
        if qkv_bias:
            add(b + "attn_q.bias", [q])
            add(b + "attn_k.bias", [kv])
            add(b + "attn_v.bias", [kv])
        if qk_norm:
            add(b + "attn_q_norm.weight", [head_dim], 1.0)
            add(b + "attn_k_norm.weight", [head_dim], 1.0)
        add(b + "attn_output.weight", [q, d])
        add(b + "ffn_norm.weight", [d], 1.0)
        add(b + "ffn_gate.weight", [d, ffn])
        add(b + "ffn_up.weight", [d, ffn])
        add(b + "ffn_down.weight", [ffn, d])
        if post_norms:
            add(b + "post_attention_norm.weight", [d], 1.0)
            add(b + "post_ffw_norm.weight", [d], 1.0)
    add("output_norm.weight", [d], 1.0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = pathlib.Path(sys.argv[1])
    g = out / "gguf_model_fuzz"
    g.mkdir(parents=True, exist_ok=True)
    tiny_model(g / "llama.gguf", "llama", "gpt2", "f32")
    tiny_model(g / "qwen2.gguf", "qwen2", "gpt2", "f16", qkv_bias=True)
    tiny_model(g / "qwen3.gguf", "qwen3", "llama", "f32", qk_norm=True)
    tiny_model(g / "gemma3.gguf", "gemma3", "llama", "f32", head_dim=8, qk_norm=True,
               post_norms=True, sliding_window=4, layers=2)

    j = out / "jinja_fuzz"
    j.mkdir(parents=True, exist_ok=True)
    for t in sorted((ROOT / "tests/reference/chat_templates").rglob("*.jinja")):
        (j / t.name).write_bytes(t.read_bytes())

    s = out / "structured_fuzz"
    s.mkdir(parents=True, exist_ok=True)
    data = ROOT / "tests/data/structured"
    for name, selector, field in (("schemas.jsonl", b"\x00", "schema"),
                                  ("regexes.jsonl", b"\x01", "regex"),
                                  ("grammars.jsonl", b"\x02", "gbnf"),
                                  ("grammars.jsonl", b"\x03", "grammar")):
        for i, line in enumerate((data / name).read_text().splitlines()):
            item = json.loads(line) if line.strip() else {}
            if field not in item:
                continue
            value = item[field]
            text = value if isinstance(value, str) else json.dumps(value)
            (s / f"{field}-{i:04d}").write_bytes(selector + b"\x07" + text.encode())


if __name__ == "__main__":
    main()
