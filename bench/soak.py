# The soak test (issue 16): mixed traffic against one `kiln serve` for a chosen duration,
# then the invariants a long-running server must keep.
#
#   bench/soak.sh --duration 3600 --json soak.json          # docs/operations.md, "Soak"
#
# Traffic: C clients in a loop, each request one of OpenAI chat, OpenAI completions or
# Anthropic messages, streamed or not, sometimes with n = 2, every prompt starting with one
# of four shared system prompts (so the prefix cache works and evicts) and ending with
# random words (so the KV pool fills and cycles). 10% of requests are abandoned: the client
# closes the connection after a random number of stream events or a random wait. Every
# --burst-every seconds a burst of more requests than --max-num-seqs + --max-queue arrives
# at once, so some are refused with 429.
#
# Requests go over raw sockets with `Connection: close`, each fully written before anything
# else happens, so every request reaches the server and the books must balance exactly:
#   sent = completed + refused + abandoned                       (the client's side)
#   sent = stop + length + abort + rejected                      (the server's /metrics)
#   completed <= stop + length; refused <= rejected              (an abandoned request may
#                                                                  have finished or been refused)
#   every refusal carried Retry-After; no other status, no malformed reply
# and, once idle: no request running or waiting, KV blocks in use back to 0, the open file
# descriptors no more than at the start, and RSS after warm-up grown by less than
# --max-rss-growth-mib. It prints the figures and exits 1 if an invariant fails.
import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

WORDS = ("amber basin cedar delta ember fjord granite harbor island juniper kettle lantern "
         "meadow nectar orchard pebble quarry river summit thistle umber valley willow "
         "yarrow zephyr anchor bramble canyon dune estuary").split()
SYSTEM_PROMPTS = [
    f"You are assistant number {i}. " + " ".join(random.Random(i).choice(WORDS)
                                                 for _ in range(60 + 40 * i))
    for i in range(4)]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kiln", default=os.environ.get("KILN_BIN", "build/release/kiln"))
    p.add_argument("--model", default=os.environ.get("KILN_MODEL"))
    p.add_argument("--duration", type=float, default=120, help="seconds of traffic")
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-num-seqs", type=int, default=8)
    p.add_argument("--max-queue", type=int, default=8)
    p.add_argument("--kv-cache-memory", default="48MiB")
    p.add_argument("--max-model-len", type=int, default=1024)
    p.add_argument("--max-tokens", type=int, default=24, help="the largest max_tokens asked")
    p.add_argument("--burst-every", type=float, default=20)
    p.add_argument("--abandon", type=float, default=0.10, help="share of requests abandoned")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the RSS baseline (default: a fifth of the duration)")
    p.add_argument("--max-rss-growth-mib", type=float, default=32)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--log", default="soak-server.log", help="the server's log")
    p.add_argument("--json", help="also write the figures here")
    return p.parse_args()


class Server:
    def __init__(self, a):
        args = [a.kiln, "serve", a.model, "--host", "127.0.0.1", "--port", "0",
                "--threads", str(a.threads), "--max-num-seqs", str(a.max_num_seqs),
                "--max-queue", str(a.max_queue), "--kv-cache-memory", a.kv_cache_memory,
                "--max-model-len", str(a.max_model_len)]
        self.log_path = a.log
        self._log = open(a.log, "w")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            m = re.search(r"listening on http://[^:]+:(\d+)", open(a.log).read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"kiln serve did not start:\n{open(a.log).read()}")

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return kb / 1024

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self._log.close()


