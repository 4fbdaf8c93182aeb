# `kiln serve` through the official OpenAI SDK: chat and completions, streamed and not, n>1,
# logprobs, stop sequences, seeds, usage, and the SDK's typed exceptions for bad requests.
# Greedy (temperature 0) answers must be identical streamed and not.
# NOTE: each comparison first sends the prompt once to warm the prefix cache, so both
# compared requests reuse the same cached blocks and compute the same prompt tail. A prompt
# computed whole and one computed from a cache hit are equally valid but round differently
# with quantized weights (docs/architecture.md), which could flip a greedy token.
import openai
import pytest

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def stream_chat(client, **kw):
    """Streams a chat completion; returns ({index: text}, {index: finish}, chunks)."""
    texts, finishes, chunks = {}, {}, []
    for chunk in client.chat.completions.create(stream=True, **kw):
        chunks.append(chunk)
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
            if c.finish_reason:
                finishes[c.index] = c.finish_reason
    return texts, finishes, chunks


def test_models_list_and_get(server):
    client = server.openai()
    ids = [m.id for m in client.models.list().data]
    assert ids == ["smollm2", "smollm2-alias"]
    assert client.models.retrieve("smollm2-alias").id == "smollm2-alias"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")


def test_chat_stream_equals_non_stream_with_usage(server):
    client = server.openai()
    kw = dict(model="smollm2", messages=MESSAGES, max_tokens=16, temperature=0)
    client.chat.completions.create(**kw)  # warms the prefix cache
    full = client.chat.completions.create(**kw)
    assert full.object == "chat.completion"
    assert full.choices[0].message.role == "assistant"
    assert full.choices[0].finish_reason in ("stop", "length")
    text = full.choices[0].message.content
    assert text
    u = full.usage
    assert u.prompt_tokens > 0 and 0 < u.completion_tokens <= 16
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert u.prompt_tokens_details.cached_tokens >= 0

    texts, finishes, chunks = stream_chat(client, stream_options={"include_usage": True}, **kw)
    assert texts == {0: text}
    assert finishes == {0: full.choices[0].finish_reason}
    assert chunks[0].object == "chat.completion.chunk"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.prompt_tokens == u.prompt_tokens
    assert last.usage.completion_tokens == u.completion_tokens
    # The same prompt again: its full blocks come from the prefix cache.
    assert last.usage.prompt_tokens_details.cached_tokens > 0
    assert u.prompt_tokens_details.cached_tokens == last.usage.prompt_tokens_details.cached_tokens


def test_chat_n_samples_streamed_and_not(server):
    client = server.openai()
    full = client.chat.completions.create(model="smollm2", messages=MESSAGES, max_tokens=8,
                                          n=3, temperature=1.0, seed=7)
    assert sorted(c.index for c in full.choices) == [0, 1, 2]
    assert all(c.message.content for c in full.choices)
    assert full.usage.completion_tokens <= 3 * 8
    texts, finishes, _ = stream_chat(client, model="smollm2", messages=MESSAGES, max_tokens=8,
                                     n=2, temperature=1.0, seed=7)
    assert sorted(texts) == [0, 1] and sorted(finishes) == [0, 1]


def test_chat_logprobs(server):
    client = server.openai()
    kw = dict(model="smollm2", messages=MESSAGES, max_tokens=6, temperature=0)
    client.chat.completions.create(**kw)  # warms the prefix cache
    r = client.chat.completions.create(logprobs=True, top_logprobs=3, **kw)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0
        assert 1 <= len(entry.top_logprobs) <= 3
        # Greedy: the chosen token is the most likely one.
        assert entry.top_logprobs[0].token == entry.token
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)
        assert bytes(entry.bytes).decode("utf-8", "replace") == entry.token or entry.bytes
    _, _, chunks = stream_chat(client, logprobs=True, **kw)
    streamed = [e.token for c in chunks for ch in c.choices if ch.logprobs
                for e in ch.logprobs.content]
    assert streamed == [e.token for e in content]


