# Per-key limits (--api-keys-file): each limit (requests, tokens, concurrency, model list)
# through the official SDKs, in each API's error shape; the rate-limit headers against the
# configured limits; per-key /metrics; the SIGHUP reload with a good and a bad file.
import datetime
import json
import signal
import time

import anthropic
import httpx
import openai
import pytest

from kiln_server import KilnServer, metric, metric_values

CLI_KEY = "cli-unlimited-key"
KEYS = {"keys": [
    {"name": "rpm", "key": "sk-rpm", "requests_per_minute": 2},
    {"name": "anth", "key": "sk-anth", "requests_per_minute": 1, "tokens_per_minute": 5000},
    {"name": "tpm", "key": "sk-tpm", "tokens_per_minute": 120},
    {"name": "conc", "key": "sk-conc", "max_concurrent_requests": 1},
    {"name": "models", "key": "sk-models", "models": ["smollm2-other"]},
]}


@pytest.fixture(scope="module")
def limited(kiln_bin, model_path, tmp_path_factory):
    d = tmp_path_factory.mktemp("limits")
    (d / "keys.json").write_text(json.dumps(KEYS))
    s = KilnServer(kiln_bin, model_path, d / "serve.log",
                   extra_args=["--served-model-name", "smollm2", "--served-model-name",
                               "smollm2-other", "--api-keys-file", str(d / "keys.json")],
                   api_key=CLI_KEY)
    yield s
    assert s.terminate() == 0, s.log()


def client(s, key):
    return s.openai(api_key=key)


def key_metrics(s):
    return metric_values(s.get("/metrics").text)


def test_requests_per_minute_and_its_headers(limited):
    c = client(limited, "sk-rpm")
    for remaining in ("1", "0"):
        raw = c.completions.with_raw_response.create(model="smollm2", prompt="Hi", max_tokens=2)
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
        assert raw.headers["x-ratelimit-remaining-requests"] == remaining
        # 2 a minute refill one every 30 s: full again within a minute, Go-style duration.
        reset = raw.headers["x-ratelimit-reset-requests"]
        assert reset.endswith("s") and ("m" in reset or float(reset[:-1]) <= 60), reset
        assert "x-ratelimit-limit-tokens" not in raw.headers  # this key has no token limit
    with pytest.raises(openai.RateLimitError) as e:
        c.completions.create(model="smollm2", prompt="Hi", max_tokens=2)
    assert e.value.status_code == 429
    assert e.value.body["code"] == "rate_limit_exceeded"
    assert e.value.body["type"] == "rate_limit_error"
    assert "requests_per_minute" in e.value.body["message"]
    assert 1 <= int(e.value.response.headers["retry-after"]) <= 30
    v = key_metrics(limited)
    assert metric(v, "kiln:api_key_requests_total", key_name="rpm") == 2
    assert metric(v, "kiln:api_key_rejections_total", key_name="rpm",
                  reason="requests_per_minute") == 1


def test_anthropic_shape_and_headers(limited):
    c = limited.anthropic(api_key="sk-anth")
    before = datetime.datetime.now(datetime.timezone.utc)
    raw = c.messages.with_raw_response.create(
        model="smollm2", max_tokens=3, messages=[{"role": "user", "content": "Hi"}])
    msg = raw.parse()
    h = raw.headers
    assert h["anthropic-ratelimit-requests-limit"] == "1"
    assert h["anthropic-ratelimit-requests-remaining"] == "0"
    assert h["anthropic-ratelimit-tokens-limit"] == "5000"
    # The prompt is charged at admission; the reply's head is written before any token.
    assert int(h["anthropic-ratelimit-tokens-remaining"]) == 5000 - msg.usage.input_tokens
    reset = datetime.datetime.fromisoformat(h["anthropic-ratelimit-requests-reset"].replace("Z", "+00:00"))
    assert before + datetime.timedelta(seconds=55) <= reset <= before + datetime.timedelta(seconds=62)
    assert h["x-ratelimit-limit-requests"] == "1"  # OpenAI's too, on every keyed response
    with pytest.raises(anthropic.RateLimitError) as e:
        c.messages.create(model="smollm2", max_tokens=3,
                          messages=[{"role": "user", "content": "Hi"}])
    assert e.value.body["type"] == "error"
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert int(e.value.response.headers["retry-after"]) >= 1


