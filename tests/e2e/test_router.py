# kiln behind vllm-router (the PyPI wheel's Rust binary, tests/requirements.txt): two kiln
# workers on loopback (one compute thread, a small KV pool each) and a router per test.
# What the router calls on a worker (observed with vllm-router 0.1.17): GET /health (its
# health checks), POST /v1/chat/completions/render or /v1/completions/render on every worker
# before each request under cache_aware (it matches the returned token_ids against what it
# sent each worker), GET /get_load once when it starts under power_of_two (it reads "load").
# The workers' access logs ("METHOD PATH" STATUS) show what the router called and how kiln
# answered. Each worker publishes its KV cache events (--kv-events-config) on a port of its
# own, which kv_aware subscribes to and the wire-format test reads with pyzmq and msgpack.
import json
import re
import shutil
import socket
import subprocess
import threading
import time

import httpx
import msgpack
import pytest
import zmq

from kiln_server import KilnServer, metric, metric_values

MODEL = "smollm2"
WORKER_ARGS = ["--threads", "1", "--kv-cache-memory", "48MiB", "--max-model-len", "1024",
               "--served-model-name", MODEL]
ACCESS = re.compile(r'"(GET|POST|DELETE|HEAD) (\S+)" (\d{3})')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def access_log(worker):
    """[(method, path, status)] from a worker's log (the query string dropped)."""
    return [(m, p.split("?")[0], int(s)) for m, p, s in ACCESS.findall(worker.log())]


def count(worker, method, path):
    return sum(1 for m, p, _ in access_log(worker) if (m, p) == (method, path))


