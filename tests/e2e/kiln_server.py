# A live `kiln serve` for the e2e tests: started on a free loopback port (--port 0; the port
# is read from the server's "listening on" log line), ready once /health answers 200, and
# stopped with SIGTERM (the drain path) when the test is done.
import os
import re
import signal
import subprocess
import time

import httpx

# Small and fast: 2 compute threads (CI has 2 cores), a KV pool that allocates in moments.
DEFAULT_ARGS = ["--threads", "2", "--kv-cache-memory", "96MiB", "--max-model-len", "2048"]


class KilnServer:
    def __init__(self, kiln_bin, model_path, log_path, extra_args=(), api_key=None, env=None,
                 verify=True, wait_for_model=True, port=0):
        """model_path None serves the store (KILN_HOME); wait_for_model False does not read
        the first model's name (a store may be empty); port 0 takes a free one."""
        self.log_path = str(log_path)
        self.api_key = api_key
        self.verify = verify  # https: the CA (certificate) file to trust
        defaults = [arg for i in range(0, len(DEFAULT_ARGS), 2)
                    if DEFAULT_ARGS[i] not in extra_args for arg in DEFAULT_ARGS[i:i + 2]]
        args = [kiln_bin, "serve", *([model_path] if model_path else []), "--host", "127.0.0.1",
                "--port", str(port), *defaults, *extra_args]
        if api_key:
            args += ["--api-key", api_key]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        self.scheme, self.port = self._wait_for_port()
        self.base_url = f"{self.scheme}://127.0.0.1:{self.port}"
        self._wait_until_ready()
        if wait_for_model:
            self.model = self.get("/v1/models").json()["data"][0]["id"]

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def _wait_for_port(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(r"listening on (https?)://[^:]+:(\d+)", self.log())
            if m:
                return m.group(1), int(m.group(2))
            if self.proc.poll() is not None:
                raise RuntimeError(f"kiln serve exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise RuntimeError(f"kiln serve did not start listening:\n{self.log()}")

    def _wait_until_ready(self, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if httpx.get(self.base_url + "/health", timeout=5,
                             verify=self.verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"kiln serve exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise RuntimeError(f"kiln serve did not become ready:\n{self.log()}")

    def headers(self):
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def get(self, path, **kw):
        headers = {**self.headers(), **kw.pop("headers", {})}
        return httpx.get(self.base_url + path, headers=headers, timeout=60, verify=self.verify,
                         **kw)

    def post(self, path, json=None, **kw):
        headers = {**self.headers(), **kw.pop("headers", {})}
        return httpx.post(self.base_url + path, json=json, headers=headers, timeout=120,
                          verify=self.verify, **kw)

    def openai(self, **kw):
        import openai
        kw = {"base_url": self.base_url + "/v1", "api_key": self.api_key or "none",
              "max_retries": 0, "timeout": 120, **kw}
        return openai.OpenAI(**kw)

    def anthropic(self, **kw):
        import anthropic
        kw = {"base_url": self.base_url, "api_key": self.api_key or "none", "max_retries": 0,
              "timeout": 120, **kw}
        return anthropic.Anthropic(**kw)

    def wait_idle(self, timeout=30):
        """Until no request runs or waits (e.g. after a test's client went away)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = metric_values(self.get("/metrics").text)
            if metric(v, "kiln:num_requests_running") == 0 and metric(v, "kiln:num_requests_waiting") == 0:
                return
            time.sleep(0.05)
        raise AssertionError("the server did not become idle")

    def terminate(self, timeout=60):
        """SIGTERM, then wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def metric_values(text):
    """{(name, frozenset(labels)): value} from Prometheus text, through prometheus_client."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def metric(values, name, **labels):
    """The value of one series, matching the given labels (others ignored)."""
    found = [v for (n, ls), v in values.items() if n == name and set(labels.items()) <= ls]
    assert found, f"no series {name} {labels}"
    return sum(found)
