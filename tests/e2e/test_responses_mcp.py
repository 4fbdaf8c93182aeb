# kiln calling MCP tool servers from /v1/responses, through the official `openai` SDK, with
# the real Qwen2.5-Coder-0.5B (KILN_MODEL_QWEN2; skipped without it) and tool servers written
# with the official `mcp` SDK (mcp_tool_server.py): one spawned over stdio from
# --mcp-config, one over streamable HTTP named by a request's server_url. A forced
# tool_choice makes the model call get_secret; the secret it returns is in the mcp_call item
# and in the answer the model writes on the next turn (the model cannot guess it).
#
# Faults, with tests/data/mcp/scripted_server.py as the misbehaving server: one that never
# answers (bounded by --mcp-timeout), one that exits, a malformed result, an unknown tool;
# the turn limit. Each ends as an error in the mcp_call item, the server stays up, no KV
# block stays used, and no child process is left over (none once kiln has stopped).
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from kiln_server import KilnServer, metric, metric_values

HERE = Path(__file__).parent
TOOL_SERVER = str(HERE / "mcp_tool_server.py")
SCRIPTED = str(HERE.parent / "data" / "mcp" / "scripted_server.py")
SECRET = "PURPLE-ELEPHANT-42"
QUESTION = "What is the secret code word?"


@pytest.fixture(scope="module")
def qwen_path():
    path = os.environ.get("KILN_MODEL_QWEN2")
    if not path:
        pytest.skip("KILN_MODEL_QWEN2 is not set to the Qwen2.5-Coder-0.5B GGUF")
    return path


def scripted(mode):
    return {"command": sys.executable, "args": [SCRIPTED, mode, "--prefix", mode + "_"]}


@pytest.fixture(scope="module")
def start(kiln_bin, qwen_path, tmp_path_factory):
    """start(servers, *args) -> a kiln serving Qwen with those MCP servers, stopped (and
    checked to leave no child process) afterwards."""
    started = []

    def run(servers, *args):
        d = tmp_path_factory.mktemp("mcp")
        config = d / "mcp.json"
        config.write_text(json.dumps({"mcpServers": servers}))
        s = KilnServer(kiln_bin, qwen_path, d / "serve.log",
                       extra_args=["--served-model-name", "qwen", "--max-model-len", "4096",
                                   "--mcp-config", str(config), *args])
        started.append(s)
        return s

    yield run
    for s in started:
        kids = children(s.proc.pid)
        assert s.terminate() == 0, s.log()
        for pid, _ in kids:  # the servers kiln spawned ended with it
            assert not Path(f"/proc/{pid}").exists(), pid