class Router:
    def __init__(self, policy, workers, log_path, extra_args=()):
        binary = shutil.which("vllm-router")
        assert binary, "vllm-router is not installed (pip install -r tests/requirements.txt)"
        self.port = free_port()
        self.log_path = str(log_path)
        self._log = open(self.log_path, "w")
        # Its Prometheus exporter listens too (default 29000): a free port of its own.
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(self.port),
             "--prometheus-port", str(free_port()), "--policy", policy,
             "--worker-urls", *[w.base_url for w in workers], "--log-level", "debug",
             *extra_args],
            stdout=self._log, stderr=subprocess.STDOUT)
        self.base_url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, f"vllm-router exited:\n{self.log()}"
            try:
                if httpx.get(self.base_url + "/v1/models", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"vllm-router did not become ready:\n{self.log()}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return re.sub(r"\x1b\[[0-9;]*m", "", f.read())

    def post(self, path, body):
        return httpx.post(self.base_url + path, json=body, timeout=120)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def workers(kiln_bin, model_path, tmp_path_factory):
    d = tmp_path_factory.mktemp("router")
    started = []
    for i in range(2):
        events = f"tcp://127.0.0.1:{free_port()}"
        # The topic stays "" (vLLM's default): vllm-router subscribes to that one only.
        config = {"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": events}
        w = KilnServer(kiln_bin, model_path, d / f"worker{i}.log",
                       extra_args=[*WORKER_ARGS, "--kv-events-config", json.dumps(config)])
        w.kv_events = events
        started.append(w)
    yield started
    for w in started:
        assert w.terminate() == 0, w.log()


@pytest.fixture
def start_router(workers, tmp_path):
    routers = []

    seen = [len(access_log(w)) for w in workers]  # earlier tests' lines are not the router's

    def start(policy, *extra_args):
        routers.append(Router(policy, workers, tmp_path / f"router-{policy}.log", extra_args))
        return routers[-1]

    yield start
    for r in routers:
        r.stop()
    # Nothing the router (or this test) called on a worker was missing.
    for w, n in zip(workers, seen):
        missing = [(m, p) for m, p, s in access_log(w)[n:] if s == 404]
        assert not missing, missing


CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Name a color."}],
        "max_tokens": 4, "temperature": 0}


def test_worker_info_and_render_routes(workers):
    w = workers[0]
    rendered = w.post("/v1/chat/completions/render", CHAT)
    assert rendered.status_code == 200, rendered.text
    r = rendered.json()
    # The same ids /tokenize gives for the messages, and the count generation reports.
    tokenized = w.post("/tokenize", {"model": MODEL, "messages": CHAT["messages"]}).json()
    assert r["token_ids"] == tokenized["tokens"]
    assert r["model"] == MODEL and r["prompt"].endswith("assistant\n")
    usage = w.post("/v1/chat/completions", CHAT).json()["usage"]
    assert usage["prompt_tokens"] == len(r["token_ids"])

    many = w.post("/v1/completions/render", {"model": MODEL, "prompt": ["red", "green"]})
    assert many.status_code == 200, many.text
    ids = [p["token_ids"] for p in many.json()]
    assert ids == [w.post("/tokenize", {"model": MODEL, "prompt": t}).json()["tokens"]
                   for t in ["red", "green"]]

    bad = w.post("/v1/chat/completions/render", {"model": MODEL})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"
    assert w.post("/v1/completions/render", {"model": "nope", "prompt": "x"}).status_code == 404
    assert w.post("/get_load").status_code == 405

    load = w.get("/get_load").json()
    assert load["load"] == load["num_running_reqs"] + load["num_waiting_reqs"] == 0
    assert [m["model"] for m in load["models"]] == [MODEL]
    info = w.get("/get_server_info").json()
    assert info["block_size"] > 0 and info["max_model_len"] == 1024
    assert w.get("/get_model_info").json()["model_path"].endswith(".gguf")
    assert w.get("/version").json()["version"]
    health = w.get("/health_generate")
    assert health.status_code == 200 and health.json()["usage"]["completion_tokens"] == 1


def test_cache_aware_passes_every_api_and_keeps_a_prefix_on_one_worker(workers, start_router):
    router = start_router("cache_aware")
    renders_before = sum(count(w, "POST", "/v1/chat/completions/render") for w in workers)

    chat = router.post("/v1/chat/completions", CHAT)
    assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["content"]
    with httpx.stream("POST", router.base_url + "/v1/chat/completions",
                      json={**CHAT, "stream": True}, timeout=120) as s:
        events = [line for line in s.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) >= 3
    comp = router.post("/v1/completions", {"model": MODEL, "prompt": "The sky is", "max_tokens": 3})
    assert comp.status_code == 200 and comp.json()["choices"][0]["text"]
    msg = router.post("/v1/messages", {"model": MODEL, "max_tokens": 3,
                                        "messages": [{"role": "user", "content": "Hi"}]})
    assert msg.status_code == 200 and msg.json()["type"] == "message"
    ollama = router.post("/api/chat", {"model": MODEL, "stream": False,
                                       "options": {"num_predict": 3},
                                       "messages": [{"role": "user", "content": "Hi"}]})
    assert ollama.status_code == 200 and ollama.json()["done"] is True
    resp = router.post("/v1/responses", {"model": MODEL, "input": "Hi", "max_output_tokens": 3})
    assert resp.status_code == 200 and resp.json()["object"] == "response"
    # The router rendered each chat request on both workers (and got 200s, checked at the end).
    assert sum(count(w, "POST", "/v1/chat/completions/render") for w in workers) \
        >= renders_before + 2 * 2

    # Eight questions behind one long system prompt: all on one worker, served from its cache.
    system = " ".join(f"Rule {i}: answer briefly and politely." for i in range(50))
    before = [(count(w, "POST", "/v1/chat/completions"),
               metric(metric_values(w.get("/metrics").text), "kiln:prefix_cache_hits_total"))
              for w in workers]
    for i in range(8):
        r = router.post("/v1/chat/completions", {
            "model": MODEL, "max_tokens": 2, "temperature": 0,
            "messages": [{"role": "system", "content": system},
                         {"role": "user", "content": f"Question {i}: what is {i} + {i}?"}]})
        assert r.status_code == 200, r.text
    prefix = len(workers[0].post("/tokenize", {"model": MODEL, "prompt": system}).json()["tokens"])
    served = [count(w, "POST", "/v1/chat/completions") - b[0] for w, b in zip(workers, before)]
    assert sorted(served) == [0, 8], served
    hot = workers[served.index(8)]
    hits = (metric(metric_values(hot.get("/metrics").text), "kiln:prefix_cache_hits_total")
            - before[served.index(8)][1])
    # Requests 2..8 find at least the system prompt's full blocks cached.
    assert hits >= 7 * (prefix - 16), (hits, prefix)


def test_power_of_two_reads_real_loads(workers, start_router):
    busy, idle = workers
    # Three long generations on one worker, sent to it directly.
    body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": True}
    threads = [threading.Thread(target=busy.post, args=("/v1/completions", body)) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while busy.get("/get_load").json()["load"] < 3:
        assert time.time() < deadline, busy.get("/get_load").text
        time.sleep(0.05)
    try:
        # vllm-router 0.1.17 reads /get_load when it starts (not again, as observed), so it
        # starts now, while the loads differ.
        router = start_router("power_of_two")
        before = count(idle, "POST", "/v1/completions")
        for _ in range(2):
            r = router.post("/v1/completions", {"model": MODEL, "prompt": "Hi", "max_tokens": 2})
            assert r.status_code == 200, r.text
        # NOTE: at least one; which worker the second goes to depends on how the router
        # counts its own requests in flight against a load it read once, and on timing.
        assert count(idle, "POST", "/v1/completions") >= before + 1
        # Its log names the loads it compared: the busy worker's real 3 against 0.
        assert re.search(re.escape(busy.base_url) + r"=3 vs " + re.escape(idle.base_url) + "=0"
                         r"|" + re.escape(idle.base_url) + r"=0 vs " + re.escape(busy.base_url)
                         + "=3", router.log()), router.log()
    finally:
        # The long generations end before the next test, whose KV events they would join.
        for t in threads:
            t.join()
    assert count(busy, "GET", "/get_load") >= 1


def unique_prompt(words=40):
    """About 200 tokens no earlier request began with."""
    import random
    tag = "".join(random.choice("bcdfghjklmnpqrstvwxz") for _ in range(6))
    return f"{tag}: " + " ".join(f"{tag} {i}" for i in range(words))


def test_kv_events_on_the_wire(workers):
    w = workers[0]
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.connect(w.kv_events)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    time.sleep(0.5)  # a SUB socket misses what is published before it has joined
    try:
        prompt = unique_prompt()
        body = {"model": MODEL, "prompt": prompt, "max_tokens": 1}
        ids = w.post("/v1/completions/render", body).json()[0]["token_ids"]
        assert w.post("/v1/completions", body).status_code == 200

        frames = []
        while sub.poll(2000):
            frames.append(sub.recv_multipart())
        assert frames, "no KV events arrived"
        seqs = [int.from_bytes(seq, "big") for _, seq, _ in frames]
        assert all(topic == b"" and len(seq) == 8 for topic, seq, _ in frames)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        stored = []
        for _, _, payload in frames:
            ts, events = msgpack.unpackb(payload, raw=False)
            assert abs(ts - time.time()) < 60
            stored += [e for e in events if e["type"] == "BlockStored"]
        # The prompt's full blocks, in order, chained by their parents' hashes.
        assert all(e["block_size"] == 16 and len(e["block_hashes"]) == 1 for e in stored)
        assert [t for e in stored for t in e["token_ids"]] == ids[:16 * (len(ids) // 16)]
        assert stored[0]["parent_block_hash"] is None
        assert [e["parent_block_hash"] for e in stored[1:]] == \
            [e["block_hashes"][0] for e in stored[:-1]]

        # The same prompt again is a cache hit: nothing new is stored.
        assert w.post("/v1/completions", body).status_code == 200
        again = []
        while sub.poll(1000):
            _, _, payload = sub.recv_multipart()
            again += [e for e in msgpack.unpackb(payload, raw=False)[1]
                      if e["type"] == "BlockStored"]
        known = {e["block_hashes"][0] for e in stored}
        assert not [e for e in again if e["block_hashes"][0] in known]
    finally:
        sub.close(linger=0)


def test_kv_aware_routes_a_prefix_to_the_worker_holding_it(workers, start_router):
    router = start_router("kv_aware", *[a for w in workers
                                        for a in ["--kv-event-source", f"{w.base_url}={w.kv_events}"]],
                          "--kv-event-block-size", "16", "--kv-event-model", MODEL)
    time.sleep(1)  # the router's subscriptions join
    # Each prompt is first computed on a worker chosen here, directly (not through the router).
    owners = [0, 1, 0, 1]
    prompts = [unique_prompt() for _ in owners]
    for p, owner in zip(prompts, owners):
        r = workers[owner].post("/v1/completions", {"model": MODEL, "prompt": p, "max_tokens": 1})
        assert r.status_code == 200
    time.sleep(1)  # the events reach the router
    for p, owner in zip(prompts, owners):
        before = [count(w, "POST", "/v1/completions") for w in workers]
        r = router.post("/v1/completions", {"model": MODEL, "prompt": p, "max_tokens": 1})
        assert r.status_code == 200, r.text
        after = [count(w, "POST", "/v1/completions") for w in workers]
        assert after[owner] == before[owner] + 1, (owner, before, after, router.log()[-3000:])
        # ... and it was served from that worker's cache.
        assert r.json()["usage"]["prompt_tokens_details"]["cached_tokens"] >= 48


def test_a_worker_killed_mid_stream(kiln_bin, model_path, tmp_path):
    own = [KilnServer(kiln_bin, model_path, tmp_path / f"own{i}.log", extra_args=WORKER_ARGS)
           for i in range(2)]
    router = Router("round_robin", own, tmp_path / "router.log")
    try:
        body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 400,
                "ignore_eos": True, "stream": True}
        lines = []
        with httpx.stream("POST", router.base_url + "/v1/completions", json=body,
                          timeout=60) as s:
            it = s.iter_lines()
            while len(lines) < 3:
                lines.append(next(it))
            loads = [w.get("/get_load").json()["load"] for w in own]
            victim = own[loads.index(1)]
            victim.proc.kill()
            victim.proc.wait()
            try:
                lines += list(it)
            except httpx.HTTPError as e:  # the router may cut the connection instead
                lines.append(f"error: {type(e).__name__}")
        # What the client sees: the stream stops short, without [DONE] (observed with 0.1.17:
        # the router ends the chunked response unfinished, httpx's RemoteProtocolError).
        assert "data: [DONE]" not in lines, lines[-3:]
        # The other worker keeps serving every request sent through the router.
        survivor = own[1 - own.index(victim)]
        for _ in range(4):
            r = router.post("/v1/completions", {"model": MODEL, "prompt": "Hi", "max_tokens": 2})
            assert r.status_code == 200, (r.text, router.log()[-2000:])
        assert survivor.proc.poll() is None
    finally:
        router.stop()
        for w in own:
            w.terminate()


def test_a_restarted_worker_returns_to_rotation(kiln_bin, model_path, tmp_path):
    ports = [free_port(), free_port()]
    own = [KilnServer(kiln_bin, model_path, tmp_path / f"own{i}.log", extra_args=WORKER_ARGS,
                      port=ports[i]) for i in range(2)]
    router = Router("round_robin", own, tmp_path / "router.log")  # its default health checks
    body = {"model": MODEL, "prompt": "Hi", "max_tokens": 2}
    try:
        own[1].proc.kill()
        own[1].proc.wait()
        for _ in range(4):  # while it is down, every request succeeds on the other worker
            r = router.post("/v1/completions", body)
            assert r.status_code == 200, (r.text, router.log()[-2000:])
        # Started again on the same address: round_robin sends it every other request at once
        # (observed with 0.1.17: the first request after the restart already went there).
        own[1] = KilnServer(kiln_bin, model_path, tmp_path / "own1-again.log",
                            extra_args=WORKER_ARGS, port=ports[1])
        for _ in range(4):
            r = router.post("/v1/completions", body)
            assert r.status_code == 200, (r.text, router.log()[-2000:])
        assert count(own[1], "POST", "/v1/completions") == 2
    finally:
        router.stop()
        for w in own:
            w.terminate()


class EventRelay:
    """A worker's KV events passed on to the router through this process, so a test can
    stop them (the worker keeps serving) and start them again (with a gap in the sequence
    numbers: what was published meanwhile is lost, as when a network path drops)."""

    def __init__(self, source):
        self.source = source
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.pub = zmq.Context.instance().socket(zmq.PUB)
        self.pub.bind(self.endpoint)
        self.thread = None
        self.start()

    def start(self):
        self.running = True
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()
        time.sleep(0.5)  # the SUB socket joins

    def _relay(self):
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.connect(self.source)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        while self.running:
            if sub.poll(50):
                self.pub.send_multipart(sub.recv_multipart())
        sub.close(linger=0)

    def stop(self):
        self.running = False
        self.thread.join()

    def close(self):
        self.stop()
        self.pub.close(linger=0)


def test_kv_aware_when_a_workers_events_stop(workers, start_router):
    relay = EventRelay(workers[0].kv_events)
    try:
        router = start_router("kv_aware",
                              "--kv-event-source", f"{workers[0].base_url}={relay.endpoint}",
                              "--kv-event-source", f"{workers[1].base_url}={workers[1].kv_events}",
                              "--kv-event-block-size", "16", "--kv-event-model", MODEL)
        time.sleep(1)

        def through_router(prompt):
            """(the worker that served it, its cached prompt tokens)"""
            before = [count(w, "POST", "/v1/completions") for w in workers]
            r = router.post("/v1/completions", {"model": MODEL, "prompt": prompt, "max_tokens": 1})
            assert r.status_code == 200, r.text
            time.sleep(0.2)  # the access-log line follows the reply
            grew = [count(w, "POST", "/v1/completions") - n for w, n in zip(workers, before)]
            assert sorted(grew) == [0, 1], grew
            return grew.index(1), r.json()["usage"]["prompt_tokens_details"]["cached_tokens"]

        def compute_on(worker, prompt):
            n = count(worker, "POST", "/v1/completions")
            r = worker.post("/v1/completions", {"model": MODEL, "prompt": prompt, "max_tokens": 1})
            assert r.status_code == 200, r.text
            while count(worker, "POST", "/v1/completions") == n:  # its access-log line
                time.sleep(0.01)

        # With events flowing, a prefix computed on worker 0 is routed there and hits.
        a = unique_prompt()
        compute_on(workers[0], a)
        time.sleep(1)
        worker, cached = through_router(a)
        assert worker == 0 and cached >= 48, (worker, cached)

        # The events stop; worker 0 then evicts `a` (its 48 MiB pool holds ~2,200 tokens;
        # fourteen new 200-token prompts push `a` out) and the router never hears of it.
        relay.stop()
        for _ in range(14):
            compute_on(workers[0], unique_prompt())
        # The router's view is stale: it still sends `a` to worker 0, which no longer holds
        # it. The request succeeds, only without the cache hit.
        worker, cached = through_router(a)
        assert (worker, cached) == (0, 0), (worker, cached, router.log()[-3000:])

        # The events start again, with a gap in the sequence numbers: the router takes the
        # new ones (a new prefix on worker 0 is routed there and hits).
        relay.start()
        b = unique_prompt()
        compute_on(workers[0], b)
        time.sleep(1)
        worker, cached = through_router(b)
        assert worker == 0 and cached >= 48, (worker, cached, router.log()[-3000:])
        # Each of the three was routed on what the router believed worker 0 held (its debug
        # log credits the prefix tokens), the stale one included; the resumed stream's first
        # sequence number shows the gap.
        credited = [int(n) for n in re.findall(r"KV prefix decision .*credited_prefix_tokens=(\d+)",
                                               router.log())]
        assert len(credited) == 3 and min(credited) >= 48, credited
        seqs = [int(n) for n in re.findall(r"live sequence advanced source=\S+ rank=\d+ seq=(\d+)",
                                           router.log())]
        assert seqs and seqs[-1] > 1, seqs
    finally:
        relay.close()
