# OpenAI's Responses API (/v1/responses) through the official `openai` SDK against a live
# `kiln serve`: create with a string and with items + instructions, text.format json_schema,
# a function tool over two turns joined by previous_response_id, the SDK's .stream() helper
# for text and for a call, retrieve / delete / 404s, store: false, the store's bound and
# expiry, and 400s naming the field.
#
# SmolLM2 has no tool format in its template: kiln parses hermes and the grammar makes every
# call under "required" or a named function parse and validate (see test_openai_tools.py).
# parallel_tool_calls false keeps it to one call, so the response ends on its own.
import json
import time

import jsonschema
import openai
import pytest

from kiln_server import metric, metric_values

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a city.",
    "strict": True,
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
CAPITAL = {
    "type": "object",
    "properties": {"country": {"type": "string", "maxLength": 16},
                   "capital": {"type": "string", "maxLength": 16}},
    "required": ["country", "capital"],
    "additionalProperties": False,
}


def check_usage(r):
    u = r.usage
    assert u.input_tokens > 0 and u.output_tokens > 0
    assert u.total_tokens == u.input_tokens + u.output_tokens
    assert 0 <= u.input_tokens_details.cached_tokens <= u.input_tokens
    assert u.output_tokens_details.reasoning_tokens == 0


def check_call(item):
    assert item.type == "function_call", item
    assert item.id.startswith("fc_") and item.call_id.startswith("call_"), item
    assert item.name == "get_weather" and item.status == "completed", item
    args = json.loads(item.arguments)
    jsonschema.validate(args, WEATHER["parameters"])
    return args


def test_create_with_a_string(server):
    client = server.openai()
    r = client.responses.create(model="smollm2", input="Say hello.", max_output_tokens=24,
                                temperature=0)
    assert r.object == "response" and r.id.startswith("resp_")
    assert r.model == "smollm2"
    assert r.status in ("completed", "incomplete")
    if r.status == "incomplete":
        assert r.incomplete_details.reason == "max_output_tokens"
        assert r.usage.output_tokens == 24
    assert [item.type for item in r.output] == ["message"]
    msg = r.output[0]
    assert msg.role == "assistant" and msg.id.startswith("msg_")
    assert msg.content[0].type == "output_text" and msg.content[0].annotations == []
    assert r.output_text and r.output_text == msg.content[0].text
    assert r.max_output_tokens == 24 and r.temperature == 0 and r.store is True
    assert r.tools == [] and r.tool_choice == "auto" and r.error is None
    check_usage(r)


def test_items_and_instructions(server):
    client = server.openai()
    items = [{"role": "developer", "content": "You answer in one word."},
             {"type": "message", "role": "user",
              "content": [{"type": "input_text", "text": "What color is the sky?"}]}]
    r = client.responses.create(model="smollm2", input=items, instructions="Be polite.",
                                max_output_tokens=8, temperature=0, metadata={"test": "items"})
    plain = client.responses.create(model="smollm2", input=items, max_output_tokens=8,
                                    temperature=0)
    assert r.instructions == "Be polite." and plain.instructions is None
    assert r.metadata == {"test": "items"}
    # The instructions are a system message in front: more prompt tokens.
    assert r.usage.input_tokens > plain.usage.input_tokens
    assert r.output_text


def test_text_format_json_schema(server):
    client = server.openai()
    fmt = {"type": "json_schema", "name": "capital", "schema": CAPITAL, "strict": True}
    r = client.responses.create(model="smollm2", input="What is the capital of France? JSON.",
                                text={"format": fmt}, max_output_tokens=64, temperature=0)
    assert r.status == "completed", r
    jsonschema.validate(json.loads(r.output_text), CAPITAL)
    assert r.text.format.type == "json_schema" and r.text.format.name == "capital"


def test_function_tool_over_two_turns(server):
    client = server.openai()
    first = client.responses.create(
        model="smollm2", input="What's the weather like in Paris today?", tools=[WEATHER],
        tool_choice="required", parallel_tool_calls=False, max_output_tokens=64, temperature=0)
    assert first.status == "completed", first
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1, first.output
    check_call(calls[0])
    assert first.tools[0].name == "get_weather" and first.tool_choice == "required"

    second = client.responses.create(
        model="smollm2", previous_response_id=first.id, tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": calls[0].call_id,
                "output": json.dumps({"temp_c": 18, "sky": "sunny"})}],
        max_output_tokens=16, temperature=0)
    assert second.previous_response_id == first.id
    assert second.status in ("completed", "incomplete")
    assert second.output
    # The conversation was continued: the first turn's prompt, its call and the output are
    # all in this prompt, and the first turn's prompt was served from the prefix cache.
    assert second.usage.input_tokens > first.usage.input_tokens + 5
    assert second.usage.input_tokens_details.cached_tokens > 0
    # A third turn chains on the second.
    third = client.responses.create(model="smollm2", previous_response_id=second.id,
                                    input="Thanks!", max_output_tokens=4, temperature=0)
    assert third.usage.input_tokens > second.usage.input_tokens


