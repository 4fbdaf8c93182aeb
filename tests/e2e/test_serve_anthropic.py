# `kiln serve`'s Anthropic Messages API through the official anthropic SDK: messages,
# streaming events, stop sequences, prefill, count_tokens and typed errors.
# Comparisons warm the prefix cache first (see test_serve_openai.py).
# NOTE: recent SDKs no longer take temperature as an argument; the API still does, so the
# tests send it through extra_body.
import anthropic
import pytest

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
GREEDY = {"temperature": 0}


def test_message_and_stream_agree(server):
    client = server.anthropic()
    kw = dict(model="smollm2", max_tokens=16, messages=MESSAGES, extra_body=GREEDY,
              system="You are a concise assistant.")
    client.messages.create(**kw)  # warms the prefix cache
    msg = client.messages.create(**kw)
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.stop_reason in ("end_turn", "max_tokens")
    assert msg.usage.output_tokens > 0 and msg.usage.input_tokens > 0

    with client.messages.stream(**kw) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == msg.content[0].text
    assert final.content[0].text == msg.content[0].text
    assert final.stop_reason == msg.stop_reason
    assert final.usage.output_tokens == msg.usage.output_tokens


def test_stream_event_sequence(server):
    # Raw SSE: the SDK hides ping events.
    body = {"model": "smollm2", "max_tokens": 4, "messages": MESSAGES, "stream": True}
    r = server.post("/v1/messages", body, headers={"x-api-key": server.api_key})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [line[len("event: "):] for line in r.text.splitlines() if line.startswith("event: ")]
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) <= {"content_block_delta"}


def test_stop_sequence_is_reported(server):
    client = server.anthropic()
    kw = dict(model="smollm2", max_tokens=24, extra_body=GREEDY,
              messages=[{"role": "user", "content": "Count from 1 to 10, separated by commas."}])
    client.messages.create(**kw)  # warms the prefix cache
    text = client.messages.create(**kw).content[0].text
    assert "4" in text, text
    msg = client.messages.create(stop_sequences=["4"], **kw)
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "4"
    assert msg.content[0].text == text[: text.index("4")]
    with client.messages.stream(stop_sequences=["4"], **kw) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == msg.content[0].text
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == "4"


def test_prefill_continues_the_assistant_turn(server):
    client = server.anthropic()
    msg = client.messages.create(model="smollm2", max_tokens=8, extra_body=GREEDY,
                                 messages=[*MESSAGES, {"role": "assistant", "content": "The capital"}])
    assert msg.content[0].text.strip()


def test_count_tokens(server):
    client = server.anthropic()
    n = client.messages.count_tokens(model="smollm2", messages=MESSAGES).input_tokens
    assert n == server.post("/tokenize", {"messages": MESSAGES}).json()["count"]


def test_errors(server):
    client = server.anthropic()
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(model="claude-x", max_tokens=4, messages=MESSAGES)
    assert e.value.body["type"] == "error"
    assert e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="smollm2", max_tokens=4, messages=MESSAGES,
                               extra_body={"temperature": 1.5})
    assert e.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="smollm2", max_tokens=0, messages=MESSAGES)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model="smollm2", max_tokens=4,
                               messages=[{"role": "user", "content": [{"type": "image", "source": {
                                   "type": "base64", "media_type": "image/png", "data": "AA=="}}]}])
    with pytest.raises(anthropic.AuthenticationError) as e:
        server.anthropic(api_key="wrong").messages.create(model="smollm2", max_tokens=4,
                                                          messages=MESSAGES)
    assert e.value.body["error"]["type"] == "authentication_error"
    r = server.post("/v1/messages", {"model": "smollm2", "messages": MESSAGES})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("max_tokens")