def test_tokens_per_minute_settles_completion_tokens_while_streaming(limited):
    c = client(limited, "sk-tpm")
    start = time.monotonic()
    stream = c.completions.create(model="smollm2", prompt="Once upon a time", max_tokens=100,
                                  stream=True, stream_options={"include_usage": True},
                                  extra_body={"ignore_eos": True})
    seen = 0
    mid_remaining = None
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            seen += 1
        if seen == 40 and mid_remaining is None:
            # Any keyed response reports the budget; the stream has used 40+ tokens of it.
            r = limited.get("/v1/models", headers={"Authorization": "Bearer sk-tpm"})
            mid_remaining = (int(r.headers["x-ratelimit-remaining-tokens"]), time.monotonic())
        if chunk.usage:
            usage = chunk.usage
    assert usage.completion_tokens == 100
    prompt = usage.prompt_tokens
    # A stream carries the headers on its head, counted at admission.
    assert stream.response.headers["x-ratelimit-limit-tokens"] == "120"
    assert int(stream.response.headers["x-ratelimit-remaining-tokens"]) == 120 - prompt
    remaining, at = mid_remaining
    assert remaining <= 120 - prompt - 40 + 2 * (at - start) + 1  # refilled at 2 tokens/s

    # What is left (about 120 - prompt - 100 + the refill) is less than a 60-token prompt.
    with pytest.raises(openai.RateLimitError) as e:
        c.completions.create(model="smollm2", prompt="word " * 60, max_tokens=1)
    assert e.value.body["code"] == "rate_limit_exceeded"
    assert "tokens_per_minute" in e.value.body["message"]
    assert int(e.value.response.headers["retry-after"]) >= 1

    # A prompt larger than the whole minute can never fit: said so, and no Retry-After.
    with pytest.raises(openai.RateLimitError) as e:
        c.completions.create(model="smollm2", prompt="word " * 200, max_tokens=1)
    assert "can never be admitted" in e.value.body["message"]
    assert "retry-after" not in e.value.response.headers

    v = key_metrics(limited)
    assert metric(v, "kiln:api_key_prompt_tokens_total", key_name="tpm") == prompt
    assert metric(v, "kiln:api_key_generation_tokens_total", key_name="tpm") == 100
    assert metric(v, "kiln:api_key_rejections_total", key_name="tpm",
                  reason="tokens_per_minute") == 2


def test_max_concurrent_requests(limited):
    c = client(limited, "sk-conc")
    with c.completions.with_streaming_response.create(
            model="smollm2", prompt="Once", max_tokens=2000, stream=True,
            extra_body={"ignore_eos": True}) as first:
        lines = first.iter_lines()  # kept: a dropped generator closes the response
        next(lines)  # running
        with pytest.raises(openai.RateLimitError) as e:
            c.completions.create(model="smollm2", prompt="Hi", max_tokens=1)
        assert "max_concurrent_requests" in e.value.body["message"]
    # The first one's connection closed: its slot frees once the server notices.
    deadline = time.time() + 20
    while True:
        try:
            c.completions.create(model="smollm2", prompt="Hi", max_tokens=1)
            break
        except openai.RateLimitError:
            assert time.time() < deadline, "the concurrency slot was not released"
            time.sleep(0.1)
    v = key_metrics(limited)
    assert metric(v, "kiln:api_key_rejections_total", key_name="conc",
                  reason="max_concurrent_requests") >= 1
    assert metric(v, "kiln:api_key_requests_running", key_name="conc") == 0


def test_model_allow_list(limited):
    c = client(limited, "sk-models")
    assert [m.id for m in c.models.list().data] == ["smollm2-other"]
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="smollm2", max_tokens=1,
                                  messages=[{"role": "user", "content": "Hi"}])
    assert e.value.body["code"] == "model_not_found"
    assert "do not have access" in e.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("smollm2")
    with pytest.raises(anthropic.NotFoundError) as e:
        limited.anthropic(api_key="sk-models").messages.create(
            model="smollm2", max_tokens=1, messages=[{"role": "user", "content": "Hi"}])
    assert e.value.body["error"]["type"] == "not_found_error"
    out = c.chat.completions.create(model="smollm2-other", max_tokens=1,
                                    messages=[{"role": "user", "content": "Hi"}])
    assert out.choices[0].message is not None
    v = key_metrics(limited)
    assert metric(v, "kiln:api_key_rejections_total", key_name="models", reason="model") == 3