async def http(port, method, path, body=None, abandon=None):
    """One request over its own connection. Returns (status, headers, body bytes), or None
    when `abandon` ((events, seconds): close after that many SSE events or that long,
    whichever comes first) closed it first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    writer.write(head.encode() + data)
    await writer.drain()
    try:
        if abandon:
            events, seconds = abandon
            got = b""
            deadline = time.monotonic() + seconds
            while got.count(b"data:") < events:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    chunk = await asyncio.wait_for(reader.read(4096), left)
                except asyncio.TimeoutError:
                    break
                if not chunk:
                    break
                got += chunk
            return None
        raw = await reader.read(-1)
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in
               (line.split(":", 1) for line in lines[1:] if ":" in line)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        payload = dechunk(payload)
    return status, headers, payload


def dechunk(payload):
    out, i = bytearray(), 0
    while True:
        j = payload.index(b"\r\n", i)
        size = int(payload[i:j].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += payload[j + 2:j + 2 + size]
        i = j + 2 + size + 2


def sse_data(payload):
    return [line[5:].strip() for line in payload.decode().split("\n") if line.startswith("data:")]


def check_reply(kind, stream, n, payload):
    """The completion tokens of a well-formed reply; raises ValueError if it is not one."""
    if kind == "anthropic":
        if not stream:
            msg = json.loads(payload)
            if msg["type"] != "message" or msg["stop_reason"] not in (
                    "end_turn", "max_tokens", "stop_sequence"):
                raise ValueError(f"bad message: {msg}")
            return msg["usage"]["output_tokens"]
        events = [json.loads(d) for d in sse_data(payload)]
        if events[0]["type"] != "message_start" or events[-1]["type"] != "message_stop":
            raise ValueError(f"stream not closed: {events[:1]} ... {events[-1:]}")
        deltas = [e for e in events if e["type"] == "message_delta"]
        return deltas[-1]["usage"]["output_tokens"]
    if not stream:
        reply = json.loads(payload)
        choices = reply["choices"]
        if len(choices) != n or any(c["finish_reason"] not in ("stop", "length") for c in choices):
            raise ValueError(f"bad choices: {choices}")
        return reply["usage"]["completion_tokens"]
    data = sse_data(payload)
    if data[-1] != "[DONE]":
        raise ValueError("stream without [DONE]")
    chunks = [json.loads(d) for d in data[:-1]]
    finished = {c["index"] for ch in chunks for c in ch["choices"] if c.get("finish_reason")}
    if finished != set(range(n)):
        raise ValueError(f"finished choices {finished}, wanted {n}")
    return next(ch["usage"]["completion_tokens"] for ch in chunks if ch.get("usage"))


class Soak:
    def __init__(self, a, server, model):
        self.a, self.server, self.model = a, server, model
        self.rng = random.Random(a.seed)
        self.counts = {"sent": 0, "completed": 0, "refused": 0, "abandoned": 0,
                       "completion_tokens": 0, "streamed": 0, "n2": 0, "anthropic": 0}
        self.failures = []

    def request(self, max_tokens=None):
        rng = self.rng
        kind = rng.choice(["chat", "completions", "anthropic"])
        stream = rng.random() < 0.5
        n = 2 if kind != "anthropic" and rng.random() < 0.15 else 1
        system = rng.choice(SYSTEM_PROMPTS)
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40)))
        body = {"model": self.model, "max_tokens": max_tokens or rng.randint(1, self.a.max_tokens),
                "temperature": rng.choice([0, 0.7, 1.0]), "stream": stream}
        if kind == "chat":
            path = "/v1/chat/completions"
            body["messages"] = [{"role": "system", "content": system},
                                {"role": "user", "content": question}]
        elif kind == "completions":
            path = "/v1/completions"
            body["prompt"] = system + "\n" + question
        else:
            path = "/v1/messages"
            body["system"] = system
            body["messages"] = [{"role": "user", "content": question}]
        if kind != "anthropic":
            body["n"] = n
            if stream:
                body["stream_options"] = {"include_usage": True}
        return kind, stream, n, path, body

    async def one(self, max_tokens=None):
        kind, stream, n, path, body = self.request(max_tokens)
        abandon = None
        if self.rng.random() < self.a.abandon:
            abandon = (self.rng.randint(1, 8) if stream else 1 << 30, self.rng.uniform(0, 1.5))
        c = self.counts
        c["sent"] += 1
        c["streamed"] += stream
        c["n2"] += n == 2
        c["anthropic"] += kind == "anthropic"
        try:
            reply = await http(self.server.port, "POST", path, body, abandon)
        except (OSError, asyncio.IncompleteReadError) as e:
            self.fail(f"{path}: connection error {e!r}")
            return
        if reply is None:
            c["abandoned"] += 1
            return
        status, headers, payload = reply
        if status == 429:
            c["refused"] += 1
            if not headers.get("retry-after", "").isdigit():
                self.fail(f"{path}: 429 without Retry-After: {headers}")
            return
        if status != 200:
            self.fail(f"{path}: status {status}: {payload[:300]!r}")
            return
        try:
            c["completion_tokens"] += check_reply(kind, stream, n, payload)
            c["completed"] += 1
        except (ValueError, KeyError, IndexError, StopIteration, json.JSONDecodeError) as e:
            self.fail(f"{path} stream={stream} n={n}: {e}: {payload[:300]!r}")

    def fail(self, what):
        self.failures.append(what)
        if len(self.failures) <= 10:
            print("FAIL", what, flush=True)

    async def client(self, until):
        while time.monotonic() < until:
            await self.one()

    async def bursts(self, until):
        size = 2 * (self.a.max_num_seqs + self.a.max_queue)
        while True:
            await asyncio.sleep(self.a.burst_every)
            if time.monotonic() >= until:
                return
            await asyncio.gather(*(self.one(max_tokens=4) for _ in range(size)))

    async def sample_rss(self, until, samples):
        start = time.monotonic()
        while time.monotonic() < until:
            samples.append((time.monotonic() - start, self.server.rss_mib(),
                            self.server.open_fds()))
            await asyncio.sleep(min(5.0, self.a.duration / 40))


async def metrics(port):
    status, _, payload = await http(port, "GET", "/metrics")
    assert status == 200
    out = {}
    for line in payload.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, value = line.rsplit(" ", 1)
        name = name_labels.split("{")[0]
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', name_labels))
        labels.pop("model_name", None)
        key = name + "".join(f"|{k}={v}" for k, v in sorted(labels.items()))
        out[key] = out.get(key, 0) + float(value)
    return out


async def wait_idle(port, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = await metrics(port)
        if m["kiln:num_requests_running"] == 0 and m["kiln:num_requests_waiting"] == 0:
            return m
        await asyncio.sleep(0.2)
    raise SystemExit("the server did not become idle")


async def run(a):
    server = Server(a)
    try:
        deadline = time.monotonic() + 180
        while (await http(server.port, "GET", "/health"))[0] != 200:
            if time.monotonic() > deadline or server.proc.poll() is not None:
                raise SystemExit(f"kiln serve did not become ready; its log is {a.log}")
            await asyncio.sleep(0.1)
        _, _, payload = await http(server.port, "GET", "/v1/models")
        model = json.loads(payload)["data"][0]["id"]
        soak = Soak(a, server, model)
        await soak.one(max_tokens=2)  # the first request's lazy set-up is not a leak
        soak.counts = dict.fromkeys(soak.counts, 0)
        await wait_idle(server.port)
        before = await metrics(server.port)
        await asyncio.sleep(1.0)  # as at the end: the last connections' sockets close
        fds_start = server.open_fds()
        started = time.monotonic()
        until = started + a.duration
        samples = []
        await asyncio.gather(soak.sample_rss(until, samples), soak.bursts(until),
                             *(soak.client(until) for _ in range(a.clients)))
        elapsed = time.monotonic() - started
        after = await wait_idle(server.port)
        await asyncio.sleep(1.0)  # the last connections' sockets close
        fds_end = server.open_fds()
        rss_end = server.rss_mib()
        return report(a, soak, before, after, samples, fds_start, fds_end, rss_end, elapsed)
    finally:
        code = server.stop()
        if code != 0:
            print(f"kiln serve exited with {code}; its log is {a.log}")


def report(a, soak, before, after, samples, fds_start, fds_end, rss_end, elapsed):
    def delta(key):
        return after.get(key, 0) - before.get(key, 0)
    c = soak.counts
    stop = delta("kiln:request_success_total|finished_reason=stop")
    length = delta("kiln:request_success_total|finished_reason=length")
    abort = delta("kiln:request_success_total|finished_reason=abort")
    rejected = delta("kiln:request_rejected_total|reason=capacity")
    warmup = a.warmup if a.warmup is not None else a.duration / 5
    warm = [s for s in samples if s[0] >= warmup]
    rss_base = warm[0][1] if warm else samples[0][1]
    rss_max = max(s[1] for s in warm) if warm else rss_end
    # Least-squares slope of RSS after warm-up, in MiB per hour: a leak shows as a steady rise.
    slope = 0.0
    if len(warm) >= 3:
        mt = sum(s[0] for s in warm) / len(warm)
        mr = sum(s[1] for s in warm) / len(warm)
        var = sum((s[0] - mt) ** 2 for s in warm)
        slope = sum((s[0] - mt) * (s[1] - mr) for s in warm) / var * 3600 if var else 0.0
    figures = {
        "duration_s": round(elapsed, 1), **c,
        "server_stop": stop, "server_length": length, "server_abort": abort,
        "server_rejected": rejected,
        "server_generation_tokens": delta("kiln:generation_tokens_total"),
        "prefix_cache_hit_rate": round(delta("kiln:prefix_cache_hits_total")
                                       / max(1, delta("kiln:prefix_cache_queries_total")), 3),
        "preemptions": delta("kiln:num_preemptions_total"),
        "kv_cache_usage_end": after["kiln:kv_cache_usage_perc"],
        "fds_start": fds_start, "fds_end": fds_end,
        "fds_max": max(s[2] for s in samples),
        "rss_start_mib": round(samples[0][1], 1), "rss_after_warmup_mib": round(rss_base, 1),
        "rss_max_mib": round(rss_max, 1), "rss_end_mib": round(rss_end, 1),
        "rss_slope_mib_per_hour": round(slope, 1),
        "failures": len(soak.failures),
    }
    checks = [
        ("no malformed reply or unexpected status", not soak.failures),
        ("client: sent = completed + refused + abandoned",
         c["sent"] == c["completed"] + c["refused"] + c["abandoned"]),
        ("server: sent = stop + length + abort + rejected",
         c["sent"] == stop + length + abort + rejected),
        ("completed <= stop + length", c["completed"] <= stop + length),
        ("refused <= rejected", c["refused"] <= rejected),
        ("some requests refused (bursts above --max-queue)", rejected > 0),
        ("some requests aborted (abandoned clients)", abort > 0),
        ("generated tokens >= tokens in completed replies",
         figures["server_generation_tokens"] >= c["completion_tokens"]),
        ("idle: KV blocks in use back to 0", after["kiln:kv_cache_usage_perc"] == 0),
        ("idle: open fds no more than at the start", fds_end <= fds_start),
        (f"RSS growth after warm-up < {a.max_rss_growth_mib} MiB",
         max(rss_max, rss_end) - rss_base < a.max_rss_growth_mib),
    ]
    figures["checks"] = {name: ok for name, ok in checks}
    for k, v in figures.items():
        if k != "checks":
            print(f"{k:28} {v}")
    for name, ok in checks:
        print(("ok   " if ok else "FAIL ") + name)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"figures": figures, "samples": samples,
                       "failures": soak.failures[:50]}, f, indent=1)
    return all(ok for _, ok in checks)


def main():
    a = parse_args()
    if not a.model:
        sys.exit("soak: pass --model or set KILN_MODEL")
    sys.exit(0 if asyncio.run(run(a)) else 1)


if __name__ == "__main__":
    main()
