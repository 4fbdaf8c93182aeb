# Tool use and JSON outputs on `kiln serve`'s Anthropic Messages API through the official
# anthropic SDK: tool_choice any / tool / auto, the streamed tool_use events, a tool_result
# round trip, output_config.format, and the 400s for what kiln refuses.
#
# SmolLM2's chat template shows no tools, so the model writes calls only because the
# grammar makes it: what these tests check is kiln's side (constraint, parsing, the
# response shapes), not the model's judgement. jsonschema is the independent judge of each
# tool_use input. Calls with "any" disable parallel use: SmolLM2 would otherwise go on
# writing calls until max_tokens.
import json

import anthropic
import jsonschema
import pytest

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"},
                       "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
TIME = {
    "name": "get_time",
    "description": "Get the current time in a timezone",
    "input_schema": {"type": "object", "properties": {"timezone": {"type": "string"}},
                     "required": ["timezone"]},
}
TOOLS = [WEATHER, TIME]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
GREEDY = {"temperature": 0}
SCHEMAS = {t["name"]: t["input_schema"] for t in TOOLS}


def create(client, **kw):
    kw = {"model": "smollm2", "max_tokens": 100, "messages": ASK, "tools": TOOLS,
          "extra_body": GREEDY, **kw}
    return client.messages.create(**kw)


def tool_uses(msg):
    uses = [b for b in msg.content if b.type == "tool_use"]
    for b in uses:
        assert b.id.startswith("toolu_")
        jsonschema.validate(b.input, SCHEMAS[b.name])
    assert all(b.type in ("text", "tool_use") for b in msg.content)
    return uses


def test_any_and_named_choice_make_a_valid_tool_use(server):
    client = server.anthropic()
    msg = create(client, tool_choice={"type": "any", "disable_parallel_tool_use": True})
    uses = tool_uses(msg)
    assert len(uses) == 1 and msg.stop_reason == "tool_use", msg
    assert [b.type for b in msg.content] == ["tool_use"]  # calls only: no text block

    msg = create(client, tool_choice={"type": "tool", "name": "get_time"})
    uses = tool_uses(msg)
    assert [u.name for u in uses] == ["get_time"] and msg.stop_reason == "tool_use", msg


def test_auto_answers_with_text_or_a_valid_tool_use(server):
    msg = create(server.anthropic(), max_tokens=64)
    assert msg.content
    uses = tool_uses(msg)
    if uses and msg.stop_reason != "max_tokens":
        assert msg.stop_reason == "tool_use"
    if not uses:
        assert msg.content[0].type == "text" and msg.stop_reason in ("end_turn", "max_tokens")


def test_streamed_tool_use(server):
    client = server.anthropic()
    kw = dict(model="smollm2", max_tokens=100, messages=ASK, tools=TOOLS, extra_body=GREEDY,
              tool_choice={"type": "tool", "name": "get_weather"})
    # Warm the prefix cache first: with quantized weights a prompt computed whole and one
    # read from the cache may round differently (test_serve_openai.py).
    client.messages.create(**{**kw, "max_tokens": 1})
    whole = client.messages.create(**kw)
    with client.messages.stream(**kw) as stream:
        events = list(stream)
        final = stream.get_final_message()
    starts = [e.content_block for e in events if e.type == "content_block_start"]
    assert [b.type for b in starts] == ["tool_use"]
    assert starts[0].name == "get_weather" and starts[0].input == {}
    partial = "".join(e.partial_json for e in events if e.type == "input_json")
    assert json.loads(partial) == final.content[0].input
    assert tool_uses(final)[0].input == tool_uses(whole)[0].input  # greedy: the same call
    assert final.stop_reason == "tool_use"


def test_tool_result_round_trip(server):
    client = server.anthropic()
    first = create(client, tool_choice={"type": "tool", "name": "get_weather"})
    use = tool_uses(first)[0]
    history = [*ASK,
               {"role": "assistant",
                "content": [{"type": "tool_use", "id": use.id, "name": use.name,
                             "input": use.input}]},
               {"role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id,
                             "content": "18 degrees celsius and sunny"}]}]
    follow = create(client, messages=history, max_tokens=64)
    assert follow.content and follow.stop_reason in ("end_turn", "max_tokens", "tool_use")
    tool_uses(follow)


def test_output_config_format_is_json_matching_the_schema(server):
    # Short strings: left free, SmolLM2 rambles inside them until max_tokens.
    name = {"type": "string", "maxLength": 20}
    schema = {"type": "object", "properties": {"city": name, "country": name},
              "required": ["city", "country"], "additionalProperties": False}
    msg = server.anthropic().messages.create(
        model="smollm2", max_tokens=100, extra_body=GREEDY,
        messages=[{"role": "user", "content": "Name a European capital and its country."}],
        output_config={"format": {"type": "json_schema", "schema": schema}})
    assert msg.stop_reason == "end_turn", msg
    jsonschema.validate(json.loads(msg.content[0].text), schema)


@pytest.mark.parametrize("fields, where", [
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"name": "f"}]}, "tools[0].input_schema"),
    ({"tools": TOOLS, "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice"),
    ({"output_config": {"format": {"type": "text"}}}, "output_config.format.type"),
    ({"tools": TOOLS, "output_config": {"format": {"type": "json_schema", "schema": {}}}},
     "tools"),
])
def test_refusals_are_400s_naming_the_field(server, fields, where):
    with pytest.raises(anthropic.BadRequestError) as e:
        server.anthropic().messages.create(model="smollm2", max_tokens=8, messages=ASK,
                                           extra_body=fields)
    assert e.value.body["error"]["type"] == "invalid_request_error"
    assert e.value.body["error"]["message"].startswith(where), e.value.body