def test_stop_sequence_truncates(server):
    client = server.openai()
    kw = dict(model="smollm2", prompt="1, 2, 3, 4, 5,", max_tokens=16, temperature=0)
    client.completions.create(**kw)  # warms the prefix cache
    text = client.completions.create(**kw).choices[0].text
    assert " 8," in text, text
    r = client.completions.create(stop=[" 8,"], **kw)
    assert r.choices[0].text == text[: text.index(" 8,")]
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].stop_reason == " 8,"  # vLLM's extra field: which stop matched
    streamed = list(client.completions.create(stop=[" 8,"], stream=True, **kw))
    assert "".join(c.choices[0].text for c in streamed) == r.choices[0].text
    assert [c.choices[0].stop_reason for c in streamed if c.choices[0].finish_reason] == [" 8,"]
    assert client.completions.create(**kw).choices[0].stop_reason is None  # length
    count = [{"role": "user", "content": "Count from 1 to 10."}]
    client.chat.completions.create(model="smollm2", max_tokens=16, temperature=0, messages=count)
    chat = client.chat.completions.create(model="smollm2", max_tokens=16, temperature=0,
                                          messages=count)
    answer = chat.choices[0].message.content
    word = answer.split()[2]
    stopped = client.chat.completions.create(model="smollm2", max_tokens=16, temperature=0,
                                             stop=word, messages=count)
    assert stopped.choices[0].message.content == answer[: answer.index(word)]
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].stop_reason == word


def test_seed_reproducibility(server):
    client = server.openai()
    kw = dict(model="smollm2", messages=[{"role": "user", "content": "Tell me a story."}],
              max_tokens=12, temperature=1.0, top_p=0.95)
    client.chat.completions.create(seed=0, **kw)  # warms the prefix cache
    a = client.chat.completions.create(seed=1234, **kw).choices[0].message.content
    b = client.chat.completions.create(seed=1234, **kw).choices[0].message.content
    assert a == b
    others = {client.chat.completions.create(seed=s, **kw).choices[0].message.content
              for s in (1, 2)}
    assert len(others | {a}) > 1


def test_completions_stream_batch_and_logprobs(server):
    client = server.openai()
    kw = dict(model="smollm2", prompt="The capital of France is", max_tokens=8, temperature=0)
    client.completions.create(**kw)  # warms the prefix cache
    full = client.completions.create(**kw)
    assert full.object == "text_completion"
    text = full.choices[0].text
    streamed = "".join(c.choices[0].text for c in client.completions.create(stream=True, **kw)
                       if c.choices)
    assert streamed == text

    batch = client.completions.create(model="smollm2", prompt=["The capital of France is", "1, 2, 3,"],
                                      max_tokens=4, temperature=0, n=2)
    assert [c.index for c in batch.choices] == [0, 1, 2, 3]
    assert all(c.text and c.finish_reason for c in batch.choices)

    lp = client.completions.create(logprobs=2, **kw).choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
    assert "".join(lp.tokens).startswith(text)
    assert lp.text_offset[0] == 0 and all(len(t) <= 2 for t in lp.top_logprobs)

    ids = server.post("/tokenize", {"prompt": "The capital of France is"}).json()["tokens"]
    by_ids = client.completions.create(model="smollm2", prompt=ids, max_tokens=8, temperature=0)
    assert by_ids.choices[0].text == text


def test_usage_chunk_for_completions_stream(server):
    client = server.openai()
    chunks = list(client.completions.create(model="smollm2", prompt="Hello", max_tokens=4,
                                            temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


def test_typed_errors(server):
    client = server.openai()
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="smollm2", messages=MESSAGES, top_p=1.5)
    assert e.value.body["param"] == "top_p"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="smollm2", messages=MESSAGES, temperature="hot")
    assert e.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="smollm2", messages=[{"role": "user"}])
    assert "content" in e.value.body["param"]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="smollm2", messages=[])
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="smollm2", messages=MESSAGES, n=0)
    assert e.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="smollm2", prompt="hi", echo=True)
    assert e.value.body["param"] == "echo"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="smollm2", prompt="hi", suffix="there")
    assert e.value.body["param"] == "suffix"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="smollm2", messages=MESSAGES,
                                       response_format={"type": "xml"})
    assert e.value.body["param"] == "response_format.type"
    # Longer than --max-model-len 2048.
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="smollm2", prompt="hello " * 3000, max_tokens=4)
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="smollm2", prompt="hello", max_tokens=5000)
    assert e.value.body["param"] == "max_tokens"
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4", messages=MESSAGES)
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        server.openai(api_key="wrong").chat.completions.create(model="smollm2", messages=MESSAGES)
    for key in ("type", "message", "param", "code"):
        assert key in e.value.body