def test_stream_text(server):
    client = server.openai()
    kw = dict(model="smollm2", input="Name a fruit.", temperature=0)
    client.responses.create(max_output_tokens=1, **kw)  # warms the prefix cache
    full = client.responses.create(max_output_tokens=24, **kw)
    types, deltas, seqs = [], [], []
    with client.responses.stream(max_output_tokens=24, **kw) as stream:
        for event in stream:
            types.append(event.type)
            seqs.append(event.sequence_number)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        # The SDK's helper assembles only completed responses; an incomplete one (cut off
        # by max_output_tokens) is in its last event.
        final = (stream.get_final_response() if event.type == "response.completed"
                 else event.response)
    assert seqs == list(range(len(seqs)))
    assert types[:4] == ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"]
    end = "response.completed" if full.status == "completed" else "response.incomplete"
    assert types[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", end]
    assert len(deltas) >= 2
    assert "".join(deltas) == final.output_text == full.output_text
    assert final.status == full.status and final.id != full.id
    assert final.usage.output_tokens == full.usage.output_tokens
    # Streamed responses are stored like the others.
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_stream_function_call(server):
    client = server.openai()
    done = []
    with client.responses.stream(
            model="smollm2", input="What's the weather like in Paris today?", tools=[WEATHER],
            tool_choice={"type": "function", "name": "get_weather"}, max_output_tokens=64,
            temperature=0) as stream:
        types = []
        for event in stream:
            types.append(event.type)
            if event.type == "response.function_call_arguments.done":
                done.append(event.arguments)
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in types
    assert types[-1] == "response.completed"
    assert [item.type for item in final.output] == ["function_call"]
    assert done == [final.output[0].arguments]
    check_call(final.output[0])


def test_retrieve_delete_and_404s(server):
    client = server.openai()
    r = client.responses.create(model="smollm2", input="Hi", max_output_tokens=4)
    got = client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == r.output_text
    deleted = client.responses.delete(r.id)  # the SDK returns None for this route
    assert deleted is None
    raw = server.get(f"/v1/responses/{r.id}")
    assert raw.status_code == 404
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.retrieve(r.id)
    assert e.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.create(model="smollm2", input="x", previous_response_id=r.id)
    assert e.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        client.responses.delete("resp_unknown")
    # store: false is answered but not kept.
    r = client.responses.create(model="smollm2", input="Hi", max_output_tokens=4, store=False)
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)


def test_delete_answer_shape(server):
    r = server.post("/v1/responses", {"model": "smollm2", "input": "Hi", "max_output_tokens": 2})
    assert r.status_code == 200
    rid = r.json()["id"]
    d = httpx_delete(server, f"/v1/responses/{rid}")
    assert d.status_code == 200
    assert d.json() == {"id": rid, "object": "response.deleted", "deleted": True}


def httpx_delete(server, path):
    import httpx
    return httpx.delete(server.base_url + path, headers=server.headers(), timeout=60)


@pytest.mark.parametrize("fields, param", [
    (dict(tools=[{"type": "web_search"}]), "tools[0].type"),
    (dict(max_output_tokens=0), "max_output_tokens"),
    (dict(text={"format": {"type": "xml"}}), "text.format.type"),
    (dict(input=[{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]),
     "input[0].content[0].type"),
    (dict(tool_choice="required"), "tool_choice"),
    (dict(tools=[WEATHER], tool_choice={"type": "function", "name": "nope"}), "tool_choice"),
], ids=["web-search", "max-output-tokens", "format-type", "image", "choice-without-tools",
        "unknown-named"])
def test_bad_requests_are_400(server, fields, param):
    client = server.openai()
    kw = {"model": "smollm2", "input": "Hi", **fields}
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as e:
            r = client.responses.create(stream=stream, **kw)
            if stream:
                list(r)
        assert e.value.body["param"] == param, e.value.body
        assert e.value.body["type"] == "invalid_request_error"
    assert server.get("/health").status_code == 200


def test_key_openapi_methods_and_metrics(server):
    import httpx
    no_key = httpx.post(server.base_url + "/v1/responses", json={"model": "smollm2", "input": "x"})
    assert no_key.status_code == 401
    assert "/v1/responses" in server.get("/openapi.json").json()["paths"]
    assert server.get("/v1/responses").status_code == 405
    before = metric(metric_values(server.get("/metrics").text), "kiln:request_success_total")
    server.openai().responses.create(model="smollm2", input="Hi", max_output_tokens=2)
    after = metric(metric_values(server.get("/metrics").text), "kiln:request_success_total")
    assert after == before + 1


def test_store_bound_and_expiry(start_server):
    s = start_server("--responses-store-max", "1", "--responses-store-ttl", "2")
    client = s.openai()
    a = client.responses.create(model="smollm2", input="a", max_output_tokens=2)
    b = client.responses.create(model="smollm2", input="b", max_output_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(a.id)  # evicted by b (bound 1)
    assert client.responses.retrieve(b.id).id == b.id
    time.sleep(2.2)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(b.id)  # expired
