"""Structured output's token masks on the real vocabularies, against a brute-force oracle.

`kiln bench structured MODEL --check` walks random paths through each grammar and, at every
step, compares the mask (built from the precomputed per-position token classes and the trie)
with the oracle: every token's bytes fed one by one to the plain automaton from the walk's
text. SmolLM2 (49k tokens, byte-level BPE), Qwen2.5 (152k) and Gemma 3 (262k,
SentencePiece) each on a deterministic slice of the schema corpus, the regexes and the
grammars (tests/data/structured).

Environment: KILN_BIN, KILN_MODEL (SmolLM2), KILN_MODEL_QWEN2, KILN_MODEL_GEMMA3.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from kiln_cli import kiln_bin

DATA = Path(__file__).resolve().parent.parent / "data" / "structured"
MODELS = {"smollm2": "KILN_MODEL", "qwen2": "KILN_MODEL_QWEN2", "gemma3": "KILN_MODEL_GEMMA3"}


def model_path(env: str) -> str:
    path = os.environ.get(env)
    if not path or not os.path.exists(path):
        pytest.skip(f"{env} is not set to a GGUF model")
    return path


def run_check(model: str, args: list[str]) -> dict:
    p = subprocess.run([kiln_bin(), "bench", "structured", model, "--check", "--seed", "7",
                        *args], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads(p.stdout.strip().splitlines()[-1])
    assert report["mismatches"] == 0, report
    assert report["masks_checked"] > 0, report
    return report


@pytest.mark.parametrize("name", MODELS)
def test_schema_masks_equal_brute_force(name, tmp_path):
    model = model_path(MODELS[name])
    lines = (DATA / "schemas.jsonl").read_text(encoding="utf-8").splitlines()
    subset = tmp_path / "schemas.jsonl"
    subset.write_text("\n".join(lines[::10]) + "\n", encoding="utf-8")  # 20 schemas
    report = run_check(model, ["--schemas", str(subset), "--walks", "1", "--steps", "12"])
    assert report["grammars"] == 20


@pytest.mark.parametrize("name", MODELS)
def test_regex_and_grammar_masks_equal_brute_force(name, tmp_path):
    model = model_path(MODELS[name])
    regexes = [json.loads(l) for l in (DATA / "regexes.jsonl").read_text(encoding="utf-8").splitlines() if l]
    grammars = [json.loads(l) for l in (DATA / "grammars.jsonl").read_text(encoding="utf-8").splitlines() if l]
    for r in regexes[::17]:
        run_check(model, ["--regex", r["regex"], "--walks", "2", "--steps", "12"])
    for g in grammars[::10]:
        path = tmp_path / f"{g['name']}.lark"
        path.write_text(g["grammar"], encoding="utf-8")
        run_check(model, ["--grammar", str(path), "--walks", "2", "--steps", "12"])
