# Shared pytest fixtures: the kiln binary and the default model, from the environment that
# scripts/test.sh sets (KILN_BIN, KILN_MODEL).
import os
import shutil

import pytest


@pytest.fixture(scope="session")
def kiln_bin():
    path = os.environ.get("KILN_BIN") or shutil.which("kiln")
    if not path or not os.path.exists(path):
        pytest.skip("KILN_BIN is not set to a built kiln binary")
    return path


@pytest.fixture(scope="session")
def model_path():
    path = os.environ.get("KILN_MODEL")
    if not path or not os.path.exists(path):
        pytest.skip("KILN_MODEL is not set to the SmolLM2 GGUF (scripts/fetch_model.sh)")
    return path
