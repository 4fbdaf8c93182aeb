# Fixtures for the `kiln serve` e2e tests (test_serve*.py): one shared live server for the
# module-independent checks, and a factory for tests that need a server of their own (a tiny
# queue, a drain). kiln_bin and model_path come from tests/conftest.py.
import subprocess

import pytest

from kiln_server import KilnServer

API_KEY = "kiln-test-key"


@pytest.fixture(scope="session")
def server(kiln_bin, model_path, tmp_path_factory):
    s = KilnServer(kiln_bin, model_path, tmp_path_factory.mktemp("serve") / "serve.log",
                   extra_args=["--max-body-size", "256KiB", "--served-model-name", "smollm2",
                               "--served-model-name", "smollm2-alias"],
                   api_key=API_KEY)
    yield s
    code = s.terminate()
    assert code == 0, s.log()


@pytest.fixture
def start_server(kiln_bin, model_path, tmp_path):
    """start_server(*extra_args) -> a KilnServer of the test's own, stopped afterwards."""
    started = []

    def start(*extra_args, api_key=None):
        s = KilnServer(kiln_bin, model_path, tmp_path / f"serve{len(started)}.log",
                       extra_args=["--served-model-name", "smollm2", *extra_args],
                       api_key=api_key)
        started.append(s)
        return s

    yield start
    for s in started:
        s.terminate()


@pytest.fixture(scope="session")
def f32_model(kiln_bin, model_path, tmp_path_factory):
    """An F32 copy of the model. NOTE: with quantized weights, batching a request with others
    changes the summation order enough to flip a greedy token now and then
    (docs/architecture.md); with F32 weights the arithmetic is continuous and greedy text
    must not change, so tests that compare batched against alone use this copy."""
    out = tmp_path_factory.mktemp("f32") / "model-f32.gguf"
    r = subprocess.run([kiln_bin, "quantize", model_path, str(out), "--type", "F32", "-q"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return str(out)
