#!/usr/bin/env bash
# Online serving comparison, as in docs/benchmarks.md: the same workloads, driven by
# `kiln bench sweep` with the same seed (identical prompts), against `kiln serve` and against
# llama.cpp on the same GGUF file, one server at a time on loopback with 2 threads each.
#
#   servers:   kiln serve (KILN_BIN)
#              llama-cpp-python's server (PEER_PYTHON, the venv of bench/peer/README.md)
#              llama.cpp's llama-server (LLAMA_SERVER_BIN, optional; bench/peer/README.md)
#   workloads: random         256 input tokens, 64 output tokens
#              shared-prefix  4 prefixes of 512 tokens + a 64-token suffix, 64 output tokens
#   points:    max concurrency 1, 4, 16, 64 (CONCURRENCY), all requests due at once,
#              max(REQS_MIN, REQS_PER_C * C) requests per point
#
# Each point has prompts of its own (seed 0 + C), identical for every server, so no server's
# prefix cache carries one point's prompts into the next.
#
# Every request asks for exactly 64 tokens: --ignore-eos sends "ignore_eos": true (kiln,
# llama-server) and "min_tokens": 64 (kiln, llama-cpp-python). llama-cpp-python sends no
# `usage` in streams, so its output tokens are counted by re-tokenizing the streamed text
# with --tokenizer; the table shows the mean output tokens per request of each server so any
# mismatch is visible, and compares per-token figures (tok/s, TPOT).
#
# Writes OUT_DIR/<server>-<workload>.json ({"runs": [...]}, one report per point, as
# `kiln bench sweep --json` does), OUT_DIR/<server>-<workload>.csv, the servers' logs, and
# OUT_DIR/summary.md (the machine's load, then kiln vs each peer); summary.md is also printed.
# It installs nothing.
#
# Usage: bench/serve_compare.sh OUT_DIR [MODEL]
#   env: KILN_BIN (default build/release/kiln), PEER_PYTHON (default
#        ~/.cache/kiln/peer-venv/bin/python; skipped if absent), LLAMA_SERVER_BIN (optional),
#        CONCURRENCY (1,4,16,64), REQS_MIN (8), REQS_PER_C (2), WORKLOADS ("random shared"),
#        ENDPOINT (completions), THREADS (2), SERVERS (default: every one available)
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:?usage: bench/serve_compare.sh OUT_DIR [MODEL]}"
model="${2:-$(scripts/fetch_model.sh)}"
kiln="${KILN_BIN:-build/release/kiln}"
peer_python="${PEER_PYTHON:-$HOME/.cache/kiln/peer-venv/bin/python}"
llama_server="${LLAMA_SERVER_BIN:-}"
concurrency="${CONCURRENCY:-1,4,16,64}"
reqs_min="${REQS_MIN:-8}"
reqs_per_c="${REQS_PER_C:-2}"
workloads="${WORKLOADS:-random shared}"
endpoint="${ENDPOINT:-completions}"
threads="${THREADS:-2}"
name=smollm2
seed=0
max_c=$(tr ',' '\n' <<<"$concurrency" | sort -n | tail -1)

mkdir -p "$out"
out="$(cd "$out" && pwd)"
kiln="$(realpath "$kiln")"
[ -x "$kiln" ] || { echo "error: KILN_BIN $kiln is not an executable" >&2; exit 1; }
[ -f "$model" ] || { echo "error: model $model not found" >&2; exit 1; }

servers="${SERVERS:-}"
if [ -z "$servers" ]; then
  servers="kiln"
  if [ -x "$peer_python" ] && "$peer_python" -c 'import llama_cpp.server, uvicorn' 2>/dev/null; then
    servers+=" llama-cpp-python"
  else
    echo "# llama-cpp-python's server is not usable from $peer_python (see bench/peer/README.md)" >&2
  fi
  if [ -n "$llama_server" ] && [ -x "$llama_server" ]; then
    servers+=" llama-server"
  fi
fi

# Short labels keep the human tables narrow.
short_name() { case "$1" in llama-cpp-python) echo lcpp-py ;; llama-server) echo llama-srv ;; *) echo "$1" ;; esac; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pid=""
stop_server() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=""
}
# A signal must end the whole run: bash runs a trap only once the foreground command ends,
# so the trap stops the server (and with it the bench) and then exits.
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# start_server SERVER PORT LOG: starts it in the background (sets $pid), waits until it answers.
start_server() {
  local server=$1 port=$2 log=$3 ready
  case "$server" in
    kiln)
      "$kiln" serve "$model" --host 127.0.0.1 --port "$port" --threads "$threads" \
        --served-model-name "$name" --max-num-seqs "$(( max_c > 64 ? max_c : 64 ))" >"$log" 2>&1 &
      ready=/health ;;
    llama-cpp-python)
      # --interrupt_requests False: by default a request arriving while another streams
      # makes the running one end early with [DONE] (a truncated "success").
      "$peer_python" -m llama_cpp.server --model "$model" --model_alias "$name" \
        --host 127.0.0.1 --port "$port" --n_threads "$threads" --n_threads_batch "$threads" \
        --n_ctx 4096 --n_batch 512 --interrupt_requests False --verbose False >"$log" 2>&1 &
      ready=/v1/models ;;
    llama-server)
      # One slot per client of the largest point, 1024 tokens of context each.
      "$llama_server" -m "$model" --alias "$name" --host 127.0.0.1 --port "$port" \
        -t "$threads" -tb "$threads" -np "$max_c" -c "$(( max_c * 1024 ))" -b 512 \
        --cont-batching >"$log" 2>&1 &
      ready=/health ;;
  esac
  pid=$!
  for _ in $(seq 1 600); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port$ready"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "error: $server exited; see $log" >&2; tail -20 "$log" >&2; return 1; }
    sleep 0.2
  done
  echo "error: $server did not become ready in 120 s; see $log" >&2
  return 1
}

