#!/usr/bin/env python3
"""kiln behind vllm-router: `kiln bench serve` with a shared-prefix workload through the router
in front of two kiln replicas, per routing policy (round_robin, cache_aware, kv_aware), and
against one replica alone; reports throughput and the replicas' prefix-cache hit rate (hits /
queried prompt tokens, from their /metrics) for each. Fresh replicas for every run, so each
starts with an empty cache.

The default workload is the one where cache-aware routing pays off: 13 prefixes taken in
turn (the dataset's request i uses prefix i % 13), more than one replica's cache holds (about
6 beside the running requests, in 96 MiB) but not more than two hold. An odd count, so that
round_robin does not partition the prefixes between two replicas by accident.

  bench/router/policy_hits.py --kiln build/release/kiln --model MODEL.gguf [--requests 104]

Needs `vllm-router` on PATH (pip install vllm-router==0.1.17).
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "e2e"))
from kiln_server import KilnServer, metric, metric_values  # noqa: E402
from test_router import Router, free_port  # noqa: E402

NAME = "m"


def hits(workers):
    q = h = 0
    for w in workers:
        v = metric_values(w.get("/metrics").text)
        q += metric(v, "kiln:prefix_cache_queries_total")
        h += metric(v, "kiln:prefix_cache_hits_total")
    return q, h


def run(a, policy, tmp):
    workers = []
    for i in range(1 if policy == "single" else 2):
        events = f"tcp://127.0.0.1:{free_port()}"
        config = {"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": events}
        w = KilnServer(a.kiln, a.model, os.path.join(tmp, f"{policy}-w{i}.log"),
                       extra_args=["--threads", str(a.threads), "--kv-cache-memory", a.kv_cache_memory,
                                   "--max-model-len", "2048", "--served-model-name", NAME,
                                   "--kv-events-config", json.dumps(config)])
        w.kv_events = events
        workers.append(w)
    router = None
    try:
        url = workers[0].base_url
        if policy != "single":
            extra = []
            if policy == "kv_aware":
                for w in workers:
                    extra += ["--kv-event-source", f"{w.base_url}={w.kv_events}"]
                extra += ["--kv-event-block-size", "16", "--kv-event-model", NAME]
            router = Router(policy, workers, os.path.join(tmp, f"router-{policy}.log"), extra)
            url = router.base_url
        q0, h0 = hits(workers)
        report = os.path.join(tmp, f"{policy}.json")
        cmd = (f"{a.kiln} bench serve --base-url {url} --model {NAME} --dataset shared-prefix "
               f"--num-prefixes {a.prefixes} --prefix-len {a.prefix_len} --input-len 32 "
               f"--output-len {a.output_len} --num-requests {a.requests} "
               f"--max-concurrency {a.concurrency} --json {report} > /dev/null 2>&1")
        assert os.system(cmd) == 0, cmd
        q1, h1 = hits(workers)
        r = json.load(open(report))
        return {"policy": policy, "replicas": len(workers),
                "output_tok_s": round(r.get("output_throughput", 0), 1),
                "requests_ok": r.get("completed"),
                "prefix_hit_rate": round((h1 - h0) / max(1, q1 - q0), 3)}
    finally:
        if router:
            router.stop()
        for w in workers:
            w.terminate()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kiln", default="build/release/kiln")
    p.add_argument("--model", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--requests", type=int, default=104)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--prefixes", type=int, default=13)
    p.add_argument("--prefix-len", type=int, default=400)
    p.add_argument("--output-len", type=int, default=16)
    p.add_argument("--policies", default="single,round_robin,cache_aware,kv_aware")
    p.add_argument("--kv-cache-memory", default="96MiB",
                   help="per replica: small enough that one replica cannot keep every prefix")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for policy in a.policies.split(","):
            print(json.dumps(run(a, policy, tmp)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
