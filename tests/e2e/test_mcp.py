# kiln as an MCP server, driven by the official `mcp` SDK: its streamable-HTTP client against
# POST /mcp on a live `kiln serve`, and its stdio client against a spawned `kiln mcp`. Both
# initialize, list the tools, call each one; protocol mistakes are JSON-RPC errors, tool
# mistakes are results with isError, and the server stays up. Small max_tokens: seconds.
import json
import subprocess

import anyio
import httpx
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from kiln_server import metric, metric_values

from kiln_server import metric, metric_values

# ping is deprecated only for 2026-07-28 connections; kiln speaks the handshake era.
pytestmark = pytest.mark.filterwarnings("ignore:ping is removed")

TOOLS = {"chat", "complete", "list_models", "tokenize"}
HELLO = [{"role": "user", "content": "Say hello."}]


def text_of(result):
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.content[0].text


def http_client(server):
    transport = streamable_http_client(
        server.base_url + "/mcp", http_client=create_mcp_http_client(headers=server.headers()))
    return Client(transport, read_timeout_seconds=120)


async def exercise(client, names):
    """What both transports must do; returns the progress updates seen on a chat call."""
    assert client.server_info.name == "kiln"
    assert client.protocol_version == "2025-11-25"
    listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == TOOLS
    assert tools["chat"].input_schema["required"] == ["messages"]
    assert tools["complete"].input_schema["properties"]["max_tokens"]["type"] == "integer"

    progress = []

    async def on_progress(value, total, message):
        progress.append((value, total))

    chat = await client.call_tool(
        "chat", {"messages": HELLO, "max_tokens": 6, "temperature": 0}, progress_callback=on_progress)
    assert not chat.is_error, text_of(chat)
    assert text_of(chat).strip()
    assert chat.meta["kiln/finish_reason"] in ("stop", "length")
    assert chat.meta["kiln/completion_tokens"] <= 6

    complete = await client.call_tool("complete", {"prompt": "The capital of France is",
                                                   "max_tokens": 4, "temperature": 0})
    assert not complete.is_error, text_of(complete)
    assert text_of(complete)
    # Greedy is deterministic: the same call gives the same text.
    again = await client.call_tool("complete", {"prompt": "The capital of France is",
                                                "max_tokens": 4, "temperature": 0})
    assert text_of(again) == text_of(complete)

    tokens = json.loads(text_of(await client.call_tool("tokenize", {"text": "hello world"})))
    assert tokens["count"] == len(tokens["tokens"]) > 0
    models = json.loads(text_of(await client.call_tool("list_models", {})))
    assert [m["id"] for m in models["models"]] == names

    # Tool mistakes come back as results the caller's model can read.
    for name, args in [("chat", {}), ("chat", {"messages": HELLO, "temperature": 7}),
                       ("complete", {"prompt": "x", "max_tokens": 0}),
                       ("complete", {"prompt": "x", "model": "nope"}),
                       ("tokenize", {"txt": "x"})]:
        bad = await client.call_tool(name, args)
        assert bad.is_error, (name, args)
        assert text_of(bad)
    # A prompt beyond the context is refused by the engine: also a tool error.
    long = await client.call_tool("complete", {"prompt": "hi " * 5000, "max_tokens": 4})
    assert long.is_error and "2048" in text_of(long), text_of(long)
    # An unknown tool is a protocol error (-32602), and the connection goes on.
    with pytest.raises(MCPError) as e:
        await client.call_tool("no_such_tool", {})
    assert e.value.code == -32602
    await client.send_ping()
    return progress


def test_streamable_http_client(server):
    async def main():
        async with http_client(server) as client:
            return await exercise(client, ["smollm2", "smollm2-alias"])

    progress = anyio.run(main)
    # The chat call carried a progress token: kiln streamed SSE progress, then the result.
    assert progress and progress[-1][0] <= 6 and all(total == 6 for _, total in progress)
    assert server.get("/health").status_code == 200


