# `kiln bench serve` / `kiln bench sweep`, the load generator for OpenAI-compatible servers,
# end to end: every dataset kind against a live `kiln serve` on both endpoints, the
# concurrency cap and the arrival rate, the report checked against the server's own
# /metrics and against percentiles recomputed with NumPy, a fake server that fails in every
# way the contract names (reported, never crashed on), usage errors, and the sweep's CSV,
# SVG and JSON outputs. Small prompts and outputs throughout, so the file runs in well under
# a minute on 2 cores.
import csv
import json
import math
import socket
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from fake_openai_server import (CLOSED, GARBAGE, GOOD, GOOD_TOKENS, HANG, HTTP_429, HTTP_500,
                                RATE_LIMIT_MESSAGE, SERVER_ERROR_MESSAGE, FakeOpenAIServer)
from kiln_server import KilnServer, metric, metric_values

MODEL_NAME = "smollm2"
STAT_KEYS = {"mean", "median", "p90", "p99", "min", "max"}


@pytest.fixture(scope="module")
def bench_server(kiln_bin, model_path, tmp_path_factory):
    """A `kiln serve` of this module's own, so the /metrics deltas see only our requests."""
    s = KilnServer(kiln_bin, model_path, tmp_path_factory.mktemp("bench") / "serve.log",
                   extra_args=["--served-model-name", MODEL_NAME])
    yield s
    assert s.terminate() == 0, s.log()


