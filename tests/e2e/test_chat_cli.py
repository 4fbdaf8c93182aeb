# `kiln run --chat`: the model's own template, one-shot and piped multi-turn conversations.
# Greedy answers are checked against plain `kiln run` on the prompt `kiln template` renders,
# so the chat loop's KV reuse across turns must not change a single token.
# NOTE: the comparison runs on an F32 copy of the model. With quantized weights kiln
# rounds activations to 8 bits inside each matmul, which turns last-bit differences
# between two equally valid summation orders (a prompt computed in one chunk or in two)
# into visible logit changes; with F32 weights the arithmetic is continuous and the greedy
# tokens must agree exactly.
import json
import subprocess

import pytest


@pytest.fixture(scope="module")
def f32_model(kiln_bin, model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("chat") / "model-f32.gguf"
    r = subprocess.run([kiln_bin, "quantize", model_path, str(out), "--type", "F32", "-q"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return str(out)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


def rendered(kiln_bin, model_path, messages, tmp_path):
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(messages))
    r = run([kiln_bin, "template", model_path, "--messages-json", str(path),
             "--add-generation-prompt"])
    assert r.returncode == 0, r.stderr
    return r.stdout


def plain_answer(kiln_bin, model_path, prompt, n):
    r = run([kiln_bin, "run", model_path, "-p", prompt, "--temp", "0", "-n", str(n)])
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_one_shot_chat_matches_plain_run_on_rendered_template(kiln_bin, f32_model, tmp_path):
    model_path = f32_model
    question = "What is the capital of France?"
    r = run([kiln_bin, "run", model_path, "--chat", "-p", question, "--temp", "0", "-n", "24"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    prompt = rendered(kiln_bin, model_path, [{"role": "user", "content": question}], tmp_path)
    assert r.stdout == plain_answer(kiln_bin, model_path, prompt, 24)


def test_piped_conversation_reuses_kv_without_changing_answers(kiln_bin, f32_model, tmp_path):
    model_path = f32_model
    q1, q2, q3 = "Name a fruit.", "Why is it healthy?", "Say hello."
    n = 20
    r = run([kiln_bin, "run", model_path, "--chat", "--temp", "0", "-n", str(n)],
            input=f"{q1}\n{q2}\n/reset\n{q3}\n/exit\nnever answered\n")
    assert r.returncode == 0, r.stderr
    a1 = plain_answer(kiln_bin, model_path,
                      rendered(kiln_bin, model_path, [{"role": "user", "content": q1}], tmp_path), n)
    history = [{"role": "user", "content": q1}, {"role": "assistant", "content": a1[:-1]},
               {"role": "user", "content": q2}]
    a2 = plain_answer(kiln_bin, model_path, rendered(kiln_bin, model_path, history, tmp_path), n)
    a3 = plain_answer(kiln_bin, model_path,
                      rendered(kiln_bin, model_path, [{"role": "user", "content": q3}], tmp_path), n)
    assert r.stdout == a1 + a2 + "(conversation reset)\n" + a3


def test_chat_template_error_is_reported(kiln_bin, tmp_path):
    r = run([kiln_bin, "template", "--template-file", "/dev/null", "--messages-json",
             str(tmp_path / "missing.json")])
    assert r.returncode != 0 and r.stderr.strip()
