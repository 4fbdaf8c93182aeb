# `kiln serve` under bad input and faults: malformed JSON and HTTP, oversized bodies and
# heads, a client leaving mid-stream (its request is cancelled and its KV blocks return), a
# full queue (429 with Retry-After), and SIGTERM (drain, then exit 0).
import socket
import subprocess
import time

import httpx
import openai
import pytest

from kiln_server import metric, metric_values

CHAT = "/v1/chat/completions"
LONG = {"max_tokens": 1500, "ignore_eos": True}  # runs far longer than any test waits
LONG_EXTRA = {"ignore_eos": True}  # vLLM's extension, through the SDK's extra_body


def chat_body(**kw):
    return {"model": "smollm2", "messages": [{"role": "user", "content": "Write a long story."}], **kw}


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_malformed_json_and_wrong_shapes(server):
    for body in (b"{not json", b"[1, 2]", b'"text"', b""):
        r = httpx.post(server.base_url + CHAT, content=body, timeout=30,
                       headers={**server.headers(), "content-type": "application/json"})
        assert r.status_code == 400, body
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"]
        assert set(err) == {"message", "type", "param", "code"}
    r = server.post(CHAT, {"model": "smollm2", "messages": "hi"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    r = server.post(CHAT, {"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    r = server.post(CHAT, chat_body(max_tokens="many"))
    assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens"
    r = server.post(CHAT, chat_body(stop=[1, 2]))
    assert r.status_code == 400 and r.json()["error"]["param"] == "stop"
    # Anthropic's error shape on its route.
    r = server.post("/v1/messages", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"


def test_malformed_http_gets_400(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        reply = s.recv(65536).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 400"), reply


def test_unknown_route_and_method(server):
    assert server.get("/v1/nope").status_code == 404
    r = server.get(CHAT)
    assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_oversized_body_gets_413(server):
    # The shared server runs with --max-body-size 256KiB.
    big = chat_body(max_tokens=1)
    big["messages"][0]["content"] = "x" * (300 * 1024)
    r = server.post(CHAT, big)
    assert r.status_code == 413
    assert "larger than" in r.json()["error"]["message"]
    assert server.get("/health").status_code == 200


def test_oversized_head_gets_431(server):
    r = server.get("/v1/models", headers={"x-filler": "y" * (32 * 1024)})
    assert r.status_code == 431


def test_api_key_required_except_health_and_metrics(server):
    assert httpx.get(server.base_url + "/v1/models").status_code == 401
    assert httpx.get(server.base_url + "/v1/models",
                     headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(server.base_url + "/v1/models",
                     headers={"x-api-key": server.api_key}).status_code == 200
    assert httpx.get(server.base_url + "/health").status_code == 200
    assert httpx.get(server.base_url + "/metrics").status_code == 200


def test_disconnect_mid_stream_cancels_and_frees_kv(server):
    def values():
        return metric_values(server.get("/metrics").text)

    aborted_before = metric(values(), "kiln:request_success_total", finished_reason="abort")
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", server.base_url + CHAT, headers=server.headers(),
                           json=chat_body(stream=True, **LONG)) as r:
            assert r.status_code == 200
            # NOTE: keep the line iterator alive; abandoning it makes httpx close the
            # connection, which is the disconnect this test makes only later.
            lines = r.iter_lines()
            chunks = 0
            while chunks < 3:
                chunks += next(lines).startswith("data: ")
            v = values()
            assert metric(v, "kiln:num_requests_running") == 1
            assert metric(v, "kiln:kv_cache_usage_perc") > 0
    # The connection is closed: the request must be aborted and its blocks freed.
    def settled():
        v = values()
        return (metric(v, "kiln:num_requests_running") == 0
                and metric(v, "kiln:kv_cache_usage_perc") == 0
                and metric(v, "kiln:request_success_total", finished_reason="abort") == aborted_before + 1)
    wait_for(settled, timeout=20, what="the aborted request to release its KV blocks")
    assert "client went away" in server.log()


def test_full_queue_gets_429_with_retry_after(start_server):
    s = start_server("--max-num-seqs", "1", "--max-queue", "1")
    client = s.openai()
    streams = [client.chat.completions.create(stream=True, extra_body=LONG_EXTRA, **chat_body(max_tokens=1500))
               for _ in range(2)]
    try:
        # One runs, one waits: the bound (1 running + 1 queued) is reached.
        wait_for(lambda: metric(metric_values(s.get("/metrics").text), "kiln:num_requests_waiting") == 1,
                 what="a waiting request")
        with pytest.raises(openai.RateLimitError) as e:
            client.chat.completions.create(**chat_body(max_tokens=1))
        assert int(e.value.response.headers["retry-after"]) >= 1
        assert e.value.body["code"] == "rate_limit_exceeded"
    finally:
        for st in streams:
            st.close()
    # Once the two leave, there is room again.
    wait_for(lambda: metric(metric_values(s.get("/metrics").text), "kiln:num_requests_running") == 0,
             what="the cancelled requests to finish")
    r = client.chat.completions.create(**chat_body(max_tokens=2))
    assert r.choices[0].message.content is not None


def test_sigterm_drains_running_requests_and_exits_0(start_server):
    s = start_server("--drain-timeout", "60")
    lines = []
    with httpx.Client(timeout=120) as client:
        with client.stream("POST", s.base_url + CHAT,
                           json=chat_body(stream=True, max_tokens=48, ignore_eos=True)) as r:
            it = r.iter_lines()
            lines.append(next(it))
            s.proc.send_signal(__import__("signal").SIGTERM)
            # Stop accepting: new connections are refused while this request finishes.
            def refused():
                try:
                    httpx.get(s.base_url + "/health", timeout=2)
                    return False
                except httpx.ConnectError:
                    return True
            wait_for(refused, timeout=10, what="the listener to close")
            lines.extend(it)
    data = [l for l in lines if l.startswith("data: ")]
    assert data[-1] == "data: [DONE]"
    assert '"finish_reason":"length"' in data[-2]
    assert s.proc.wait(timeout=60) == 0
    assert "drained" in s.log()


def test_sigterm_cancels_after_drain_timeout(start_server):
    s = start_server("--drain-timeout", "1")
    with httpx.Client(timeout=120) as client:
        with client.stream("POST", s.base_url + CHAT, json=chat_body(stream=True, **LONG)) as r:
            it = r.iter_lines()
            next(it)
            t0 = time.time()
            s.proc.send_signal(__import__("signal").SIGTERM)
            rest = list(it)
    assert time.time() - t0 < 30
    data = [l for l in rest if l.startswith("data: ")]
    assert data[-1] == "data: [DONE]"
    assert '"error"' in data[-2] and "shutting down" in data[-2]
    assert s.proc.wait(timeout=60) == 0


def test_slow_reader_does_not_block_others(server):
    # A client that stops reading must not stall the engine: another request completes.
    body = chat_body(stream=True, max_tokens=200, ignore_eos=True)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    import json as _json
    payload = _json.dumps(body).encode()
    sock.sendall(b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {server.api_key}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                 + payload)
    try:
        r = server.openai().chat.completions.create(**chat_body(max_tokens=8, temperature=0))
        assert r.choices[0].finish_reason == "length"
    finally:
        sock.close()
    server.wait_idle()  # the stalled request is cancelled once its client is gone


def test_bad_model_file_fails_at_start(kiln_bin, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    r = subprocess.run([kiln_bin, "serve", str(bad), "--port", "0"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "bad.gguf" in r.stderr
