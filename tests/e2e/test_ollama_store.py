# `kiln serve` with no model serves the store (KILN_HOME) and manages it through Ollama's
# API with the official client: pull from a fake hub (fake_hub.py, via HF_ENDPOINT) with
# streamed progress, then chat with the pulled model, copy it, create a variant with a system
# prompt and parameters, delete; errors in Ollama's shape.
import os

import ollama
import pytest

from fake_hub import FakeHub
from kiln_server import KilnServer

REPO = "test/smol"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def hub(model_path):
    h = FakeHub()
    h.add(REPO, FILE, model_path)
    yield h
    h.close()


@pytest.fixture(scope="module")
def store_server(kiln_bin, hub, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    env = {"KILN_HOME": str(home), "HF_ENDPOINT": hub.endpoint}
    s = KilnServer(kiln_bin, None, tmp_path_factory.mktemp("serve") / "serve.log", env=env,
                   wait_for_model=False)
    yield s
    assert s.terminate() == 0, s.log()


def test_pull_chat_copy_create_delete(store_server, model_path):
    c = ollama.Client(host=store_server.base_url, timeout=120)
    assert c.list().models == []

    parts = list(c.pull(f"hf.co/{REPO}:Q4_1", stream=True))
    statuses = [p.status for p in parts]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success", statuses
    transfers = [p for p in parts if p.total]
    assert transfers and transfers[-1].completed == transfers[-1].total == os.path.getsize(model_path)
    names = [m.model for m in c.list().models]
    assert len(names) == 1
    name = names[0]
    assert c.list().models[0].digest.startswith("sha256:")

    r = c.chat(model=name, messages=[{"role": "user", "content": "Hi"}],
               options={"temperature": 0, "num_predict": 8})
    assert r.done and r.eval_count > 0 and r.load_duration > 0
    assert [m.model for m in c.ps().models] == [name]

    c.copy(name, "smol-copy")
    assert sorted(m.model for m in c.list().models) == sorted([name, "smol-copy:latest"])
    r2 = c.chat(model="smol-copy", messages=[{"role": "user", "content": "Hi"}],
                options={"temperature": 0, "num_predict": 8})
    assert r2.message.content == r.message.content

    c.create(model="pirate", from_=name, system="You are a pirate. Answer as one.",
             parameters={"temperature": 0, "num_predict": 5})
    shown = c.show("pirate")
    assert "You are a pirate" in shown.modelfile and "temperature 0" in shown.parameters
    # A system prompt over several lines, with quotes, survives create and show whole.
    system = 'Line one.\nSay "arr".'
    c.create(model="pirate2", from_=name, system=system)
    shown = store_server.post("/api/show", {"model": "pirate2"}).json()
    assert shown["system"] == system
    assert 'SYSTEM """' + system + '"""' in shown["modelfile"]
    r3 = c.chat(model="pirate", messages=[{"role": "user", "content": "Hi"}])
    assert r3.eval_count <= 5  # the variant's num_predict
    ref = store_server.openai().chat.completions.create(
        model=name, max_tokens=1, messages=[{"role": "system",
                                             "content": "You are a pirate. Answer as one."},
                                            {"role": "user", "content": "Hi"}])
    assert r3.prompt_eval_count == ref.usage.prompt_tokens  # the variant's SYSTEM was used

    c.delete("smol-copy")
    assert "smol-copy:latest" not in [m.model for m in c.list().models]
    with pytest.raises(ollama.ResponseError) as e:
        c.chat(model="smol-copy", messages=[{"role": "user", "content": "Hi"}])
    assert e.value.status_code == 404


def test_store_errors_in_ollamas_shape(store_server):
    c = ollama.Client(host=store_server.base_url, timeout=60)
    with pytest.raises(ollama.ResponseError) as e:
        c.pull("hf.co/test/nothing-here:Q4_1", stream=False)
    assert e.value.status_code == 400 and "404" in e.value.error or "not found" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        list(c.pull("hf.co/test/nothing-here:Q4_1", stream=True))
    with pytest.raises(ollama.ResponseError) as e:
        c.delete("never-pulled")
    assert e.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as e:
        c.create(model="broken", from_="never-pulled")
    assert e.value.status_code in (400, 404) and "never-pulled" in e.value.error
