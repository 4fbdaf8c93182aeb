#!/usr/bin/env python3
"""Decode speed with and without a JSON Schema constraint, against a running kiln serve.

For each concurrency, alternates rounds of unconstrained and constrained chat requests (the
same prompts, streamed, max_tokens fixed, temperature 1) and reports the median time per
output token after the first (TPOT) and the output tokens/s of the round; the ratio is the
figure (the machine is shared and noisy).

    python3 bench/structured/decode_slowdown.py --url http://127.0.0.1:8080/v1 \
        --model NAME --concurrency 1,16 --rounds 3
"""
import argparse
import concurrent.futures as cf
import statistics
import time

import openai

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
        "tags": {"type": "array", "items": {"type": "string"}},
        "summary": {"type": "string"},
        "rating": {"type": "number"},
    },
    "required": ["title", "year", "tags", "summary", "rating"],
    "additionalProperties": False,
}
PROMPT = "Describe a film you like as JSON with a title, year, tags, a long summary and a rating."


def one(client, model, constrained, max_tokens, seed):
    extra = {}
    if constrained:
        extra["response_format"] = {"type": "json_schema",
                                    "json_schema": {"name": "film", "schema": SCHEMA}}
    start = time.perf_counter()
    stamps = []
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens,
        temperature=1.0, seed=seed, stream=True, stream_options={"include_usage": True}, **extra)
    tokens = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return tokens, time.perf_counter() - start, gaps


def round_(client, model, constrained, concurrency, max_tokens, seed):
    start = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as ex:
        results = list(ex.map(lambda i: one(client, model, constrained, max_tokens, seed + i),
                              range(concurrency)))
    wall = time.perf_counter() - start
    tokens = sum(r[0] for r in results)
    gaps = [g for r in results for g in r[2]]
    return tokens / wall, statistics.median(gaps) if gaps else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080/v1")
    ap.add_argument("--model", required=True)
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=96)
    args = ap.parse_args()
    client = openai.OpenAI(base_url=args.url, api_key="x", timeout=600, max_retries=0)
    round_(client, args.model, True, 1, 8, 0)  # compile the schema once (cached after)
    print("| concurrency | tok/s free | tok/s schema | ratio | TPOT ms free | TPOT ms schema | ratio |")
    print("|---|---|---|---|---|---|---|")
    for c in [int(x) for x in args.concurrency.split(",")]:
        free, con = [], []
        for r in range(args.rounds):
            free.append(round_(client, args.model, False, c, args.max_tokens, 100 * r))
            con.append(round_(client, args.model, True, c, args.max_tokens, 100 * r))
        f_tps = statistics.median(x[0] for x in free)
        c_tps = statistics.median(x[0] for x in con)
        f_tpot = statistics.median(x[1] for x in free) * 1e3
        c_tpot = statistics.median(x[1] for x in con) * 1e3
        print(f"| {c} | {f_tps:.1f} | {c_tps:.1f} | {c_tps / f_tps:.3f} | {f_tpot:.1f} | "
              f"{c_tpot:.1f} | {c_tpot / f_tpot:.3f} |")


if __name__ == "__main__":
    main()