def run_bench(kiln_bin, *args, json_path=None, timeout=120, sub="serve"):
    """Runs `kiln bench SUB ARGS --no-progress [--json F]`; returns (CompletedProcess, report)."""
    cmd = [kiln_bin, "bench", sub, *map(str, args), "--no-progress"]
    if json_path is not None:
        cmd += ["--json", str(json_path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    report = None
    if json_path is not None and json_path.exists() and json_path.stat().st_size:
        report = json.loads(json_path.read_text())
    return r, report


def target(server, endpoint="chat"):
    return ["--base-url", server.base_url, "--model", MODEL_NAME, "--endpoint", endpoint]


def ok_report(r, report, n):
    """Asserts a clean run of n requests and returns its successful request records."""
    assert r.returncode == 0, r.stdout + r.stderr
    assert report is not None, r.stdout + r.stderr
    assert report["num_requests"] == n, report
    assert report["completed"] == n and report["failed"] == 0, report["errors"]
    assert report["errors"] == {}
    assert len(report["requests"]) == n
    assert all(q["error"] is None for q in report["requests"])
    for key in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        assert set(report[key]) >= STAT_KEYS, key
    assert report["duration_s"] > 0 and report["output_throughput"] > 0
    return report["requests"]


def scrape(server):
    return metric_values(server.get("/metrics").text)


# --- datasets and endpoints ----------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_random_dataset_both_endpoints(kiln_bin, model_path, bench_server, tmp_path, endpoint):
    n, input_len, output_len = 8, 48, 12
    r, report = run_bench(kiln_bin, *target(bench_server, endpoint), "--dataset", "random",
                          "--tokenizer", model_path, "--input-len", input_len,
                          "--output-len", output_len, "--num-requests", n,
                          "--max-concurrency", 4, "--ignore-eos", "--seed", 1,
                          json_path=tmp_path / "r.json")
    reqs = ok_report(r, report, n)
    # --ignore-eos: kiln honours min_tokens, so every request generates exactly output_len.
    assert [q["output_tokens"] for q in reqs] == [output_len] * n
    assert report["output_tokens"] == n * output_len
    if endpoint == "completions":
        # --tokenizer: exact prompt lengths; the completions route adds no template.
        assert [q["input_tokens"] for q in reqs] == [input_len] * n
    else:
        # The chat template wraps the prompt (SmolLM2 adds a default system turn).
        assert all(q["input_tokens"] > input_len for q in reqs)
    assert report["input_tokens"] == sum(q["input_tokens"] for q in reqs)
    cfg = report["config"]
    assert cfg["endpoint"] == endpoint and cfg["input_len"] == input_len
    assert "TTFT" in r.stdout  # the human summary table


def test_shared_prefix_hits_the_prefix_cache(kiln_bin, model_path, bench_server, tmp_path):
    n, groups, prefix_len, suffix_len = 8, 2, 64, 16
    bench_server.wait_idle()
    before = scrape(bench_server)
    # One request at a time, so every request after the first of its group finds its
    # group's prefix cached (concurrent first requests could all miss).
    r, report = run_bench(kiln_bin, *target(bench_server, "completions"),
                          "--dataset", "shared-prefix", "--tokenizer", model_path,
                          "--num-prefixes", groups, "--prefix-len", prefix_len,
                          "--input-len", suffix_len, "--output-len", 4, "--num-requests", n,
                          "--max-concurrency", 1, "--warmup-requests", 0, "--ignore-eos",
                          json_path=tmp_path / "sp.json")
    reqs = ok_report(r, report, n)
    bench_server.wait_idle()
    after = scrape(bench_server)
    hits = (metric(after, "kiln:prefix_cache_hits_total")
            - metric(before, "kiln:prefix_cache_hits_total"))
    # Of the n requests at most `groups` are their group's first; each other one reuses at
    # least the prefix's whole 16-token blocks (64 tokens = 4 blocks; keep one block slack for
    # a boundary token that merges differently).
    assert hits >= (n - groups) * (prefix_len - 16), hits
    # --tokenizer: exact prompt lengths, a P-token prefix plus an --input-len suffix.
    assert [q["input_tokens"] for q in reqs] == [prefix_len + suffix_len] * n


def test_jsonl_dataset(kiln_bin, bench_server, tmp_path):
    lines = [{"prompt": "Tell me about the sea.", "output_len": 5},
             {"prompt": "Name three colours.", "output_len": 9},
             {"prompt": "Count to five."},                       # takes --output-len
             {"prompt": "Write a haiku about snow.", "output_len": 3}]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r, report = run_bench(kiln_bin, *target(bench_server), "--dataset", path,
                          "--output-len", 7, "--num-requests", len(lines), "--ignore-eos",
                          "--max-concurrency", 2, json_path=tmp_path / "j.json")
    reqs = ok_report(r, report, len(lines))
    wanted = sorted(x.get("output_len", 7) for x in lines)
    assert sorted(q["output_tokens"] for q in reqs) == wanted


@pytest.mark.parametrize("form", ["json", "jsonl"])
def test_sharegpt_dataset(kiln_bin, bench_server, tmp_path, form):
    # Without --tokenizer the output length is the gpt turn's characters / 4; the answers
    # here are multiples of 4 characters long, so rounding cannot matter.
    convs = [{"conversations": [{"from": "human", "value": "What is rain?"},
                                {"from": "gpt", "value": "x" * 24},
                                {"from": "human", "value": "And snow?"},
                                {"from": "gpt", "value": "y" * 400}]},
             {"conversations": [{"from": "human", "value": "Say something kind."},
                                {"from": "gpt", "value": "z" * 40}]},
             {"conversations": [{"from": "human", "value": "Describe a cat."},
                                {"from": "gpt", "value": "w" * 16}]}]
    path = tmp_path / f"sharegpt.{form}"
    if form == "json":
        path.write_text(json.dumps(convs))
    else:
        path.write_text("".join(json.dumps(c) + "\n" for c in convs))
    r, report = run_bench(kiln_bin, *target(bench_server), "--dataset", path,
                          "--num-requests", len(convs), "--ignore-eos", "--max-concurrency", 3,
                          json_path=tmp_path / "s.json")
    reqs = ok_report(r, report, len(convs))
    assert sorted(q["output_tokens"] for q in reqs) == [4, 6, 10]


# --- scheduling: concurrency cap and arrival rate -------------------------------------------

def max_in_flight(reqs, slack=1e-3):
    """Most requests whose [start, start + e2e] intervals overlap at one instant. A request
    that starts within `slack` seconds of another's end is not counted as overlapping: the
    next request is sent only after the previous one's end was seen, and both times are
    rounded in the JSON."""
    events = []
    for q in reqs:
        events.append((q["start_s"] + slack, 1))
        events.append((q["start_s"] + q["e2e_s"], -1))
    events.sort(key=lambda e: (e[0], e[1]))  # at equal times, ends first
    best = cur = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


@pytest.fixture(scope="module")
def capped_report(kiln_bin, model_path, bench_server, tmp_path_factory):
    n, cap = 16, 4
    path = tmp_path_factory.mktemp("capped") / "c.json"
    r, report = run_bench(kiln_bin, *target(bench_server), "--tokenizer", model_path,
                          "--input-len", 32, "--output-len", 16, "--ignore-eos",
                          "--num-requests", n, "--max-concurrency", cap,
                          "--request-rate", "inf", json_path=path)
    ok_report(r, report, n)
    return cap, report


def test_concurrency_cap_is_honoured_and_reached(capped_report):
    cap, report = capped_report
    assert report["max_concurrency_observed"] == cap
    assert 0 < report["mean_concurrency"] <= cap
    assert report["config"]["max_concurrency"] == cap
    # Independently of the tool's own counter: from the per-request intervals.
    reqs = report["requests"]
    assert max_in_flight(reqs) <= cap
    assert max_in_flight(reqs, slack=0) >= cap  # 16 requests at once: the cap is reached
    starts = [q["start_s"] for q in reqs]
    assert starts == sorted(starts) and starts[0] == 0


def test_request_rate_is_honoured(kiln_bin, bench_server, tmp_path):
    # 40 Poisson arrivals at 20/s: the 39 gaps are exponential with mean 0.05 s, so the span
    # from the first send to the last has mean 1.95 s and standard deviation
    # sqrt(39) * 0.05 = 0.31 s. The bounds are loose on purpose: 0.8 s is ~3.7 sigma below
    # the mean (a tool that ignored the rate and sent everything at once would land near 0),
    # and 5 s leaves room for a loaded 2-core CI machine delaying the sender; this checks the
    # schedule, not performance.
    n, rate = 40, 20
    r, report = run_bench(kiln_bin, *target(bench_server, "completions"), "--input-len", 32,
                          "--output-len", 8, "--num-requests", n, "--request-rate", rate,
                          "--seed", 3, json_path=tmp_path / "rate.json")
    reqs = ok_report(r, report, n)
    starts = [q["start_s"] for q in reqs]
    assert starts == sorted(starts)
    span = starts[-1] - starts[0]
    assert 0.8 <= span <= 5.0, span
    assert report["config"]["request_rate"] == rate


# --- the report against the server's /metrics and against NumPy -----------------------------

def test_report_agrees_with_server_metrics(kiln_bin, model_path, bench_server, tmp_path):
    bench_server.wait_idle()
    before = scrape(bench_server)
    n = 10
    r, report = run_bench(kiln_bin, *target(bench_server), "--tokenizer", model_path,
                          "--input-len", 40, "--output-len", 10, "--range-ratio", 0.5,
                          "--num-requests", n, "--max-concurrency", 4,
                          "--warmup-requests", 0, json_path=tmp_path / "m.json")
    ok_report(r, report, n)
    bench_server.wait_idle()
    after = scrape(bench_server)

    def delta(name):
        return metric(after, name) - metric(before, name)

    assert delta("kiln:prompt_tokens_total") == report["input_tokens"]
    assert delta("kiln:generation_tokens_total") == report["output_tokens"]
    assert delta("kiln:request_success_total") == report["completed"] == n
    assert delta("kiln:time_to_first_token_seconds_count") == report["completed"]


def stats(values):
    a = np.asarray(values, dtype=float)
    return {"mean": a.mean(), "median": np.percentile(a, 50), "p90": np.percentile(a, 90),
            "p99": np.percentile(a, 99), "min": a.min(), "max": a.max()}


def test_percentiles_match_numpy(capped_report):
    _, report = capped_report
    ok = [q for q in report["requests"] if q["error"] is None]
    expected = {
        "ttft_s": stats([q["ttft_s"] for q in ok]),
        "e2e_s": stats([q["e2e_s"] for q in ok]),
        "itl_s": stats([g for q in ok for g in q["itl_s"]]),  # every gap, pooled
        "tpot_s": stats([(q["e2e_s"] - q["ttft_s"]) / (q["output_tokens"] - 1)
                         for q in ok if q["output_tokens"] > 1]),
    }
    for metric_name, want in expected.items():
        for k, v in want.items():
            got = report[metric_name][k]
            assert math.isclose(got, v, rel_tol=1e-9, abs_tol=1e-12), (metric_name, k, got, v)


def test_goodput_and_cost(kiln_bin, tmp_path):
    n = 6
    with FakeOpenAIServer(lambda k: GOOD) as fake:
        def run(*extra, name):
            r, report = run_bench(kiln_bin, "--base-url", fake.base_url, "--model", "fake",
                                  "--input-len", 8, "--output-len", 4, "--num-requests", n,
                                  "--warmup-requests", 0, *extra,
                                  json_path=tmp_path / name, timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
            return report
        plain = run(name="plain.json")
        loose = run("--slo", "e2e=1000s", "--gpu-hourly-cost", 3.6, name="loose.json")
        tight = run("--slo", "ttft=0.001ms,tpot=50ms", name="tight.json")
    assert plain["goodput"] is None and plain["cost"] is None and plain["break_even"] is None
    assert loose["goodput"]["good_requests"] == n and loose["goodput"]["fraction"] == 1
    assert tight["goodput"]["good_requests"] == 0 and tight["goodput"]["fraction"] == 0
    assert tight["goodput"]["slo"]["ttft_s"] == pytest.approx(1e-6)
    assert tight["goodput"]["slo"]["tpot_s"] == pytest.approx(0.05)
    # 3.6 USD/h = 0.001 USD/s, spread over every token the run processed per second.
    cost = loose["cost"]
    assert cost["hourly_usd"] == 3.6
    want = 0.001 / loose["total_token_throughput"] * 1e6
    assert cost["usd_per_million_total"] == pytest.approx(want, rel=1e-6)


# --- a misbehaving server -------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_faulty_server_is_reported_not_crashed_on(kiln_bin, tmp_path, endpoint):
    cycle = [HTTP_429, CLOSED, GARBAGE, GOOD, GOOD]
    n = 20
    with FakeOpenAIServer(lambda k: cycle[k % len(cycle)]) as fake:
        r, report = run_bench(kiln_bin, "--base-url", fake.base_url + "/v1", "--model", "fake",
                              "--endpoint", endpoint, "--input-len", 16, "--output-len", 4,
                              "--num-requests", n, "--max-concurrency", 4,
                              "--warmup-requests", 0, json_path=tmp_path / "f.json", timeout=60)
        done = dict(fake.done)
        paths = set(fake.paths)
        bodies = list(fake.bodies)
    assert r.returncode == 0, r.stdout + r.stderr  # some requests succeeded
    assert sum(done.values()) == n
    assert paths == {"/v1/chat/completions" if endpoint == "chat" else "/v1/completions"}
    body = bodies[0]
    assert body["model"] == "fake" and body["stream"] is True and body["max_tokens"] == 4
    assert body["stream_options"] == {"include_usage": True} and body["temperature"] == 0
    assert report["num_requests"] == n
    assert report["completed"] == done[GOOD]
    assert report["failed"] == n - done[GOOD]
    assert report["errors"] == {k: v for k, v in done.items() if k != GOOD}
    assert RATE_LIMIT_MESSAGE in report["error_examples"]["http_429"]
    assert set(report["error_examples"]) == set(report["errors"])
    good = [q for q in report["requests"] if q["error"] is None]
    assert len(good) == done[GOOD]
    assert all(q["output_tokens"] == len(GOOD_TOKENS) and q["input_tokens"] == 7 for q in good)
    assert report["output_tokens"] == done[GOOD] * len(GOOD_TOKENS)
    assert all(q["error"] for q in report["requests"] if q not in good)


def test_server_failing_everything_exits_1(kiln_bin, tmp_path):
    n = 5
    with FakeOpenAIServer(lambda k: HTTP_500) as fake:
        r, report = run_bench(kiln_bin, "--base-url", fake.base_url, "--model", "fake",
                              "--input-len", 16, "--output-len", 4, "--num-requests", n,
                              "--warmup-requests", 0, json_path=tmp_path / "all.json",
                              timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "500" in out and SERVER_ERROR_MESSAGE in out, out
    assert report is not None and report["completed"] == 0 and report["failed"] == n
    assert report["errors"] == {"http_500": n}
    assert SERVER_ERROR_MESSAGE in report["error_examples"]["http_500"]


def test_request_timeout(kiln_bin, tmp_path):
    # The fake server sends one chunk and then nothing for 30 s; --request-timeout 1 ends
    # each such request as "timeout" long before that, and the run does not hang.
    with FakeOpenAIServer(lambda k: HANG if k % 2 else GOOD) as fake:
        r, report = run_bench(kiln_bin, "--base-url", fake.base_url, "--model", "fake",
                              "--input-len", 16, "--output-len", 4, "--num-requests", 4,
                              "--warmup-requests", 0, "--request-timeout", 1,
                              json_path=tmp_path / "t.json", timeout=20)
        done = dict(fake.done)
    assert r.returncode == 0, r.stdout + r.stderr
    assert report["errors"] == {"timeout": done[HANG]} and report["completed"] == done[GOOD]
    assert report["duration_s"] < 10


@pytest.mark.parametrize("sub", ["serve", "sweep"])
def test_long_label(kiln_bin, tmp_path, sub):
    # The label heads the summary table and names the run in the report, whatever its length.
    label = "llama-cpp-python shared-prefix workload, " + "x" * 40
    extra = ["--concurrency", "1,2"] if sub == "sweep" else []
    with FakeOpenAIServer(lambda k: GOOD) as fake:
        r, report = run_bench(kiln_bin, "--base-url", fake.base_url, "--model", "fake",
                              "--input-len", 8, "--output-len", 4, "--num-requests", 2,
                              "--label", label, *extra, json_path=tmp_path / "l.json",
                              sub=sub, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert label in r.stdout
    runs = report["runs"] if sub == "sweep" else [report]
    assert all(label in x["label"] for x in runs)


def test_nothing_listening_is_a_clear_error(kiln_bin, tmp_path):
    port = free_port()
    r, report = run_bench(kiln_bin, "--base-url", f"http://127.0.0.1:{port}", "--model", "m",
                          "--input-len", 16, "--output-len", 4, "--num-requests", 3,
                          json_path=tmp_path / "dead.json", timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    out = (r.stdout + r.stderr).lower()
    assert f"connect to 127.0.0.1:{port}" in out and "refused" in out, out
    if report is not None:
        assert report["completed"] == 0 and set(report["errors"]) == {"connect"}


# --- usage errors ---------------------------------------------------------------------------

def test_bad_slo_is_a_usage_error(kiln_bin, tmp_path):
    for slo in ("ttft=fast", "latency=5ms", "ttft"):
        r, _ = run_bench(kiln_bin, "--base-url", f"http://127.0.0.1:{free_port()}", "--model",
                         "m", "--num-requests", 1, "--slo", slo, timeout=30)
        assert r.returncode == 1, (slo, r.stdout, r.stderr)
        assert "--slo" in r.stderr, (slo, r.stderr)


def test_missing_dataset_file(kiln_bin, tmp_path):
    missing = tmp_path / "nope.jsonl"
    r, _ = run_bench(kiln_bin, "--base-url", f"http://127.0.0.1:{free_port()}", "--model", "m",
                     "--dataset", missing, "--num-requests", 1, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert str(missing) in r.stderr, r.stderr


@pytest.mark.parametrize("bad_line", ['{"prompt": "unterminated', '{"output_len": 4}',
                                      '{"prompt": "x", "output_len": "many"}'])
def test_malformed_jsonl_line_names_file_and_line(kiln_bin, tmp_path, bad_line):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "fine", "output_len": 4}\n'
                    '{"prompt": "also fine"}\n'
                    f"{bad_line}\n"
                    '{"prompt": "fine again"}\n')
    r, _ = run_bench(kiln_bin, "--base-url", f"http://127.0.0.1:{free_port()}", "--model", "m",
                     "--dataset", path, "--num-requests", 4, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{path}:3" in r.stderr, r.stderr


# --- sweep ----------------------------------------------------------------------------------

def test_sweep_writes_csv_svg_and_json(kiln_bin, bench_server, tmp_path):
    csv_path, svg_path, json_path = tmp_path / "s.csv", tmp_path / "s.svg", tmp_path / "s.json"
    before = scrape(bench_server)
    r, report = run_bench(kiln_bin, *target(bench_server, "completions"), "--input-len", 32,
                          "--output-len", 8, "--num-requests", 4, "--concurrency", "1,2",
                          "--seed", 7000,  # prompts no other test sent
                          "--csv", csv_path, "--chart", svg_path, json_path=json_path,
                          sub="sweep")
    assert r.returncode == 0, r.stdout + r.stderr
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 3, rows  # a header and one row per point
    assert len(rows[0]) == len(rows[1]) == len(rows[2]) and len(rows[0]) > 1
    assert not any(c.replace(".", "").isdigit() for c in rows[0])  # the header is names
    root = ET.parse(svg_path).getroot()
    assert root.tag in ("svg", "{http://www.w3.org/2000/svg}svg"), root.tag
    runs = report["runs"]
    assert len(runs) == 2
    assert [x["config"]["max_concurrency"] for x in runs] == [1, 2]
    assert all(x["completed"] == 4 for x in runs)
    # Each point sends prompts of its own, so the second is not served from the first's
    # prefix cache: no prompt block is found in the cache during the sweep.
    assert [x["config"]["seed"] for x in runs] == [7000, 7001]
    after = scrape(bench_server)
    assert (metric(after, "kiln:prefix_cache_hits_total")
            == metric(before, "kiln:prefix_cache_hits_total"))
