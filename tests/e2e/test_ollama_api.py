# Ollama's REST API on `kiln serve`, driven by the official `ollama` Python client: chat and
# generate (streamed and not) against the same request through the OpenAI API, listings
# checked against the GGUF files (read with the `gguf` package), keep-alive and reloading,
# two models served at once with eviction, and errors in Ollama's shape.
import json
import os
import threading
import time

import gguf
import httpx
import jsonschema
import ollama
import pytest

from kiln_server import KilnServer, metric, metric_values

SMOL = "smollm2"
QWEN = "qwen2.5-coder-0.5b-instruct-q4_k_m"
GREEDY = {"temperature": 0, "num_predict": 12}


@pytest.fixture(scope="module")
def qwen_path():
    path = os.environ.get("KILN_MODEL_QWEN2")
    if not path:
        pytest.skip("KILN_MODEL_QWEN2 is not set")
    return path


@pytest.fixture(scope="module")
def two_models(kiln_bin, model_path, qwen_path, tmp_path_factory):
    """SmolLM2 loaded at start, Qwen loaded when first asked for."""
    s = KilnServer(kiln_bin, model_path, tmp_path_factory.mktemp("ollama") / "serve.log",
                   extra_args=[qwen_path, "--served-model-name", SMOL])
    yield s
    assert s.terminate() == 0, s.log()


def client(server):
    return ollama.Client(host=server.base_url, timeout=120)


def gguf_string(path, key):
    field = gguf.GGUFReader(path).fields[key]
    return bytes(field.parts[field.data[0]]).decode()


def test_list_shows_both_models_with_their_files_details(two_models, model_path, qwen_path):
    models = {m.model: m for m in client(two_models).list().models}
    assert set(models) == {SMOL, QWEN}
    assert models[SMOL].size == os.path.getsize(model_path)
    assert models[QWEN].size == os.path.getsize(qwen_path)
    assert models[SMOL].details.family == gguf_string(model_path, "general.architecture")
    assert models[QWEN].details.family == "qwen2"
    assert models[QWEN].details.quantization_level == "Q4_K_M"
    assert models[QWEN].details.format == "gguf"


def test_chat_matches_the_openai_api_streamed_or_not(two_models):
    messages = [{"role": "user", "content": "Name a color."}]
    whole = client(two_models).chat(model=SMOL, messages=messages, options=GREEDY)
    parts = list(client(two_models).chat(model=SMOL, messages=messages, options=GREEDY,
                                         stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    streamed = "".join(p.message.content for p in parts)
    # The same sampling through the OpenAI API (Ollama's defaults: top_k 40, top_p 0.9,
    # repeat_penalty 1.1; greedy here).
    ref = two_models.openai().chat.completions.create(
        model=SMOL, messages=messages, temperature=0, max_tokens=12, top_p=0.9,
        extra_body={"top_k": 40, "repetition_penalty": 1.1})
    assert whole.message.role == "assistant"
    assert whole.message.content == streamed == ref.choices[0].message.content
    assert whole.done_reason == parts[-1].done_reason == ref.choices[0].finish_reason
    assert whole.prompt_eval_count == ref.usage.prompt_tokens
    assert whole.eval_count == ref.usage.completion_tokens == 12
    assert whole.total_duration >= whole.eval_duration > 0
    assert whole.prompt_eval_duration > 0


def test_generate_returns_a_context_that_continues_the_conversation(two_models):
    c = client(two_models)
    first = c.generate(model=SMOL, prompt="Say hi.", options=GREEDY)
    assert first.done and len(first.response) > 0
    assert len(first.context) == first.prompt_eval_count + first.eval_count
    second = c.generate(model=SMOL, prompt="Again.", context=first.context, options=GREEDY)
    assert second.prompt_eval_count > len(first.context)
    # Raw mode: the prompt as given, no template and no context back.
    raw = c.generate(model=SMOL, prompt="The capital of France is", raw=True, options=GREEDY)
    assert raw.context is None and raw.eval_count == 12
    ref = two_models.openai().completions.create(
        model=SMOL, prompt="The capital of France is", temperature=0, max_tokens=12, top_p=0.9,
        extra_body={"top_k": 40, "repetition_penalty": 1.1})
    assert raw.response == ref.choices[0].text


def test_system_and_num_predict_and_stop(two_models):
    c = client(two_models)
    r = c.generate(model=SMOL, prompt="Count: 1, 2, 3,", raw=True,
                   options={"temperature": 0, "num_predict": 30, "stop": [","]})
    assert "," not in r.response and r.done_reason == "stop"
    r = c.generate(model=SMOL, prompt="hello", options={"num_predict": 0})
    assert r.response == "" and r.done_reason == "length"
    with_system = c.generate(model=SMOL, prompt="Who are you?", system="You are a pirate.",
                             options=GREEDY)
    ref = two_models.openai().chat.completions.create(
        model=SMOL, max_tokens=1, messages=[{"role": "system", "content": "You are a pirate."},
                                            {"role": "user", "content": "Who are you?"}])
    assert with_system.prompt_eval_count == ref.usage.prompt_tokens


def test_format_schema_constrains_the_output(two_models):
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    r = client(two_models).chat(model=SMOL, format=schema, options={"temperature": 0,
                                                                     "num_predict": 60},
                                messages=[{"role": "user", "content": "Describe a person."}])
    jsonschema.validate(json.loads(r.message.content), schema)


def test_tool_history_in_ollamas_shape_is_accepted(two_models):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "18 C and sunny", "tool_name": "get_weather"},
    ]
    r = client(two_models).chat(model=QWEN, messages=messages, tools=tools, options=GREEDY)
    assert r.done and r.prompt_eval_count > 0


