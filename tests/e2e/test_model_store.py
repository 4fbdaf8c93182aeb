# The model store end to end: `kiln pull` against a fake hub on loopback (fake_hub.py,
# pointed at with HF_ENDPOINT) into a store under a temporary KILN_HOME, then the
# commands that use the store: list, show, run, create, cp, rm, ps. Downloads are checked
# bit for bit against hashlib's sha256 of the file the hub served.
import hashlib
import os
import resource
import subprocess

import numpy as np
import pytest

import gguf
from fake_hub import COMMIT, FakeHub, sha256_of

REPO = "test/smol"
QUANT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def kiln(kiln_bin, home, *args, hub=None, timeout=120, env_extra=None, preexec_fn=None):
    env = dict(os.environ, KILN_HOME=str(home))
    env.pop("HF_TOKEN", None)
    if hub is not None:
        env["HF_ENDPOINT"] = hub.endpoint
    env.update(env_extra or {})
    return subprocess.run([kiln_bin, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, preexec_fn=preexec_fn)


def tiny_gguf(path, arch="llama"):
    """A metadata-only GGUF (one small tensor): enough for the store's checks."""
    w = gguf.GGUFWriter(str(path), arch)
    w.add_file_type(3)
    w.add_tensor("t", np.zeros(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def split_gguf(directory, stem, parts=2):
    """A metadata-only GGUF in `parts` parts, as gguf-py splits one (gguf-split's names and
    split.* keys): STEM-00001-of-0000N.gguf, ... in order."""
    w = gguf.GGUFWriter(str(directory / f"{stem}.gguf"), "llama", split_max_tensors=1)
    w.add_file_type(3)
    for i in range(parts):
        w.add_tensor(f"t{i}", np.full(32 * (i + 1), i, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    found = sorted(directory.glob(f"{stem}-*-of-*.gguf"))
    assert len(found) == parts
    return found


def store_names(kiln_bin, home):
    r = kiln(kiln_bin, home, "list")
    assert r.returncode == 0, r.stderr
    return [line.split()[0] for line in r.stdout.splitlines()[1:]]


@pytest.fixture(scope="module")
def hub(model_path, tmp_path_factory):
    files = tmp_path_factory.mktemp("hubfiles")
    h = FakeHub()
    h.add(REPO, QUANT_FILE, model_path)
    h.add(REPO, "README.md", tiny_gguf(files / "readme"))
    # Another quantization in the same repository: a different file, to show the choice.
    h.add(REPO, "SmolLM2-135M-Instruct.Q8_0.gguf", tiny_gguf(files / "q8.gguf"))
    h.add("test/tiny", "tiny-Q4_1.gguf", tiny_gguf(files / "tiny.gguf"))
    h.add("test/badsha", "tiny-Q4_1.gguf", tiny_gguf(files / "badsha.gguf"))
    h.wrong_sha.add(("test/badsha", "tiny-Q4_1.gguf"))
    h.add("test/gated", "tiny-Q4_1.gguf", tiny_gguf(files / "gated.gguf"))
    h.token["test/gated"] = "secret-token"
    h.add("test/mamba", "mamba-F32.gguf", tiny_gguf(files / "mamba.gguf", arch="mamba"))
    notgguf = files / "notes.gguf"
    notgguf.write_bytes(b"# just some text, not a model\n" * 100)
    h.add("test/text", "notes.gguf", notgguf)
    split1, split2 = split_gguf(files, "big-Q4_1")
    h.add("test/split", split1.name, split1)
    h.add("test/split", split2.name, split2)
    yield h
    h.close()


@pytest.fixture(scope="module")
def pulled(kiln_bin, hub, tmp_path_factory):
    """A store holding the 135M model, pulled once in 4 parallel ranges."""
    home = tmp_path_factory.mktemp("home")
    hub.ranges.clear()
    r = kiln(kiln_bin, home, "pull", f"hf.co/{REPO}:q4_1", hub=hub)
    assert r.returncode == 0, r.stderr + r.stdout
    ranges = [rng for p, rng in hub.ranges if p == QUANT_FILE]
    return home, r, ranges


def model_file(home, name):
    d = home / "models" / name.replace("/", "%2F").replace(":", "%3A")
    ggufs = [p for p in d.iterdir() if p.suffix == ".gguf"]
    assert len(ggufs) == 1, list(d.iterdir())
    return ggufs[0]


def test_pull_in_parallel_chunks_is_bit_exact(pulled, model_path):
    home, r, ranges = pulled
    name = f"hf.co/{REPO}:q4_1"
    assert f"pulled {name}" in r.stdout
    # Not a terminal: plain lines, one per percent, then the verification steps.
    assert "pulling manifest" in r.stdout and "verifying sha256 digest" in r.stdout
    assert f"pulling {QUANT_FILE}: 100%" in r.stdout and "success" in r.stdout
    assert len(ranges) == 4 and len(set(ranges)) == 4, ranges  # four distinct byte ranges
    assert sha256_of(model_file(home, name)) == sha256_of(model_path)


def test_list_show_run_by_name(kiln_bin, pulled, model_path):
    home, _, _ = pulled
    name = f"hf.co/{REPO}:q4_1"
    r = kiln(kiln_bin, home, "list")
    assert r.returncode == 0, r.stderr
    header, line = r.stdout.splitlines()[0], r.stdout.splitlines()[1]
    assert header.split() == ["NAME", "SIZE", "QUANT", "ARCH", "MODIFIED"]
    assert line.split()[:5] == [name, "98", "MB", "Q4_1", "llama"]

    show = kiln(kiln_bin, home, "show", name)
    assert show.returncode == 0, show.stderr
    assert "architecture         llama" in show.stdout
    assert "quantization         Q4_1" in show.stdout
    assert f"revision             {COMMIT}" in show.stdout
    assert f"sha256               {sha256_of(model_path)}" in show.stdout
    assert "Template" in show.stdout and "im_start" in show.stdout
    tmpl = kiln(kiln_bin, home, "show", name, "--template")
    assert tmpl.returncode == 0 and "im_start" in tmpl.stdout

    args = ["-p", "The capital of France is", "-n", "8", "--temp", "0", "-t", "2"]
    by_name = kiln(kiln_bin, home, "run", name, *args)
    by_path = kiln(kiln_bin, home, "run", model_path, *args)
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout == by_path.stdout and "Paris" in by_name.stdout
    # The text ends with a newline before the speed line, also through a pipe.
    merged = subprocess.run(f'"{kiln_bin}" run "{model_path}" {" ".join(args[:1])} "Hi" -n 4 --temp 0 2>&1',
                            shell=True, capture_output=True, text=True, timeout=120)
    assert "\nprompt: " in merged.stdout, merged.stdout

    info = kiln(kiln_bin, home, "info", name)
    assert info.returncode == 0 and "llama" in info.stdout, info.stderr

    missing = kiln(kiln_bin, home, "run", "no-such-model", "-p", "hi")
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"kiln: 'no-such-model' is neither a file nor a model in the store: model "
        f"'no-such-model:latest' not found; the store ({home}/models) holds: {name}")


def test_quant_selection_and_its_errors(kiln_bin, hub, tmp_path):
    r = kiln(kiln_bin, tmp_path, "pull", f"hf.co/{REPO}:Q2_K", hub=hub)
    assert r.returncode == 1
    assert f"hf.co/{REPO} has no GGUF file for quantization 'Q2_K' (available: Q4_1, Q8_0)" in r.stderr
    # OWNER/REPO/FILE.gguf names a file directly (here: the tiny Q8_0 one, a different file).
    r = kiln(kiln_bin, tmp_path, "pull", f"{REPO}/SmolLM2-135M-Instruct.Q8_0.gguf", hub=hub)
    assert r.returncode == 0, r.stderr
    assert store_names(kiln_bin, tmp_path) == [f"hf.co/{REPO}:Q8_0"]
    assert sha256_of(model_file(tmp_path, f"hf.co/{REPO}:Q8_0")) == hub.sha(hub.repos[REPO]["SmolLM2-135M-Instruct.Q8_0.gguf"])


def test_resume_after_the_connection_is_cut(kiln_bin, hub, model_path, tmp_path):
    size = os.path.getsize(model_path)
    # Within one pull: the connection drops at 30 MB and the retry continues from there.
    hub.ranges.clear()
    hub.cut_after, hub.cuts_left = 30_000_000, 1
    r = kiln(kiln_bin, tmp_path, "pull", f"hf.co/{REPO}:Q4_1", "--connections", "1", hub=hub)
    assert r.returncode == 0, r.stderr
    got = [rng for p, rng in hub.ranges if p == QUANT_FILE]
    assert got == [f"bytes=0-{size - 1}", f"bytes=30000000-{size - 1}"], got
    assert sha256_of(model_file(tmp_path, f"hf.co/{REPO}:Q4_1")) == sha256_of(model_path)

    # Across pulls: every attempt is cut, the pull fails, and what arrived stays for the next.
    home = tmp_path / "again"
    hub.ranges.clear()
    hub.cut_after, hub.cuts_left = 20_000_000, 4
    r = kiln(kiln_bin, home, "pull", f"hf.co/{REPO}:Q4_1", "--connections", "1", hub=hub)
    assert r.returncode == 1
    assert "pull again to resume" in r.stderr, r.stderr
    assert store_names(kiln_bin, home) == []
    partial = home / "models" / ".tmp" / "hf.co%2Ftest%2Fsmol%3AQ4_1.partial" / QUANT_FILE
    assert partial.stat().st_size == 80_000_000
    hub.ranges.clear()
    r = kiln(kiln_bin, home, "pull", f"hf.co/{REPO}:Q4_1", "--connections", "1", hub=hub)
    assert r.returncode == 0, r.stderr
    assert [rng for p, rng in hub.ranges if p == QUANT_FILE] == [f"bytes=80000000-{size - 1}"]
    assert sha256_of(model_file(home, f"hf.co/{REPO}:Q4_1")) == sha256_of(model_path)
    assert not partial.parent.exists()


def test_parallel_chunks_resume_their_own_ranges(kiln_bin, hub, model_path, tmp_path):
    size = os.path.getsize(model_path)
    chunk = (size + 3) // 4
    hub.ranges.clear()
    hub.cut_after, hub.cuts_left = 10_000_000, 2  # two of the four ranges drop at 10 MB
    r = kiln(kiln_bin, tmp_path, "pull", f"hf.co/{REPO}:Q4_1", hub=hub)
    assert r.returncode == 0, r.stderr
    got = [rng for p, rng in hub.ranges if p == QUANT_FILE]
    starts = sorted(int(g.split("=")[1].split("-")[0]) for g in got)
    assert len(got) == 6, got
    # Each retry starts 10 MB into the range it continues, and ends where that range ends.
    resumed = [s for s in starts if s % chunk != 0]
    assert len(resumed) == 2 and all(s % chunk == 10_000_000 for s in resumed), got
    assert sha256_of(model_file(tmp_path, f"hf.co/{REPO}:Q4_1")) == sha256_of(model_path)


def test_sha256_mismatch_is_refused_and_leaves_nothing(kiln_bin, hub, tmp_path):
    r = kiln(kiln_bin, tmp_path, "pull", "hf.co/test/badsha", hub=hub)
    assert r.returncode == 1
    assert "tiny-Q4_1.gguf: sha256 mismatch: the hub publishes " + "f" * 64 in r.stderr, r.stderr
    assert store_names(kiln_bin, tmp_path) == []
    assert os.listdir(tmp_path / "models" / ".tmp") == []


def test_gated_and_missing_give_clear_messages(kiln_bin, hub, tmp_path):
    r = kiln(kiln_bin, tmp_path, "pull", "hf.co/test/gated:Q4_1", hub=hub)
    assert r.returncode == 1
    assert "kiln: hf.co/test/gated/tiny-Q4_1.gguf: access denied (HTTP 401): the repository is gated or " \
           "private; accept its terms on the hub and set HF_TOKEN to an access token" in r.stderr, r.stderr
    wrong = kiln(kiln_bin, tmp_path, "pull", "hf.co/test/gated:Q4_1", hub=hub, env_extra={"HF_TOKEN": "nope"})
    assert "the token in HF_TOKEN was refused" in wrong.stderr
    ok = kiln(kiln_bin, tmp_path, "pull", "hf.co/test/gated:Q4_1", hub=hub,
              env_extra={"HF_TOKEN": "secret-token"})
    assert ok.returncode == 0, ok.stderr
    assert store_names(kiln_bin, tmp_path) == ["hf.co/test/gated:Q4_1"]

    r = kiln(kiln_bin, tmp_path, "pull", "hf.co/test/nothing-here:Q4_1", hub=hub)
    assert r.returncode == 1
    assert f"hf.co/test/nothing-here: repository not found on {hub.endpoint} (HTTP 404)" in r.stderr
    r = kiln(kiln_bin, tmp_path, "pull", "test/tiny/other.gguf", hub=hub)
    assert r.returncode == 1
    assert "hf.co/test/tiny has no file 'other.gguf' (its GGUF files: tiny-Q4_1.gguf)" in r.stderr
    r = kiln(kiln_bin, tmp_path, "pull", hub.endpoint + "/files/absent.gguf", hub=hub)
    assert r.returncode == 1 and "not found (HTTP 404)" in r.stderr


def test_what_kiln_cannot_run_is_refused(kiln_bin, hub, tmp_path):
    r = kiln(kiln_bin, tmp_path, "pull", "hf.co/test/mamba", hub=hub)
    assert r.returncode == 1
    assert "kiln cannot run architecture 'mamba' (supported: llama, qwen2, qwen3, gemma3)" in r.stderr, r.stderr
    r = kiln(kiln_bin, tmp_path, "pull", "test/text/notes.gguf", hub=hub)
    assert r.returncode == 1
    assert "test/text/notes.gguf is not a model kiln can run" in r.stderr, r.stderr
    assert store_names(kiln_bin, tmp_path) == []
    assert os.listdir(tmp_path / "models" / ".tmp") == []


def test_url_and_split_sources(kiln_bin, hub, tmp_path):
    r = kiln(kiln_bin, tmp_path, "pull", hub.endpoint + "/files/tiny-Q4_1.gguf", hub=hub)
    assert r.returncode == 0, r.stderr
    r = kiln(kiln_bin, tmp_path, "pull", "hf.co/test/split:Q4_1", hub=hub)
    assert r.returncode == 0, r.stderr
    d = tmp_path / "models" / "hf.co%2Ftest%2Fsplit%3AQ4_1"
    files = hub.repos["test/split"]
    for p, local in files.items():
        assert sha256_of(d / p) == sha256_of(local)
    assert store_names(kiln_bin, tmp_path) == ["hf.co/test/split:Q4_1", "tiny-Q4_1:latest"]
    # The store's copy opens as one model, every part's tensors in it.
    info = kiln(kiln_bin, tmp_path, "info", "hf.co/test/split:Q4_1", "--json")
    assert info.returncode == 0, info.stderr
    assert '"parts": 2' in info.stdout and '"count": 2' in info.stdout


def test_import_of_a_split_gguf_takes_every_part(kiln_bin, tmp_path):
    parts = split_gguf(tmp_path, "local-Q4_1", parts=3)
    home = tmp_path / "home"
    r = kiln(kiln_bin, home, "pull", str(parts[0]))
    assert r.returncode == 0, r.stderr
    assert store_names(kiln_bin, home) == ["local-Q4_1:latest"]
    d = home / "models" / "local-Q4_1%3Alatest"
    for p in parts:
        assert sha256_of(d / p.name) == sha256_of(p)
    show = kiln(kiln_bin, home, "show", "local-Q4_1")
    assert show.returncode == 0, show.stderr
    # A Modelfile FROM the first part takes every part too.
    (tmp_path / "Modelfile").write_text(f"FROM {parts[0]}\nPARAMETER temperature 0.5\n")
    r = kiln(kiln_bin, home, "create", "variant", "-f", str(tmp_path / "Modelfile"))
    assert r.returncode == 0, r.stderr
    for p in parts:
        assert sha256_of(home / "models" / "variant%3Alatest" / p.name) == sha256_of(p)
    assert kiln(kiln_bin, home, "show", "variant").returncode == 0
    # A later part is not a model of its own.
    r = kiln(kiln_bin, home, "pull", str(parts[1]))
    assert r.returncode != 0
    assert "part 2 of a split GGUF of 3 parts; open the first part" in r.stderr


def test_create_and_run_with_its_defaults(kiln_bin, pulled, model_path, tmp_path):
    home, _, _ = pulled
    base = f"hf.co/{REPO}:q4_1"
    mf = tmp_path / "Modelfile"
    mf.write_text(f'FROM {base}\nPARAMETER temperature 0\nPARAMETER num_predict 6\n'
                  'SYSTEM """You are a pirate.\nAnswer briefly."""\n')
    r = kiln(kiln_bin, home, "create", "pirate", "-f", str(mf))
    assert r.returncode == 0, r.stderr
    assert f"created 'pirate:latest' from '{base}'" in r.stdout
    # The variant holds no weights of its own.
    assert [p.name for p in (home / "models" / "pirate%3Alatest").iterdir()] == ["manifest.json"]

    chat = ["--chat", "-p", "Hello, who are you?", "-t", "2"]
    by_variant = kiln(kiln_bin, home, "run", "pirate", *chat)
    assert by_variant.returncode == 0, by_variant.stderr
    explicit = kiln(kiln_bin, home, "run", model_path, *chat, "--temp", "0", "-n", "6",
                    "--system", "You are a pirate.\nAnswer briefly.")
    plain = kiln(kiln_bin, home, "run", model_path, *chat, "--temp", "0", "-n", "6")
    assert by_variant.stdout == explicit.stdout
    assert by_variant.stdout != plain.stdout  # the system prompt made a difference
    # num_predict 6 cut the answer: allowed more tokens, the same answer goes on.
    longer = kiln(kiln_bin, home, "run", model_path, *chat, "--temp", "0", "-n", "12",
                  "--system", "You are a pirate.\nAnswer briefly.")
    assert longer.stdout != by_variant.stdout and longer.stdout.startswith(by_variant.stdout.rstrip("\n"))
    # A flag on the command line wins over the stored default.
    assert kiln(kiln_bin, home, "run", "pirate", *chat, "-n", "12").stdout == longer.stdout

    show = kiln(kiln_bin, home, "show", "pirate", "--modelfile")
    assert show.returncode == 0
    assert "PARAMETER temperature 0" in show.stdout and '"""You are a pirate.\nAnswer briefly."""' in show.stdout
    params = kiln(kiln_bin, home, "show", "pirate", "--parameters")
    assert params.stdout.split() == ["num_predict", "6", "temperature", "0.0"]

    bad = tmp_path / "Bad"
    bad.write_text(f"FROM {base}\nPARAMETER temprature 0\n")
    r = kiln(kiln_bin, home, "create", "broken", "-f", str(bad))
    assert r.returncode == 1
    assert r.stderr.startswith(f"kiln: {bad}: line 2, column 11: unknown parameter 'temprature'"), r.stderr

    # Removing the base of a variant is refused; removing the variant first works.
    r = kiln(kiln_bin, home, "rm", base)
    assert r.returncode == 1 and "is the base of pirate:latest" in r.stderr
    assert kiln(kiln_bin, home, "rm", "pirate").returncode == 0
    assert "pirate:latest" not in store_names(kiln_bin, home)


def test_cp_and_rm(kiln_bin, pulled):
    home, _, _ = pulled
    base = f"hf.co/{REPO}:q4_1"
    r = kiln(kiln_bin, home, "cp", base, "smol:copy")
    assert r.returncode == 0, r.stderr
    assert "smol:copy" in store_names(kiln_bin, home)
    src, dst = model_file(home, base), model_file(home, "smol:copy")
    assert os.stat(src).st_ino == os.stat(dst).st_ino  # the same bytes, hard-linked
    assert kiln(kiln_bin, home, "rm", "smol:copy").returncode == 0
    assert store_names(kiln_bin, home) == [base]
    r = kiln(kiln_bin, home, "rm", "smol:copy")
    assert r.returncode == 1 and f"model 'smol:copy' not found; the store ({home}/models) holds: {base}" in r.stderr


def test_disk_full_is_an_error_not_a_half_model(kiln_bin, hub, model_path, tmp_path):
    """RLIMIT_FSIZE (ulimit -f) makes writes past 40 MB fail with EFBIG, as a full disk
    fails them with ENOSPC: the pull must end with the system's reason and no model."""
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000_000, 40_000_000))

    r = kiln(kiln_bin, tmp_path, "pull", f"hf.co/{REPO}:Q4_1", "--connections", "1", hub=hub,
             preexec_fn=limit)
    assert r.returncode == 1
    assert "File too large" in r.stderr, r.stderr
    assert store_names(kiln_bin, tmp_path) == []
    # With room again, the pull resumes and completes.
    hub.ranges.clear()
    r = kiln(kiln_bin, tmp_path, "pull", f"hf.co/{REPO}:Q4_1", "--connections", "1", hub=hub)
    assert r.returncode == 0, r.stderr
    assert [rng for p, rng in hub.ranges if p == QUANT_FILE][0].startswith("bytes=40000000-")
    assert sha256_of(model_file(tmp_path, f"hf.co/{REPO}:Q4_1")) == sha256_of(model_path)


def test_ps_reads_a_servers_api_ps(kiln_bin, hub, tmp_path):
    port = hub.server.server_address[1]
    hub.ps_reply = {"models": [{"name": "smol:latest", "model": "smol:latest", "size": 98_000_000,
                                "digest": "ab" * 32, "details": {"format": "gguf"},
                                "expires_at": "2026-12-05T08:00:00Z", "size_vram": 0}]}
    r = kiln(kiln_bin, tmp_path, "ps", "--port", str(port))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "PROCESSOR", "UNTIL"]
    assert lines[1].split() == ["smol:latest", "98", "MB", "100%", "CPU", "2026-12-05T08:00:00Z"]
    # No server at all: one clear line.
    hub.ps_reply = None
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    r = kiln(kiln_bin, tmp_path, "ps", "--port", str(free))
    assert r.returncode == 1
    assert f"kiln: no kiln server answers at http://127.0.0.1:{free}" in r.stderr
