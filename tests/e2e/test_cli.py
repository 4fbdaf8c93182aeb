# The `kiln` command line as a user meets it: real generation, and one clear line with a
# non-zero exit for every kind of bad input.
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
