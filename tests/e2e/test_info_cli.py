# `kiln info --json` against what gguf-py reads from the same file.
import json
import subprocess

import gguf
import numpy as np


def test_info_json_agrees_with_gguf_py(kiln_bin, model_path):
    r = subprocess.run([kiln_bin, "info", model_path, "--json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    reader = gguf.GGUFReader(model_path)
    field = lambda key: reader.fields[key].contents()
    assert info["architecture"] == field("general.architecture")
    assert info["tensors"]["count"] == len(reader.tensors)
    params = sum(int(np.prod(t.shape)) for t in reader.tensors)
    assert info["tensors"]["parameters"] == params
    # K and V rows in kiln's KV storage (f16 by default) for every layer and position.
    layers, ctx = field("llama.block_count"), field("llama.context_length")
    heads, kv_heads = field("llama.attention.head_count"), field("llama.attention.head_count_kv")
    head_dim = field("llama.embedding_length") // heads
    assert info["memory"]["kv_cache_dtype"] == "f16"
    assert info["memory"]["kv_cache_bytes"] == 2 * layers * ctx * kv_heads * head_dim * 2
    for dtype, size in (("f32", 4), ("bf16", 2)):
        r = subprocess.run([kiln_bin, "info", model_path, "--json", "--kv-cache-dtype", dtype],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        mem = json.loads(r.stdout)["memory"]
        assert mem["kv_cache_dtype"] == dtype
        assert mem["kv_cache_bytes"] == 2 * layers * ctx * kv_heads * head_dim * size


def test_info_on_a_bad_file_is_one_line(kiln_bin, tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 16)
    r = subprocess.run([kiln_bin, "info", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and str(bad) in r.stderr