def children(pid):
    """[(pid, state)] of the live processes whose parent is `pid`."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append((int(p.name), fields[0]))
    return out


def idle_and_clean(server, max_children):
    """The server answers, holds no KV blocks, and has no zombie and no extra child."""
    assert server.get("/health").status_code == 200
    deadline = time.time() + 10
    while True:
        usage = metric(metric_values(server.get("/metrics").text), "kiln:kv_cache_usage_perc")
        if usage == 0 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert usage == 0
    kids = children(server.proc.pid)
    assert all(s != "Z" for _, s in kids), kids
    assert len(kids) <= max_children, kids


def ask(client, tools, server_label, name, **kw):
    return client.responses.create(
        model="qwen", input=QUESTION, tools=tools, temperature=0, max_output_tokens=80,
        tool_choice={"type": "mcp", "server_label": server_label, "name": name}, **kw)


def items(response, type_):
    return [o for o in response.output if o.type == type_]


@pytest.fixture(scope="module")
def tools_server(start):
    return start({"tools": {"command": sys.executable, "args": [TOOL_SERVER, "stdio"]}})


def test_stdio_server_from_config_runs_the_tool(tools_server):
    client = tools_server.openai()
    only_secret = [{"type": "mcp", "server_label": "tools", "allowed_tools": ["get_secret"],
                    "require_approval": "never"}]
    r = ask(client, only_secret, "tools", "get_secret")
    listed = items(r, "mcp_list_tools")
    assert [(l.server_label, [t.name for t in l.tools], l.error) for l in listed] == \
        [("tools", ["get_secret"], None)]
    calls = items(r, "mcp_call")
    assert len(calls) == 1, r.output
    call = calls[0]
    assert call.id.startswith("mcp_") and call.server_label == "tools"
    assert call.name == "get_secret" and json.loads(call.arguments) == {}
    assert call.error is None and call.status == "completed"
    assert call.output == f"The secret code word is {SECRET}."
    assert SECRET in r.output_text  # the next turn read the tool's output
    # The small model may run on past its answer into max_output_tokens.
    assert r.status == "completed" or r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens > 0 and r.usage.input_tokens > 0
    # The stored response continues with the call in its history.
    again = client.responses.retrieve(r.id)
    assert [o.type for o in again.output] == [o.type for o in r.output]
    idle_and_clean(tools_server, max_children=1)


def test_streamed_call_events(tools_server):
    only_secret = [{"type": "mcp", "server_label": "tools", "allowed_tools": ["get_secret"],
                    "require_approval": "never"}]
    stream = tools_server.openai().responses.create(
        model="qwen", input=QUESTION, tools=only_secret, temperature=0, max_output_tokens=80,
        tool_choice={"type": "mcp", "server_label": "tools", "name": "get_secret"}, stream=True)
    events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    types = [e.type for e in events]
    assert types[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.mcp_list_tools.in_progress"]
    order = ["response.mcp_list_tools.completed", "response.mcp_call_arguments.done",
             "response.mcp_call.in_progress", "response.mcp_call.completed",
             "response.output_text.delta"]
    assert [types.index(t) for t in order] == sorted(types.index(t) for t in order), types
    assert types[-1] in ("response.completed", "response.incomplete")
    final = events[-1].response
    call = [o for o in final.output if o.type == "mcp_call"][0]
    assert call.output == f"The secret code word is {SECRET}."
    # Every item announced at its index ends done with what the final response holds.
    done = {e.output_index: e.item for e in events if e.type == "response.output_item.done"}
    assert sorted(done) == list(range(len(final.output)))
    for i, item in done.items():
        assert item.id == final.output[i].id and item.type == final.output[i].type
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == final.output_text and SECRET in text
    idle_and_clean(tools_server, max_children=1)


def test_http_server_named_by_url(tools_server, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "calls.log"
    proc = subprocess.Popen([sys.executable, TOOL_SERVER, "http", str(port)],
                            env={**os.environ, "KILN_TEST_TOOL_LOG": str(log)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        # The configured server offers nothing here (an empty allowed_tools).
        tools = [{"type": "mcp", "server_label": "remote", "server_url": url,
                  "require_approval": "never", "allowed_tools": {"tool_names": ["get_secret"]}},
                 {"type": "mcp", "server_label": "tools", "allowed_tools": [],
                  "require_approval": "never"}]
        r = ask(tools_server.openai(), tools, "remote", "get_secret")
        call = items(r, "mcp_call")[0]
        assert call.server_label == "remote" and call.error is None, call
        assert call.output == f"The secret code word is {SECRET}."
        assert log.read_text().splitlines()[0] == "get_secret"
        assert SECRET in r.output_text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    idle_and_clean(tools_server, max_children=1)


def test_mcp_tool_mistakes_are_400s(tools_server):
    client = tools_server.openai()
    cases = [
        ({"tools": [{"type": "mcp", "server_label": "tools"}]}, "tools[0].require_approval"),
        ({"tools": [{"type": "mcp", "server_label": "tools", "require_approval": "always"}]},
         "tools[0].require_approval"),
        ({"tools": [{"type": "mcp", "server_label": "elsewhere", "require_approval": "never"}]},
         "tools[0].server_url"),
        ({"tools": [{"type": "mcp", "server_label": "tools", "require_approval": "never"}],
          "text": {"format": {"type": "json_object"}}}, "tools"),
        ({"tool_choice": {"type": "mcp", "server_label": "nowhere", "name": "x"}}, "tool_choice"),
    ]
    for extra, param in cases:
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(model="qwen", input="hi", **extra)
        assert e.value.body["param"] == param, (extra, e.value.body)
    # Known only once the server listed its tools.
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="qwen", input="hi", tool_choice={
            "type": "mcp", "server_label": "tools", "name": "no_such_tool"})
    assert e.value.body["param"] == "tool_choice.name"
    assert "is not a tool of the mcp server 'tools'" in e.value.body["message"]


@pytest.fixture(scope="module")
def faulty_server(start):
    return start({mode: scripted(mode) for mode in ("hang", "exit", "malformed", "unknown")},
                 "--mcp-timeout", "2")


@pytest.mark.parametrize("mode,error_type,message", [
    ("hang", "mcp_protocol_error", "timed out waiting for the server's answer to tools/call"),
    ("exit", "mcp_protocol_error", "the server exited with status 3"),
    ("malformed", "mcp_protocol_error", "malformed tool result: content is not an array"),
    ("unknown", "mcp_protocol_error", "Unknown tool: unknown_tool0"),
])
def test_faulty_servers_end_as_errors_in_the_call(faulty_server, mode, error_type, message):
    start = time.time()
    r = ask(faulty_server.openai(), [], mode, f"{mode}_tool0")
    call = [c for c in items(r, "mcp_call") if c.server_label == mode][0]
    assert call.status == "failed" and call.output is None
    assert call.error.type == error_type and call.error.message == message, call.error
    if mode == "unknown":
        assert call.error.code == -32602
    if mode == "hang":
        assert call.error.code == -32001
        assert time.time() - start < 30
    # kiln went on: the model got the error as the tool's result and answered.
    assert r.status in ("completed", "incomplete"), r
    idle_and_clean(faulty_server, max_children=4)


def test_an_exited_server_is_started_again(faulty_server):
    r = ask(faulty_server.openai(), [], "exit", "exit_tool0")
    call = [c for c in items(r, "mcp_call") if c.server_label == "exit"][0]
    assert call.error.message == "the server exited with status 3"
    listed = [l for l in items(r, "mcp_list_tools") if l.server_label == "exit"][0]
    assert listed.error is None and [t.name for t in listed.tools] == ["exit_tool0"]
    idle_and_clean(faulty_server, max_children=4)


def test_turn_limit_ends_the_response_incomplete(start, tmp_path):
    log = tmp_path / "calls.log"
    server = start({"tools": {"command": sys.executable, "args": [TOOL_SERVER, "stdio"],
                              "env": {"KILN_TEST_TOOL_LOG": str(log)}}},
                   "--max-tool-turns", "0")
    r = ask(server.openai(), [], "tools", "get_secret")
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_tool_turns"
    call = items(r, "mcp_call")[0]
    assert call.status == "incomplete" and call.output is None
    assert call.error.message == \
        "not called: the turn limit (--max-tool-turns 0) was reached"
    assert not log.exists()  # the tool never ran
    idle_and_clean(server, max_children=1)


def test_bad_config_file_is_a_cli_error(kiln_bin, qwen_path, tmp_path):
    bad = tmp_path / "mcp.json"
    bad.write_text('{"mcpServers": {"x": {"command": "a", "args": "b"}}}')
    r = subprocess.run([kiln_bin, "serve", qwen_path, "--port", "0", "--mcp-config", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"{bad}: mcpServers.x.args must be an array of strings" in r.stderr


def test_client_gone_mid_call_cancels_the_call(start, tmp_path):
    log = tmp_path / "server.log"
    hang = {**scripted("hang"), "env": {"KILN_TEST_MCP_LOG": str(log)}}
    server = start({"hang": hang}, "--mcp-timeout", "60")
    body = {"model": "qwen", "input": QUESTION, "stream": True, "max_output_tokens": 80,
            "temperature": 0,
            "tool_choice": {"type": "mcp", "server_label": "hang", "name": "hang_tool0"}}

    def entries():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def wait_for(key):
        deadline = time.time() + 10
        while not any(key in e for e in entries()) and time.time() < deadline:
            time.sleep(0.05)
        return [e[key] for e in entries() if key in e]

    lines = []
    with httpx.stream("POST", server.base_url + "/v1/responses", json=body, timeout=60) as r:
        for line in r.iter_lines():
            lines.append(line)
            if "response.mcp_call.in_progress" in line:
                # Still reading (leaving the loop can close the connection): once the server
                # has the call, leave.
                assert wait_for("call") == ["hang_tool0"]
                break
    assert "response.mcp_call.in_progress" in lines[-1], (lines, server.log())
    # kiln tells the server the call is cancelled long before the 60 s timeout.
    cancelled = wait_for("cancelled")
    assert len(cancelled) == 1 and cancelled[0]["reason"] == "cancelled", entries()
    idle_and_clean(server, max_children=1)


def chat_with_tools(kiln_bin, qwen_path, tmp_path, *args):
    log = tmp_path / "calls.log"
    config = tmp_path / "cli.json"
    config.write_text(json.dumps({"mcpServers": {"tools": {
        "command": sys.executable, "args": [TOOL_SERVER, "stdio"],
        "env": {"KILN_TEST_TOOL_LOG": str(log)}}}}))
    r = subprocess.run([kiln_bin, "run", qwen_path, "--chat", "--mcp-config", str(config),
                        "--temp", "0", "-t", "2", "-n", "60", "-p", QUESTION, *args],
                       capture_output=True, text=True, timeout=120)
    return r, log


def test_chat_cli_runs_and_shows_tool_calls(kiln_bin, qwen_path, tmp_path):
    r, log = chat_with_tools(kiln_bin, qwen_path, tmp_path, "--tool-choice", "required")
    assert r.returncode == 0, r.stderr
    assert "kiln: mcp server 'tools': 2 tools" in r.stderr
    assert "[calling get_secret {}]\n" in r.stdout, r.stdout
    assert f"[get_secret returned] The secret code word is {SECRET}.\n" in r.stdout
    assert log.read_text().splitlines() == ["get_secret"]


def test_chat_cli_turn_limit(kiln_bin, qwen_path, tmp_path):
    r, log = chat_with_tools(kiln_bin, qwen_path, tmp_path, "--tool-choice", "required",
                             "--max-tool-turns", "0")
    assert r.returncode == 0, r.stderr
    assert "[not calling: the turn limit (--max-tool-turns 0) was reached]" in r.stdout
    assert not log.exists()


def test_chat_cli_mcp_config_needs_chat(kiln_bin, qwen_path, tmp_path):
    config = tmp_path / "cli.json"
    config.write_text('{"mcpServers": {}}')
    r = subprocess.run([kiln_bin, "run", qwen_path, "--mcp-config", str(config), "-p", "x"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--mcp-config needs --chat" in r.stderr
