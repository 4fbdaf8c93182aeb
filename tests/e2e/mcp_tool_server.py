"""An MCP tool server written with the official `mcp` SDK (its MCPServer, FastMCP before
mcp 2), for kiln's MCP client tests (test_responses_mcp.py).

usage: mcp_tool_server.py stdio | mcp_tool_server.py http PORT

Tools: get_secret() returns a string the model cannot guess (so an answer that holds it
shows the tool really ran); add(a, b) adds two integers. Each call is appended to the file
named by $KILN_TEST_TOOL_LOG, when set, so a test can tell whether a tool ran.
"""
import os
import sys

from mcp.server.mcpserver import MCPServer

SECRET = "PURPLE-ELEPHANT-42"

server = MCPServer("kiln-test-tools")


def note(call):
    path = os.environ.get("KILN_TEST_TOOL_LOG")
    if path:
        with open(path, "a") as f:
            f.write(call + "\n")


@server.tool()
def get_secret() -> str:
    """Return the secret code word."""
    note("get_secret")
    return f"The secret code word is {SECRET}."


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    note(f"add {a} {b}")
    return a + b


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