def test_cli_key_is_unlimited_and_unknown_keys_are_refused(limited):
    raw = client(limited, CLI_KEY).completions.with_raw_response.create(
        model="smollm2", prompt="Hi", max_tokens=1)
    assert not any(k.startswith("x-ratelimit") for k in raw.headers)
    with pytest.raises(openai.AuthenticationError):
        client(limited, "sk-nope").completions.create(model="smollm2", prompt="Hi", max_tokens=1)
    text = limited.get("/metrics").text
    for k in KEYS["keys"]:
        assert k["key"] not in text  # names only, never the keys
    assert 'key_name="cli"' in text


def wait_for_log(s, text, timeout=10):
    deadline = time.time() + timeout
    while text not in s.log():
        assert time.time() < deadline, f"no {text!r} in the log:\n{s.log()}"
        time.sleep(0.05)


def test_sighup_reload(kiln_bin, model_path, tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"name": "a", "key": "sk-a", "requests_per_minute": 1}]}))
    s = KilnServer(kiln_bin, model_path, tmp_path / "serve.log", api_key=CLI_KEY,
                   extra_args=["--served-model-name", "smollm2", "--api-keys-file", str(path)])
    try:
        a = client(s, "sk-a")
        a.completions.create(model="smollm2", prompt="Hi", max_tokens=1)
        with pytest.raises(openai.RateLimitError):
            a.completions.create(model="smollm2", prompt="Hi", max_tokens=1)

        path.write_text(json.dumps({"keys": [
            {"name": "a", "key": "sk-a", "requests_per_minute": 3},
            {"name": "b", "key": "sk-b"}]}))
        with httpx.Client(timeout=60) as http:
            with http.stream("POST", s.base_url + "/v1/completions",
                             headers={"Authorization": "Bearer sk-b"},
                             json={"model": "smollm2", "prompt": "Once", "max_tokens": 64,
                                   "stream": True, "ignore_eos": True}) as r:
                assert r.status_code == 401  # b does not exist yet
            s.proc.send_signal(signal.SIGHUP)
            wait_for_log(s, "SIGHUP: reloaded")
            with http.stream("POST", s.base_url + "/v1/completions",
                             headers={"Authorization": "Bearer sk-b"},
                             json={"model": "smollm2", "prompt": "Once", "max_tokens": 64,
                                   "stream": True, "ignore_eos": True}) as r:
                lines = r.iter_lines()
                assert r.status_code == 200
                next(lines)
                # A stream running across the reloads is not disturbed (read to its end
                # below). "a" keeps its use (1 of now 3): two more fit.
                raw = a.completions.with_raw_response.create(model="smollm2", prompt="Hi",
                                                              max_tokens=1)
                assert raw.headers["x-ratelimit-limit-requests"] == "3"
                assert raw.headers["x-ratelimit-remaining-requests"] == "1"

                path.write_text("{not json")
                s.proc.send_signal(signal.SIGHUP)
                wait_for_log(s, "SIGHUP: keeping the current API keys")
                assert "not valid JSON" in s.log()
                body = "".join(lines)
                assert body.rstrip().endswith("data: [DONE]")  # the stream ran to its end
        assert client(s, "sk-b").completions.create(model="smollm2", prompt="Hi", max_tokens=1)
        v = metric_values(s.get("/metrics", headers={}).text)
        assert metric(v, "kiln:api_key_requests_total", key_name="a") == 2
        assert s.proc.poll() is None  # SIGHUP did not end the process
    finally:
        assert s.terminate() == 0, s.log()


def test_bad_keys_file_at_start_is_a_clear_error(kiln_bin, model_path, tmp_path):
    import subprocess
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"name": "a", "key": "sk-a", "tokens_per_minute": -1}]}))
    r = subprocess.run([kiln_bin, "serve", model_path, "--port", "0", "--api-keys-file",
                        str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert str(path) in r.stderr + r.stdout
    assert "tokens_per_minute must be a positive integer" in r.stderr + r.stdout