def test_stdio_client(kiln_bin, model_path, tmp_path):
    params = StdioServerParameters(
        command=kiln_bin,
        args=["mcp", model_path, "--threads", "2", "-c", "2048", "--served-model-name", "smollm2"])

    async def main():
        with open(tmp_path / "mcp.log", "w") as log:
            async with Client(stdio_client(params, errlog=log), read_timeout_seconds=120) as client:
                return await exercise(client, ["smollm2"])

    progress = anyio.run(main)
    # Progress lines were written to stdout while the chat generated.
    assert progress and all(total == 6 for _, total in progress)


def rpc(server, body, **headers):
    return httpx.post(server.base_url + "/mcp", content=body, timeout=60,
                      headers={**server.headers(), "Content-Type": "application/json",
                               "Accept": "application/json, text/event-stream", **headers})


def test_http_transport_details(server):
    # Behind the API key like the other routes.
    r = httpx.post(server.base_url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401
    # No server-initiated stream and no sessions: GET and DELETE are 405.
    assert server.get("/mcp").status_code == 405
    # Unreadable JSON: a 400 carrying the JSON-RPC parse error.
    r = rpc(server, "{oops")
    assert r.status_code == 400 and r.json()["error"]["code"] == -32700
    r = rpc(server, json.dumps({"jsonrpc": "2.0", "id": 5, "method": "resources/list"}))
    assert r.status_code == 200 and r.json() == {
        "jsonrpc": "2.0", "id": 5, "error": {"code": -32601, "message": "method not found: resources/list"}}
    r = rpc(server, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    assert r.status_code == 202 and r.content == b""
    # A call without a progress token is one JSON response even when SSE is accepted.
    r = rpc(server, json.dumps({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {
        "name": "complete", "arguments": {"prompt": "Hi", "max_tokens": 2}}}))
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["id"] == 6 and r.json()["result"]["isError"] is False
    assert server.get("/health").status_code == 200


def test_stdio_survives_garbage(kiln_bin, model_path):
    lines = ["not json", "[]", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "nope"}),
             json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
             json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"})]
    r = subprocess.run([kiln_bin, "mcp", model_path, "--threads", "2", "-c", "512"],
                       input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    replies = [json.loads(line) for line in r.stdout.splitlines()]  # stdout holds only JSON-RPC
    assert [m.get("error", {}).get("code") for m in replies] == [-32700, -32600, -32601, None]
    assert replies[-1] == {"jsonrpc": "2.0", "id": 2, "result": {}}
    assert "serving" in r.stderr  # logs go to stderr


def test_http_progress_stream_and_client_leaving(server):
    # A call with a progress token streams SSE: progress events, then the response...
    body = json.dumps({"jsonrpc": "2.0", "id": "p1", "method": "tools/call", "params": {
        "name": "complete", "arguments": {"prompt": "Once upon a time", "max_tokens": 3},
        "_meta": {"progressToken": 11}}})
    r = rpc(server, body)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[len("data: "):]) for line in r.text.splitlines()
              if line.startswith("data: ")]
    assert len(events) >= 2
    assert all(e["method"] == "notifications/progress" and e["params"]["progressToken"] == 11
               for e in events[:-1])
    assert events[-1]["id"] == "p1" and events[-1]["result"]["isError"] is False
    # ...and a client that leaves mid-stream cancels its generation: the engine goes idle.
    long = body.replace('"max_tokens": 3', '"max_tokens": 1500')
    aborted = lambda: metric(metric_values(server.get("/metrics").text),  # noqa: E731
                             "kiln:request_success_total", finished_reason="abort")
    before = aborted()
    with httpx.stream("POST", server.base_url + "/mcp", content=long, timeout=60,
                      headers={**server.headers(), "Content-Type": "application/json",
                               "Accept": "application/json, text/event-stream"}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                break
    server.wait_idle()
    assert aborted() == before + 1
    assert server.get("/health").status_code == 200
