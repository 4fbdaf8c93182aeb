# The soak test's two-minute CI run (bench/soak.sh; the one-hour run is in
# docs/operations.md): mixed streamed and non-streamed traffic on both APIs with n = 2,
# shared prefixes, abandoned clients and bursts above --max-queue, after which the script
# checks the request accounting against /metrics, KV blocks, file descriptors and RSS. Here
# the same invariants are asserted from its JSON, so a failure names the one that broke.
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DURATION = float(os.environ.get("KILN_SOAK_SECONDS", "120"))


def test_soak(kiln_bin, model_path, tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench/soak.py"), "--kiln", kiln_bin, "--model", model_path,
         "--duration", str(DURATION), "--json", str(out), "--log", str(tmp_path / "server.log")],
        capture_output=True, text=True, timeout=DURATION + 300)
    print(run.stdout)
    report = json.loads(out.read_text())
    f = report["figures"]
    assert report["failures"] == [], report["failures"]
    assert f["sent"] == f["completed"] + f["refused"] + f["abandoned"]
    assert f["sent"] == f["server_stop"] + f["server_length"] + f["server_abort"] + f["server_rejected"]
    assert f["completed"] <= f["server_stop"] + f["server_length"]
    assert 0 < f["refused"] <= f["server_rejected"]
    assert f["abandoned"] > 0 and f["server_abort"] > 0
    assert f["streamed"] > 0 and f["n2"] > 0 and f["anthropic"] > 0
    assert f["kv_cache_usage_end"] == 0
    assert f["fds_end"] <= f["fds_start"]
    assert max(f["rss_max_mib"], f["rss_end_mib"]) - f["rss_after_warmup_mib"] < 32
    assert all(f["checks"].values()), f["checks"]
    assert run.returncode == 0, run.stdout + run.stderr