def test_show_reports_the_files_template_and_metadata(two_models, qwen_path):
    shown = client(two_models).show(QWEN)
    assert shown.template == gguf_string(qwen_path, "tokenizer.chat_template")
    assert shown.modelinfo["general.architecture"] == "qwen2"
    assert shown.modelinfo["qwen2.context_length"] == 32768
    assert "completion" in shown.capabilities and "tools" in shown.capabilities
    assert shown.details.family == "qwen2"


def test_keep_alive_zero_unloads_and_the_next_request_reloads(two_models):
    c = client(two_models)
    c.generate(model=QWEN, prompt="hi", options={"num_predict": 2})
    loads = metric(metric_values(two_models.get("/metrics").text), "kiln:model_loads_total",
                   model_name=QWEN)
    assert QWEN in [m.model for m in c.ps().models]
    r = c.generate(model=QWEN, prompt="", keep_alive=0)
    assert r.done_reason == "unload"
    deadline = time.time() + 10
    while QWEN in [m.model for m in c.ps().models] and time.time() < deadline:
        time.sleep(0.05)
    assert QWEN not in [m.model for m in c.ps().models]
    values = metric_values(two_models.get("/metrics").text)
    assert metric(values, "kiln:model_loaded", model_name=QWEN) == 0
    # The next request loads it again; its answer says how long the load took.
    r = c.generate(model=QWEN, prompt="hi", options={"num_predict": 2}, keep_alive="10m")
    assert r.load_duration > 1_000_000  # ns: it waited for a real load
    values = metric_values(two_models.get("/metrics").text)
    assert metric(values, "kiln:model_loads_total", model_name=QWEN) == loads + 1
    entry = next(m for m in c.ps().models if m.model == QWEN)
    remaining = entry.expires_at.timestamp() - time.time()
    assert 500 < remaining <= 601


def test_errors_in_ollamas_shape(two_models):
    c = client(two_models)
    with pytest.raises(ollama.ResponseError) as e:
        c.chat(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404 and "no-such-model" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        c.generate(model=SMOL, prompt="hi", images=[b"\x89PNG"])
    assert e.value.status_code == 400 and "images" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        c.generate(model=SMOL, prompt="hi", options={"temperature": "hot"})
    assert e.value.status_code == 400 and "temperature" in e.value.error
    r = two_models.post("/api/embed", json={"model": SMOL, "input": "hi"})
    assert r.status_code == 400 and "embeddings" in r.json()["error"]
    r = two_models.post("/api/chat", content=b"{not json")
    assert r.status_code == 400 and isinstance(r.json()["error"], str)
    assert httpx.get(two_models.base_url + "/").text == "Ollama is running"
    assert "version" in c._request_raw("GET", "/api/version").json()


def test_three_models_two_loaded_interleaved_requests_never_fail(kiln_bin, model_path, qwen_path,
                                                                 tmp_path):
    """--max-loaded-models 2 with three models: requests for all three interleave, so loads
    keep evicting the least recently used idle model; none fails or sees a half-loaded one."""
    gemma_path = os.environ.get("KILN_MODEL_GEMMA3")
    if not gemma_path:
        pytest.skip("KILN_MODEL_GEMMA3 is not set")
    gemma = os.path.splitext(os.path.basename(gemma_path))[0]
    s = KilnServer(kiln_bin, model_path, tmp_path / "serve.log",
                   extra_args=[qwen_path, gemma_path, "--served-model-name", SMOL,
                               "--max-loaded-models", "2"])
    try:
        c = client(s)
        errors, answers = [], []

        def ask(model, i):
            try:
                r = c.generate(model=model, prompt=f"Number {i}:", options={"num_predict": 4})
                answers.append((model, r.eval_count))
            except Exception as exc:  # noqa: BLE001 - every failure is reported below
                errors.append(repr(exc))

        models = [SMOL, QWEN, gemma]
        threads = [threading.Thread(target=ask, args=(models[i % 3], i)) for i in range(9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors
        assert len(answers) == 9 and all(0 < n <= 4 for _, n in answers), answers
        assert len(c.ps().models) <= 2
        values = metric_values(s.get("/metrics").text)
        loads = sum(metric(values, "kiln:model_loads_total", model_name=m) for m in models)
        assert loads >= 3
        assert "to make room for" in s.log()
    finally:
        assert s.terminate() == 0, s.log()
