# `kiln serve`'s operational endpoints: /health, /metrics (vLLM's names with the kiln:
# prefix, parsed by prometheus_client, counters moving), /tokenize, /detokenize and
# /openapi.json.
import json
import os

import httpx

from kiln_server import metric, metric_values

GAUGES = ["kiln:num_requests_running", "kiln:num_requests_waiting", "kiln:kv_cache_usage_perc"]
COUNTERS = ["kiln:prompt_tokens_total", "kiln:generation_tokens_total",
            "kiln:num_preemptions_total", "kiln:prefix_cache_queries_total",
            "kiln:prefix_cache_hits_total"]
HISTOGRAMS = ["kiln:time_to_first_token_seconds", "kiln:inter_token_latency_seconds",
              "kiln:e2e_request_latency_seconds", "kiln:request_queue_time_seconds",
              "kiln:time_per_output_token_seconds", "kiln:request_time_per_output_token_seconds"]


def test_health(server):
    r = httpx.get(server.base_url + "/health")
    assert r.status_code == 200


def test_metrics_parse_and_move(server):
    from prometheus_client.parser import text_string_to_metric_families
    server.wait_idle()  # nothing else may move the counters meanwhile
    r = httpx.get(server.base_url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    for name in GAUGES:
        assert families[name].type == "gauge"
    for name in COUNTERS + ["kiln:request_success_total"]:
        # prometheus_client names a counter family without its _total suffix.
        assert families[name.removesuffix("_total")].type == "counter", name
    for name in HISTOGRAMS:
        assert families[name].type == "histogram"
    for f in families.values():
        for s in f.samples:
            assert s.labels["model_name"] == "smollm2"

    before = metric_values(r.text)
    out = server.openai().completions.create(model="smollm2", prompt="Once upon a time",
                                             max_tokens=5, temperature=0)
    assert out.usage.completion_tokens == 5
    after = metric_values(httpx.get(server.base_url + "/metrics").text)
    def grew(name, by=None, **labels):
        delta = metric(after, name, **labels) - metric(before, name, **labels)
        assert delta > 0 if by is None else delta == by, (name, delta)
    grew("kiln:prompt_tokens_total", by=out.usage.prompt_tokens)
    grew("kiln:generation_tokens_total", by=5)
    grew("kiln:request_success_total", by=1, finished_reason="length")
    grew("kiln:prefix_cache_queries_total")
    for h in ["kiln:time_to_first_token_seconds", "kiln:e2e_request_latency_seconds",
              "kiln:request_queue_time_seconds", "kiln:request_time_per_output_token_seconds"]:
        grew(h + "_count", by=1)
    grew("kiln:inter_token_latency_seconds_count", by=4)
    assert metric(after, "kiln:num_requests_running") == 0
    assert 0 <= metric(after, "kiln:kv_cache_usage_perc") <= 1


def test_metrics_under_vllm_names(start_server):
    # --metrics-prefix vllm: what vLLM dashboards and the Inference Extension read.
    from prometheus_client.parser import text_string_to_metric_families
    s = start_server("--metrics-prefix", "vllm", "--max-num-seqs", "2")
    out = s.openai().completions.create(model="smollm2", prompt="Hi", max_tokens=3)
    assert out.usage.completion_tokens >= 1
    text = s.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in GAUGES + HISTOGRAMS:
        assert families[name.replace("kiln:", "vllm:")], name
    assert metric(metric_values(text), "vllm:generation_tokens_total") == \
        out.usage.completion_tokens
    assert not any(name.startswith("kiln:") for name in families)


def test_model_memory_counts_a_draft_model(start_server, model_path):
    # Weights and KV pool; with --speculative-config's draft model, its weights and its
    # sessions' KV too (SmolLM2 drafting for itself: 2 slots of 512 tokens, 23,040 bytes of
    # F16 K and V per token: 30 layers x 3 KV heads x 64 x 2 bytes x 2).
    size, per_token = os.path.getsize(model_path), 23040
    kv = 64 * 2 ** 20 // (16 * per_token) * 16 * per_token  # whole blocks of 16 tokens
    base = ["--kv-cache-memory", "64MiB", "--max-model-len", "512"]
    plain = start_server(*base)
    assert metric(metric_values(plain.get("/metrics").text), "kiln:model_memory_bytes",
                  model_name="smollm2") == size + kv
    draft = json.dumps({"model": model_path, "num_speculative_tokens": 2,
                        "disable_by_batch_size": 2})
    spec = start_server(*base, "--speculative-config", draft)
    assert metric(metric_values(spec.get("/metrics").text), "kiln:model_memory_bytes",
                  model_name="smollm2") == size + kv + size + 2 * 512 * per_token


def test_tokenize_detokenize_round_trip(server):
    r = server.post("/tokenize", {"model": "smollm2", "prompt": "Hello world",
                                  "return_token_strs": True}).json()
    assert r["count"] == len(r["tokens"]) > 0 and r["max_model_len"] == 2048
    assert "".join(r["token_strs"]).endswith("Hello world")
    text = server.post("/detokenize", {"tokens": r["tokens"]}).json()["prompt"]
    assert text.endswith("Hello world")
    chat = server.post("/tokenize", {"messages": [{"role": "user", "content": "Hi"}]}).json()
    assert chat["count"] > r["count"]
    assert server.post("/detokenize", {"tokens": [10 ** 9]}).status_code == 400
    assert server.post("/tokenize", {"model": "other", "prompt": "x"}).status_code == 404


def test_openapi_lists_every_route(server):
    doc = httpx.get(server.base_url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ["/v1/chat/completions", "/v1/completions", "/v1/messages",
                 "/v1/messages/count_tokens", "/v1/models", "/v1/models/{id}", "/tokenize",
                 "/detokenize", "/health", "/metrics", "/openapi.json", "/v1/responses",
                 "/v1/responses/{id}", "/mcp", "/v1/chat/completions/render",
                 "/v1/completions/render", "/get_load", "/get_server_info",
                 "/get_model_info", "/health_generate", "/version"]:
        assert path in doc["paths"], path
