# The operator's switches: TLS (--ssl-keyfile/--ssl-certfile) with the official openai SDK
# over https and a certificate made here; CORS preflights and headers (--allowed-origins);
# X-Request-Id given and generated, in the header and the access log; --log-format json;
# --config files (YAML, JSON, TOML) with the command line winning.
import json
import socket
import subprocess

import httpx
import openai
import pytest

from kiln_server import KilnServer

KEY = "operator-key"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(crt), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return str(key), str(crt)


def test_tls_with_the_openai_sdk(kiln_bin, model_path, tmp_path, cert):
    key, crt = cert
    s = KilnServer(kiln_bin, model_path, tmp_path / "serve.log", verify=crt,
                   extra_args=["--served-model-name", "smollm2", "--ssl-keyfile", key,
                               "--ssl-certfile", crt], api_key=KEY)
    try:
        assert s.base_url.startswith("https://")
        c = openai.OpenAI(base_url=s.base_url + "/v1", api_key=KEY, max_retries=0,
                          http_client=httpx.Client(verify=crt))
        out = c.chat.completions.create(model="smollm2", max_tokens=4,
                                        messages=[{"role": "user", "content": "Hi"}])
        assert out.usage.completion_tokens >= 1
        text = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
            model="smollm2", max_tokens=4, stream=True,
            messages=[{"role": "user", "content": "Hi"}]) if ch.choices)
        assert text
        # Plain HTTP to the TLS port gets a plain 400 that says why; a client that does not
        # trust the certificate and garbage are each a log line; the server goes on.
        plain = httpx.get(f"http://127.0.0.1:{s.port}/health", timeout=10)
        assert plain.status_code == 400 and "HTTPS" in plain.text
        with pytest.raises(httpx.ConnectError):
            httpx.get(s.base_url + "/health", timeout=10)  # system CAs only
        with socket.create_connection(("127.0.0.1", s.port)) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05garbage")
        assert c.models.list().data[0].id == "smollm2"
        assert "TLS handshake failed" in s.log()
    finally:
        assert s.terminate() == 0, s.log()


def test_tls_with_a_bad_certificate_file_is_a_clear_error(kiln_bin, model_path, tmp_path, cert):
    key, _ = cert
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    r = subprocess.run([kiln_bin, "serve", model_path, "--port", "0", "--ssl-keyfile", key,
                        "--ssl-certfile", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "--ssl-certfile " + str(bad) in r.stderr + r.stdout


@pytest.fixture(scope="module")
def cors_server(kiln_bin, model_path, tmp_path_factory):
    s = KilnServer(kiln_bin, model_path, tmp_path_factory.mktemp("cors") / "serve.log",
                   extra_args=["--served-model-name", "smollm2", "--allowed-origins",
                               "https://app.example.com,https://other.example.com",
                               "--allowed-origins", "http://localhost:3000",
                               "--log-format", "json"],
                   api_key=KEY)
    yield s
    assert s.terminate() == 0, s.log()


def test_cors_preflight_needs_no_key(cors_server):
    preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    r = httpx.options(cors_server.base_url + "/v1/chat/completions", headers=preflight)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-headers"] == "authorization, content-type"
    assert r.headers["vary"] == "Origin"

    r = httpx.options(cors_server.base_url + "/v1/chat/completions",
                      headers={**preflight, "Origin": "https://evil.example.net"})
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers


def test_cors_headers_on_responses(cors_server):
    ok = cors_server.post("/v1/completions", {"model": "smollm2", "prompt": "Hi", "max_tokens": 1},
                          headers={"Origin": "https://other.example.com"})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://other.example.com"
    assert "X-Request-Id" in ok.headers["access-control-expose-headers"]
    refused = cors_server.post("/v1/completions", {"model": "smollm2", "prompt": "Hi"},
                               headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in refused.headers
    # Errors from an allowed origin carry them too, so the browser lets the page read them.
    bad = cors_server.post("/v1/completions", {"model": "smollm2", "prompt": "Hi"},
                           headers={"Origin": "https://app.example.com", "Authorization": "x"})
    assert bad.status_code == 401
    assert bad.headers["access-control-allow-origin"] == "https://app.example.com"


def access_lines(s):
    out = []
    for line in s.log().splitlines():
        obj = json.loads(line)  # --log-format json: every line is one JSON object
        assert obj["level"] and obj["time"].endswith("Z")
        if "request_id" in obj:
            out.append(obj)
    return out


def test_request_ids_and_json_log(cors_server):
    given = cors_server.post("/v1/completions",
                             {"model": "smollm2", "prompt": "Hi", "max_tokens": 1},
                             headers={"X-Request-Id": "client-id-42"})
    assert given.headers["x-request-id"] == "client-id-42"
    assert given.json()["id"].startswith("cmpl-")  # the API's own id is unchanged
    made = cors_server.post("/v1/completions",
                            {"model": "smollm2", "prompt": "Hi", "max_tokens": 1, "stream": True})
    generated = made.headers["x-request-id"]
    assert len(generated) == 32 and generated != "client-id-42"
    # Unusable ids (too long, not printable) are replaced, not echoed.
    long = cors_server.get("/health", headers={"X-Request-Id": "x" * 200})
    assert long.headers["x-request-id"] != "x" * 200 and len(long.headers["x-request-id"]) == 32

    lines = {l["request_id"]: l for l in access_lines(cors_server)}
    assert lines["client-id-42"]["path"] == "/v1/completions"
    assert lines["client-id-42"]["method"] == "POST"
    assert lines["client-id-42"]["status"] == 200
    assert "completion=1" in lines["client-id-42"]["note"]
    assert lines[generated]["status"] == 200 and lines[generated]["seconds"] >= 0
    assert lines[generated]["remote"].startswith("127.0.0.1:")
    assert any("ready in" in json.loads(l).get("message", "")
               for l in cors_server.log().splitlines())


def test_request_id_in_the_text_log(start_server):
    s = start_server(api_key=KEY)
    r = s.get("/v1/models", headers={"X-Request-Id": "text-log-id"})
    assert r.headers["x-request-id"] == "text-log-id"
    s.terminate()
    assert "request_id=text-log-id" in s.log()


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_config_file(kiln_bin, model_path, tmp_path, fmt):
    settings = {"served-model-name": ["from-config", "second"], "api-key": "config-key",
                "max_queue": 7, "log-format": "json"}
    path = tmp_path / f"serve.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(settings))
    elif fmt == "yaml":
        path.write_text("# vLLM-style\nserved-model-name:\n  - from-config\n  - second\n"
                        "api-key: \"config-key\"\nmax_queue: 7\nlog-format: json  # comment\n")
    else:
        path.write_text('served-model-name = ["from-config", "second"]\napi-key = "config-key"\n'
                        'max_queue = 7\nlog-format = "json"\n')
    # The command line wins over the file: --log-format text.
    s = KilnServer(kiln_bin, model_path, tmp_path / "serve.log", api_key="config-key",
                   extra_args=["--config", str(path), "--log-format", "text"])
    try:
        assert [m["id"] for m in s.get("/v1/models").json()["data"]] == ["from-config", "second"]
        assert s.get("/v1/models", headers={"Authorization": "Bearer other"}).status_code == 401
        assert "ready in" in s.log() and not s.log().lstrip().startswith("{")
    finally:
        assert s.terminate() == 0, s.log()


def test_config_file_errors_name_the_problem(kiln_bin, model_path, tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("no-such-flag: 3\n")
    r = subprocess.run([kiln_bin, "serve", model_path, "--port", "0", "--config", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "no-such-flag" in r.stderr + r.stdout
