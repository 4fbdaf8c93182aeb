# The `kiln` command line as a user meets it: real generation, and one clear line with a
# non-zero exit for every kind of bad input.
import json
import subprocess


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


def test_run_greedy_is_sensible_and_deterministic(kiln_bin, model_path):
    args = [kiln_bin, "run", model_path, "-p", "The capital of France is", "-n", "12",
            "--temp", "0", "-t", "2"]
    first = run(args)
    assert first.returncode == 0, first.stderr
    assert "Paris" in first.stdout
    assert "tokens/s" in first.stderr
    again = run(args)
    assert again.stdout == first.stdout


def test_run_sampling_with_seed_is_reproducible(kiln_bin, model_path):
    args = [kiln_bin, "run", model_path, "-p", "Once upon a time", "-n", "16", "--temp", "0.9",
            "--seed", "7"]
    assert run(args).stdout == run(args).stdout


def test_missing_model_is_one_clear_line(kiln_bin, tmp_path):
    missing = tmp_path / "nope.gguf"
    r = run([kiln_bin, "run", str(missing), "-p", "hi"])
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and str(missing) in lines[0], r.stderr


def test_not_a_gguf_file(kiln_bin, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a model" * 10)
    r = run([kiln_bin, "run", str(bad), "-p", "hi"])
    assert r.returncode != 0
    assert str(bad) in r.stderr and "Traceback" not in r.stderr


def test_truncated_model(kiln_bin, model_path, tmp_path):
    cut = tmp_path / "cut.gguf"
    with open(model_path, "rb") as f:
        cut.write_bytes(f.read(3_000_000))
    r = run([kiln_bin, "run", str(cut), "-p", "hi"])
    assert r.returncode != 0
    assert str(cut) in r.stderr


def test_prompt_longer_than_context(kiln_bin, model_path):
    r = run([kiln_bin, "run", model_path, "-p", "word " * 100, "-c", "32", "-n", "4"])
    assert r.returncode != 0
    assert "context" in r.stderr


def test_bad_flags(kiln_bin, model_path):
    for args in (["--temp", "-1"], ["--top-p", "2"], ["-n", "abc"], ["--no-such-flag"]):
        r = run([kiln_bin, "run", model_path, "-p", "hi", *args])
        assert r.returncode != 0, args
        assert r.stderr.strip(), args


def test_bench_offline_engine_run_accounts_for_every_forward_pass(kiln_bin, model_path):
    # 4 requests of 32 random prompt tokens and exactly 8 output tokens, 2 at a time. Each
    # request's forward passes compute its prompt and then every output token but the last
    # (which is sampled, never fed back), so the two kinds of pass together computed
    # prompt + output - requests tokens; at least one pass carried prompts, and each
    # request's seven later tokens needed at least seven decode-only passes.
    r = run([kiln_bin, "bench", "offline", model_path, "-t", "2", "--requests", "4",
             "--concurrency", "2", "-p", "32", "-n", "8", "--json"])
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["failed"] == 0 and j["output_tokens"] == 4 * 8, j
    decode, prompt = j["decode_steps"], j["prompt_steps"]
    computed = j["prompt_tokens"] - j["cached_prompt_tokens"] + j["output_tokens"] - 4
    assert decode["tokens"] + prompt["tokens"] == computed, j
    assert prompt["steps"] >= 1 and decode["steps"] >= 7, j
    assert decode["seconds"] > 0 and prompt["seconds"] > 0, j
    steps = decode["steps"] + prompt["steps"]
    assert abs(j["tokens_per_step"] * steps - computed) < 1e-6 * computed, j

    # The text report names both kinds.
    r = run([kiln_bin, "bench", "offline", model_path, "-t", "2", "--requests", "2",
             "--concurrency", "2", "-p", "16", "-n", "4"])
    assert r.returncode == 0, r.stderr
    assert "decode-only" in r.stdout and "with prompt tokens" in r.stdout, r.stdout
