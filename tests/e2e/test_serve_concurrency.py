# 64 clients streaming at once from `kiln serve`: every stream completes, and each greedy
# (temperature 0) text equals the non-streamed answer to the same prompt asked alone, so
# batching many requests together and streaming them changes nothing. On the F32 copy of
# the model (see the f32_model fixture), with the prefix cache warmed for every prompt first
# so all requests compute the same prompt tail.
from concurrent.futures import ThreadPoolExecutor

import pytest

from kiln_server import KilnServer

PROMPTS = [f"Write one sentence about the number {i}." for i in range(4)]
NUM_CLIENTS = 64
MAX_TOKENS = 8


@pytest.fixture(scope="module")
def f32_server(kiln_bin, f32_model, tmp_path_factory):
    s = KilnServer(kiln_bin, f32_model, tmp_path_factory.mktemp("f32serve") / "serve.log",
                   extra_args=["--served-model-name", "smollm2", "--kv-cache-memory", "128MiB"])
    yield s
    assert s.terminate() == 0, s.log()


def test_64_concurrent_streams_match_non_streamed(f32_server):
    client = f32_server.openai()

    def ask(prompt, stream):
        kw = dict(model="smollm2", messages=[{"role": "user", "content": prompt}],
                  max_tokens=MAX_TOKENS, temperature=0)
        if not stream:
            return client.chat.completions.create(**kw).choices[0].message.content
        text, finish = "", None
        for chunk in client.chat.completions.create(stream=True, **kw):
            for c in chunk.choices:
                text += c.delta.content or ""
                finish = c.finish_reason or finish
        assert finish in ("stop", "length")
        return text

    for p in PROMPTS:
        ask(p, stream=False)  # warms the prefix cache
    expected = {p: ask(p, stream=False) for p in PROMPTS}
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(NUM_CLIENTS)]
    with ThreadPoolExecutor(NUM_CLIENTS) as pool:
        texts = list(pool.map(lambda p: ask(p, stream=True), prompts))
    assert len(texts) == NUM_CLIENTS
    mismatches = [(p, t, expected[p]) for p, t in zip(prompts, texts) if t != expected[p]]
    assert not mismatches, mismatches[:3]
