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


def test_info_on_a_block_count_no_file_could_hold(kiln_bin, tmp_path):
    """Found by fuzz/gguf_model_fuzz: a header claiming ~2^32 layers (and a negative count)
    made `kiln info` size per-layer tables from it and die of std::bad_alloc. It describes
    the file and leaves the KV estimate out."""
    for name, layers in (("huge", 0xFF000002), ("negative", -3)):
        path = tmp_path / f"{name}.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        if layers < 0:
            w.add_int32("llama.block_count", layers)
        else:
            w.add_uint32("llama.block_count", layers)
        w.add_uint32("llama.context_length", 64)
        w.add_uint32("llama.embedding_length", 8)
        w.add_uint32("llama.feed_forward_length", 8)
        w.add_uint32("llama.attention.head_count", 2)
        w.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        r = subprocess.run([kiln_bin, "info", str(path), "--json"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout)
        assert info["tensors"]["count"] == 1
        assert "kv_cache_bytes" not in info["memory"]