workload_flags() {
  case "$1" in
    random) echo "--dataset random --input-len 256 --output-len 64" ;;
    shared) echo "--dataset shared-prefix --num-prefixes 4 --prefix-len 512 --input-len 64 --output-len 64" ;;
    *) echo "error: unknown workload $1" >&2; return 1 ;;
  esac
}

echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores, load $(load) at start" | tee "$out/load.txt"
echo "# model $model; servers: $servers; concurrency $concurrency; endpoint $endpoint" | tee -a "$out/load.txt"

for server in $servers; do
  port=$(free_port)
  echo "# $server on port $port, load $(load)" | tee -a "$out/load.txt"
  start_server "$server" "$port" "$out/$server.log"
  for w in $workloads; do
    flags=$(workload_flags "$w")
    parts=()
    for c in ${concurrency//,/ }; do
      n=$(( reqs_per_c * c > reqs_min ? reqs_per_c * c : reqs_min ))
      part="$out/$server-$w-c$c.json"
      echo "#   $w C=$c N=$n, load $(load)" | tee -a "$out/load.txt"
      # shellcheck disable=SC2086
      "$kiln" bench sweep --base-url "http://127.0.0.1:$port" --model "$name" \
        --endpoint "$endpoint" $flags --tokenizer "$model" --ignore-eos --seed "$((seed + c))" \
        --request-rate inf --concurrency "$c" --num-requests "$n" \
        --label "$(short_name "$server") $w" --no-progress --json "$part" >"$out/$server-$w-c$c.txt" 2>&1 \
        || echo "#   (kiln bench sweep exited $? for $server $w C=$c; see $out/$server-$w-c$c.txt)" | tee -a "$out/load.txt"
      [ -s "$part" ] && parts+=("$part")
    done
    python3 - "$out/$server-$w" "${parts[@]}" <<'EOF'
import csv, json, sys
stem, parts = sys.argv[1], sys.argv[2:]
runs = [r for p in parts for r in json.load(open(p))["runs"]]
json.dump({"runs": runs}, open(stem + ".json", "w"), indent=1)
cols = ["max_concurrency", "num_requests", "completed", "failed", "duration_s",
        "output_throughput", "request_throughput", "ttft_p50_s", "tpot_p50_s", "e2e_p50_s",
        "mean_output_tokens"]
with open(stem + ".csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(cols)
    for r in runs:
        w.writerow([r["config"].get("max_concurrency"), r["num_requests"], r["completed"],
                    r["failed"], r["duration_s"], r["output_throughput"],
                    r["request_throughput"], r["ttft_s"]["median"], r["tpot_s"]["median"],
                    r["e2e_s"]["median"], r["output_tokens"] / max(1, r["completed"])])
EOF
    rm -f "${parts[@]}"
  done
  stop_server
done
echo "# load $(load) at the end" | tee -a "$out/load.txt"

# shellcheck disable=SC2086  # $servers is a list of words
python3 - "$out" $servers <<'EOF' | tee "$out/summary.md"
import json, os, sys
out, servers = sys.argv[1], sys.argv[2:]
print("# Online serving: kiln vs llama.cpp\n")
print("```")
print(open(os.path.join(out, "load.txt")).read().rstrip())
print("```\n")
print("Ratios are arranged so that > 1 means kiln is better: throughput kiln/peer, "
      "latency peer/kiln. `out/req` is the mean output tokens per successful request.\n")

def load(server, w):
    p = os.path.join(out, f"{server}-{w}.json")
    if not os.path.exists(p):
        return {}
    return {r["config"].get("max_concurrency"): r for r in json.load(open(p))["runs"]}

def fmt(x, scale=1.0, digits=1):
    return "–" if x is None else f"{x * scale:.{digits}f}"

def ratio(a, b):
    return "–" if not a or not b else f"{a / b:.2f}"

for w in ("random", "shared"):
    kiln = load("kiln", w)
    if not kiln:
        continue
    for peer in servers:
        if peer == "kiln":
            continue
        other = load(peer, w)
        print(f"## {w}: kiln vs {peer}\n")
        print("| C | kiln tok/s | peer tok/s | ratio | kiln TTFT p50 ms | peer TTFT p50 ms | ratio "
              "| kiln TPOT p50 ms | peer TPOT p50 ms | ratio | ok kiln/peer | out/req kiln/peer |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in sorted(kiln):
            k, p = kiln[c], other.get(c)
            kt, pt = k["output_throughput"], p and p["output_throughput"]
            kf, pf = k["ttft_s"]["median"], p and p["ttft_s"]["median"]
            kp, pp = k["tpot_s"]["median"], p and p["tpot_s"]["median"]
            okp = f"{p['completed']}/{p['num_requests']}" if p else "–"
            outp = fmt(p["output_tokens"] / max(1, p["completed"])) if p else "–"
            print(f"| {c} | {fmt(kt)} | {fmt(pt)} | {ratio(kt, pt)} | {fmt(kf, 1e3)} | "
                  f"{fmt(pf, 1e3)} | {ratio(pf, kf)} | {fmt(kp, 1e3, 2)} | {fmt(pp, 1e3, 2)} | "
                  f"{ratio(pp, kp)} | {k['completed']}/{k['num_requests']} · {okp} | "
                  f"{fmt(k['output_tokens'] / max(1, k['completed']))} · {outp} |")
        print()
EOF
