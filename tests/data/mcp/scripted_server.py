#!/usr/bin/env python3
"""A raw MCP stdio server whose tools/call misbehaves on purpose, for kiln's MCP client tests.

usage: scripted_server.py MODE [--version V] [--pages N] [--prefix P]
MODE decides how tools/call is answered:
  echo       a text result: "echo: " + the arguments as JSON
  error      a result with isError true
  hang       never answers (and goes on reading: a cancellation is still seen)
  exit       exits (status 3) without answering
  malformed  a result whose content is not a list
  unknown    a JSON-RPC error -32602, as servers answer an unknown tool
  garbage    a line that is not JSON, then nothing
  sse_noise  a notification before the answer (stdio servers may log progress)
--version: the protocolVersion initialize answers (default: the client's).
--pages: tools/list in N pages joined by nextCursor (default 1), one tool a page.
--prefix: put before the tools' names (tool0, tool1, ...), so several servers differ.
With $KILN_TEST_MCP_LOG set, each tools/call received and each notifications/cancelled is
appended to that file as a JSON line: {"call": NAME} or {"cancelled": PARAMS}.
Written with the standard library only: no SDK in the way of the faults.
"""
import json
import os
import sys


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def note(entry):
    log = os.environ.get("KILN_TEST_MCP_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def main():
    args = sys.argv[1:]
    mode = args[0]
    version = args[args.index("--version") + 1] if "--version" in args else None
    pages = int(args[args.index("--pages") + 1]) if "--pages" in args else 1
    prefix = args[args.index("--prefix") + 1] if "--prefix" in args else ""
    for line in sys.stdin:
        msg = json.loads(line)
        method, mid = msg.get("method"), msg.get("id")
        if mid is None:
            if method == "notifications/cancelled":
                note({"cancelled": msg.get("params")})
            continue  # notifications
        params = msg.get("params") or {}
        if method == "initialize":
            send({"jsonrpc": "2.0", "id": mid, "result": {
                "protocolVersion": version or params["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "scripted", "version": "1"}}})
        elif method == "tools/list":
            page = int(params.get("cursor", "0"))
            result = {"tools": [{"name": f"{prefix}tool{page}", "description": f"Tool number {page}.",
                                 "inputSchema": {"type": "object",
                                                 "properties": {"x": {"type": "string"}}}}]}
            if page + 1 < pages:
                result["nextCursor"] = str(page + 1)
            send({"jsonrpc": "2.0", "id": mid, "result": result})
        elif method == "tools/call":
            note({"call": params.get("name")})
            if mode == "echo" or mode == "sse_noise":
                if mode == "sse_noise":
                    send({"jsonrpc": "2.0", "method": "notifications/message",
                          "params": {"level": "info", "data": "working"}})
                text = "echo: " + json.dumps(params.get("arguments"), sort_keys=True)
                send({"jsonrpc": "2.0", "id": mid,
                      "result": {"content": [{"type": "text", "text": text}]}})
            elif mode == "error":
                send({"jsonrpc": "2.0", "id": mid, "result": {
                    "content": [{"type": "text", "text": "the tool failed"}], "isError": True}})
            elif mode == "hang":
                continue
            elif mode == "exit":
                sys.exit(3)
            elif mode == "malformed":
                send({"jsonrpc": "2.0", "id": mid, "result": {"content": "not a list"}})
            elif mode == "unknown":
                send({"jsonrpc": "2.0", "id": mid,
                      "error": {"code": -32602, "message": f"Unknown tool: {params.get('name')}"}})
            elif mode == "garbage":
                sys.stdout.write("this is not json\n")
                sys.stdout.flush()
        else:
            send({"jsonrpc": "2.0", "id": mid,
                  "error": {"code": -32601, "message": f"Method not found: {method}"}})


if __name__ == "__main__":
    main()
