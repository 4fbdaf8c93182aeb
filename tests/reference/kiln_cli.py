"""Running the `kiln` binary from the reference tests (shared by test_llama_logits.py and
test_weight_types.py). Environment:

  KILN_BIN      path to the kiln binary; tests that need it skip when it is unset
  KILN_THREADS  optional --threads value passed to `kiln logits`
  KILN_TIMEOUT  optional per-command timeout in seconds (default 600)
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Any, Sequence

import pytest

_help_cache: dict[str, str] = {}


def _timeout() -> float:
    return float(os.environ.get("KILN_TIMEOUT", "600"))


def kiln_bin() -> str:
    """The kiln binary, or skip when KILN_BIN is unset. A set but wrong path is a failure."""
    path = os.environ.get("KILN_BIN")
    if not path:
        pytest.skip("KILN_BIN is not set (path to the kiln binary)")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"KILN_BIN={path!r} is not an executable file")
    return path


def require_subcommand(name: str) -> str:
    """Skip when the binary has no `name` subcommand; returns the binary path."""
    path = kiln_bin()
    if path not in _help_cache:
        p = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60)
        _help_cache[path] = p.stdout + p.stderr
    if re.search(rf"^\s*{re.escape(name)}\b", _help_cache[path], re.M):
        return path
    p = subprocess.run([path, name, "--help"], capture_output=True, text=True, timeout=60)
    if p.returncode == 0:
        return path
    pytest.skip(f"{path} has no `{name}` subcommand yet (`kiln --help` does not list it)")


def _run(cmd: Sequence[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=_timeout(), env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"timed out after {_timeout():.0f}s: {' '.join(cmd)}")
    if p.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` exited with {p.returncode}\n--- stderr (tail) ---\n{p.stderr[-3000:]}"
                    f"\n--- stdout (head) ---\n{p.stdout[:2000]}")
    return p


def kiln_logits(model: str, ids: Sequence[int], n: int = 0, isa: str | None = None,
                kv_dtype: str = "f16") -> dict[str, Any]:
    """`kiln logits MODEL --ids ... [-n N] --kv-cache-dtype KV` -> {"prompt_ids", "logits",
    "generated"}, validated. isa caps kiln's kernel instruction set
    (KILN_ISA=scalar|avx2|avx512); kv_dtype is the KV cache element type (f32|f16|bf16; f16
    is kiln's default), which the reference must round K and V to as well."""
    binary = require_subcommand("logits")
    cmd = [binary, "logits", str(model), "--ids", ",".join(str(int(i)) for i in ids),
           "--kv-cache-dtype", kv_dtype]
    if n:
        cmd += ["-n", str(n)]
    if os.environ.get("KILN_THREADS"):
        cmd += ["--threads", os.environ["KILN_THREADS"]]
    env = dict(os.environ, KILN_ISA=isa) if isa else None
    p = _run(cmd, env)
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        pytest.fail(f"`kiln logits` stdout is not one JSON object ({e}); stdout head:\n{p.stdout[:2000]}")
    for key in ("prompt_ids", "logits", "generated"):
        if key not in out:
            pytest.fail(f"`kiln logits` JSON lacks {key!r}; keys: {sorted(out)}")
    if [int(i) for i in out["prompt_ids"]] != [int(i) for i in ids]:
        pytest.fail(f"`kiln logits` echoed prompt_ids {out['prompt_ids'][:20]}... != sent {list(ids)[:20]}...")
    return out


def kiln_quantize(src: str, dst: str, qtype: str) -> None:
    binary = require_subcommand("quantize")
    _run([binary, "quantize", str(src), str(dst), "--type", qtype])
    if not os.path.isfile(dst):
        pytest.fail(f"`kiln quantize ... --type {qtype}` exited 0 but wrote no {dst}")
