#!/usr/bin/env python3
"""Cold start of `kiln serve`: time from the command to ready (/health 200), and from a
request for a model that is not loaded to its first token, with the file's pages in the
page cache (warm) and evicted from it (cold), beside the disk's read speed for the file.

The cache is emptied for one file with posix_fadvise(POSIX_FADV_DONTNEED), which needs no
privileges (its clean pages are dropped). Usage:

  bench/cold_start.py --kiln build/release/kiln --runs 3 MODEL.gguf [MODEL.gguf ...]

Each model is timed as the server's first model (start to ready) and as a second model
loaded on request (request to first token, through Ollama's streaming /api/generate, whose
final line also reports the load_duration kiln measured).
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import httpx


def drop_from_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_speed(path):
    """Seconds and MB/s to read the whole file from disk (after dropping it from the cache)."""
    drop_from_page_cache(path)
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass
    seconds = time.perf_counter() - start
    return seconds, os.path.getsize(path) / seconds / 1e6


def start_server(kiln, models, threads):
    args = [kiln, "serve", *models, "--port", "0", "--threads", str(threads),
            "--kv-cache-memory", "256MiB", "--max-model-len", "4096"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = None
    for line in proc.stdout:
        m = re.search(r"listening on http://[^:]+:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        raise RuntimeError("kiln serve did not start")
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("kiln serve exited")
        time.sleep(0.005)
    ready = time.perf_counter() - t0
    return proc, url, ready


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def first_token_of_unloaded(url, name):
    """Seconds from the request to its first streamed token, and kiln's load_duration."""
    t0 = time.perf_counter()
    first = None
    load = None
    with httpx.stream("POST", url + "/api/generate", timeout=300,
                      json={"model": name, "prompt": "Hello", "raw": True,
                            "options": {"num_predict": 4, "temperature": 0}}) as r:
        for line in r.iter_lines():
            obj = json.loads(line)
            if first is None and obj.get("response"):
                first = time.perf_counter() - t0
            if obj.get("done"):
                load = obj["load_duration"] / 1e9
    return first, load


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kiln", default="build/release/kiln")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--first", help="the model a server loads at start while the timed one "
                   "loads on request (default: the smallest model given)")
    p.add_argument("models", nargs="+")
    a = p.parse_args()
    first = a.first or min(a.models, key=os.path.getsize)
    rows = []
    for model in a.models:
        name = os.path.splitext(os.path.basename(model))[0]
        size = os.path.getsize(model)
        read_s, mbps = read_speed(model)
        row = {"model": name, "size_mb": round(size / 1e6, 1), "disk_read_s": round(read_s, 3),
               "disk_mb_per_s": round(mbps)}
        for cache in ("warm", "cold"):
            ready, ttft, load = [], [], []
            for _ in range(a.runs):
                if cache == "warm":
                    with open(model, "rb") as f:  # make sure every page is cached
                        while f.read(8 << 20):
                            pass
                else:
                    drop_from_page_cache(model)
                proc, url, seconds = start_server(a.kiln, [model], a.threads)
                ready.append(seconds)
                stop(proc)
                if model == first:
                    continue
                proc, url, _ = start_server(a.kiln, [first, model], a.threads)
                if cache == "cold":
                    drop_from_page_cache(model)
                t, l = first_token_of_unloaded(url, name)
                ttft.append(t)
                load.append(l)
                stop(proc)
            row[f"{cache}_ready_s"] = round(statistics.median(ready), 3)
            if ttft:
                row[f"{cache}_unloaded_first_token_s"] = round(statistics.median(ttft), 3)
                row[f"{cache}_load_s"] = round(statistics.median(load), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
