"""kiln's chat-template interpreter (src/chat/) against Python's jinja2, byte for byte.

The reference renders each template the way Hugging Face transformers does: an
ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols
extension and a {% generation %} tag; tojson as json.dumps(x, ensure_ascii=False,
indent=..., separators=..., sort_keys=...); raise_exception, strftime_now, namespace
(refusing "_" names) and dict globals; messages with null-valued keys dropped and the
reasoning text copied to reasoning_content and thinking; tools=None and documents=None
when absent. strftime_now is fixed to NOW on both sides (kiln: `--now`).

kiln renders through `kiln template --template-file T --cases-jsonl -`, one process per
template. Every template under chat_templates/ (and chat_templates/more/) is rendered for
every conversation in CONVERSATIONS, with and without the generation prompt; where jinja2
raises (raise_exception, a type error, an undefined value used) kiln must fail too, and for
raise_exception its message must carry the template's text.

Environment: KILN_BIN (the kiln binary; the tests skip without it).
"""
from __future__ import annotations

import datetime
import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

jinja2 = pytest.importorskip("jinja2")
from jinja2 import nodes  # noqa: E402
from jinja2.ext import Extension, loopcontrols  # noqa: E402
from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: E402
from jinja2.utils import Namespace  # noqa: E402

import kiln_cli  # noqa: E402

HERE = Path(__file__).parent
TEMPLATE_DIR = HERE / "chat_templates"
NOW = datetime.datetime(2024, 7, 26, 14, 5, 9)
NOW_ARG = "2024-07-26T14:05:09"
BOS = "<s>"
EOS = "</s>"

# --- the reference: jinja2 as transformers sets it up ---------------------------------------


class _GenerationTag(Extension):
    """{% generation %}...{% endgeneration %} renders its body (transformers' assistant mask)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


class _TemplateNamespace(Namespace):
    def __init__(*args, **kwargs):  # same signature trick as jinja2's Namespace
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _TemplateNamespace._check(name)
        Namespace.__init__(self, attrs)

    def __setitem__(self, name, value):
        _TemplateNamespace._check(name)
        Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check(name):
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"underscore-prefixed namespace attribute {name!r}")


def _raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def reference_environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols, _GenerationTag])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    env.globals["dict"] = lambda *a, **k: dict(*a, **k)
    env.globals["namespace"] = _TemplateNamespace
    return env


_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def normalize_messages(messages: list[dict]) -> list[dict]:
    """What transformers does to messages before rendering."""
    out = []
    for m in messages:
        m = {k: v for k, v in m.items() if v is not None}
        reasoning = next((m[k] for k in _REASONING_FIELDS if m.get(k) is not None), None)
        if reasoning is not None:
            m = {"thinking": reasoning, **m, "reasoning_content": reasoning}
        out.append(m)
    return out


def reference_render(env, source: str, case: dict) -> tuple[bool, str]:
    """(True, text) or (False, the exception)."""
    try:
        template = env.from_string(source)
    except Exception as e:  # noqa: BLE001
        return False, f"{type(e).__name__}: {e}"
    return _render_compiled(template, case)


def _render_compiled(template, case: dict) -> tuple[bool, str]:
    try:
        text = template.render(messages=normalize_messages(case["messages"]), tools=case.get("tools"),
                               documents=case.get("documents"), add_generation_prompt=case["add_generation_prompt"],
                               bos_token=case.get("bos_token", BOS), eos_token=case.get("eos_token", EOS),
                               **case.get("extra_context", {}))
        return True, text
    except Exception as e:  # noqa: BLE001 - any failure of jinja2 is an expected outcome to match
        return False, f"{type(e).__name__}: {e}"


@functools.lru_cache(maxsize=None)
def reference_results(template_path: Path) -> tuple[tuple[bool, str], ...]:
    """jinja2's outcome for every case in CASES, compiled once."""
    env = reference_environment()
    source = template_path.read_text(encoding="utf-8")
    try:
        template = env.from_string(source)
    except Exception as e:  # noqa: BLE001
        return tuple((False, f"{type(e).__name__}: {e}") for _ in CASES)
    return tuple(_render_compiled(template, _case(name, agp)) for name, agp in CASES)


def kiln_render(template_path: Path, cases: list[dict]) -> list[dict]:
    binary = kiln_cli.require_subcommand("template")
    lines = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
    p = subprocess.run([binary, "template", "--template-file", str(template_path), "--now", NOW_ARG,
                        "--cases-jsonl", "-"], input=lines.encode(), capture_output=True, timeout=120)
    if p.returncode != 0:
        return [{"ok": False, "error": "kiln exited with %d: %s" % (p.returncode, p.stderr.decode(errors="replace"))}
                for _ in cases]
    # split("\n"), not splitlines(): kiln's JSON may hold a raw U+2028.
    out = [json.loads(line) for line in p.stdout.decode().split("\n") if line]
    assert len(out) == len(cases), f"kiln printed {len(out)} results for {len(cases)} cases"
    return out


# --- conversations ----------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location, in the requested unit.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and country, e.g. Paris, France"},
                "unit": {"type": "string", "description": "Temperature unit", "enum": ["celsius", "fahrenheit"],
                         "default": "celsius"},
                "days": {"type": "integer", "description": "Forecast days", "minimum": 1, "maximum": 7},
            },
            "required": ["location"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web — returns titles & snippets (\"quoted\" <html> ok).",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for"},
                           "top_k": {"type": "number", "description": "How many results", "default": 3.5}},
            "required": ["query", "top_k"],
        },
    },
}
TOOLS = [WEATHER_TOOL, SEARCH_TOOL]

SYSTEM = {"role": "system", "content": "You are a concise assistant. Answer in one sentence."}


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: Any, **extra) -> dict:
    return {"role": "assistant", "content": text, **extra}


def tool_call(call_id: str, name: str, arguments: Any) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


CONVERSATIONS: dict[str, dict] = {
    "single_user": {"messages": [user("Hello! What can you do?")]},
    "system_user": {"messages": [SYSTEM, user("What is the capital of France?")]},
    "multi_turn": {"messages": [
        SYSTEM, user("Hi there"), assistant("Hello! How can I help?"),
        user("Tell me a joke about cats."), assistant("Why did the cat sit on the computer? To keep an eye on the mouse."),
        user("Another one, please?")]},
    "multi_turn_no_system": {"messages": [
        user("What's 2+2?"), assistant("4"), user("And times 3?")]},
    "assistant_last": {"messages": [user("Write a haiku about rain."),
                                    assistant("Soft rain on the roof\nwhispers to the sleeping town\npuddles hold the sky")]},
    "whitespace_and_unicode": {"messages": [
        {"role": "system", "content": "  Système : réponds en français. 日本語もOK 🙂  \n"},
        user("\n  Ça va ? Tabs\there, quotes \"double\" and 'single', backslash \\ and {{ braces }} {% tags %}  \n"),
        assistant("  Très bien — merci ! ☕\n\n"), user("Ünïcödé «test» \u2028 line sep, NBSP\u00a0here, emoji 👩‍💻")]},
    "empty_content": {"messages": [SYSTEM, user(""), assistant(""), user("ok")]},
    "tools_available": {"messages": [SYSTEM, user("What's the weather in Paris?")], "tools": TOOLS},
    "tools_no_system": {"messages": [user("Search for the latest kiln release notes.")], "tools": TOOLS},
    "tool_call_round_trip": {"messages": [
        SYSTEM, user("What's the weather in Paris and Tokyo?"),
        assistant(None, tool_calls=[tool_call("call12345", "get_current_weather", {"location": "Paris, France", "unit": "celsius"})]),
        {"role": "tool", "tool_call_id": "call12345", "name": "get_current_weather", "content": "{\"temperature\": 18, \"sky\": \"cloudy\"}"},
        assistant("It is 18 °C and cloudy in Paris."),
        user("Thanks! And tomorrow?")], "tools": TOOLS},
    "tool_call_with_content": {"messages": [
        user("Find pictures of owls"),
        assistant("Let me search for that.", tool_calls=[tool_call("abcdefghi", "web_search", {"query": "owls", "top_k": 5})]),
        {"role": "tool", "tool_call_id": "abcdefghi", "name": "web_search", "content": "[\"Owl (Wikipedia)\", \"Snowy owl facts\"]"}],
        "tools": TOOLS},
    "parallel_tool_calls": {"messages": [
        user("Weather in Paris and in Oslo?"),
        assistant("", tool_calls=[
            tool_call("call00001", "get_current_weather", {"location": "Paris", "days": 2}),
            tool_call("call00002", "get_current_weather", {"location": "Oslo", "unit": "fahrenheit"})]),
        {"role": "tool", "tool_call_id": "call00001", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call00002", "content": "snow"}],
        "tools": TOOLS},
    "tool_call_string_arguments": {"messages": [
        user("Search kiln"),
        assistant(None, tool_calls=[tool_call("xyz987654", "web_search", "{\"query\": \"kiln\", \"top_k\": 1}")]),
        {"role": "tool", "tool_call_id": "xyz987654", "content": "no results"}],
        "tools": [SEARCH_TOOL]},
    "reasoning_inline": {"messages": [
        user("Is 17 prime?"),
        assistant("<think>\n17 has no divisors other than 1 and itself.\n</think>\n\nYes, 17 is prime."),
        user("And 21?")]},
    "reasoning_field": {"messages": [
        user("Is 91 prime?"), assistant("No: 91 = 7 × 13.", reasoning_content="Try 7: 7 × 13 = 91."),
        user("Is 97 prime?"), assistant("Yes.", reasoning="97 is not divisible by 2, 3, 5 or 7.")]},
    "thinking_disabled": {"messages": [user("Quick: 3 + 4?")], "extra_context": {"enable_thinking": False}},
    "date_and_builtin_tools": {"messages": [user("What day is it?")],
                               "extra_context": {"date_string": "01 Jan 2025", "builtin_tools": ["code_interpreter", "brave_search"]}},
    "functions_variable": {"messages": [user("Weather in Rome?")],
                           "extra_context": {"functions": json.dumps(TOOLS, indent=2), "datetime": "Jul 26 2024"}},
    "rag_documents": {"messages": [SYSTEM, user("When was the bridge built?")],
                      "documents": [{"title": "Bridge history", "text": "The bridge opened in 1932 after six years of work."},
                                    {"title": "Tourism", "text": "Visitors cross it on foot — about 10,000 a day."}]},
    "content_parts": {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Describe this:"}, {"type": "image"}, {"type": "text", "text": " thanks"}]}]},
    "bad_role_order": {"messages": [user("first"), user("second")]},
    "assistant_first": {"messages": [assistant("I speak first"), user("ok")]},
    "unknown_role": {"messages": [user("hi"), {"role": "narrator", "content": "Meanwhile..."}]},
    "empty_messages": {"messages": []},
}

CASES = [(name, agp) for name in CONVERSATIONS for agp in (False, True)]


def _case(name: str, add_generation_prompt: bool) -> dict:
    conv = CONVERSATIONS[name]
    case = {"messages": conv["messages"], "tools": conv.get("tools"), "add_generation_prompt": add_generation_prompt,
            "bos_token": BOS, "eos_token": EOS}
    if "extra_context" in conv:
        case["extra_context"] = conv["extra_context"]
    if "documents" in conv:
        case["documents"] = conv["documents"]
    return case


TEMPLATES = sorted(TEMPLATE_DIR.glob("*.jinja")) + sorted((TEMPLATE_DIR / "more").glob("*.jinja"))


def _describe_mismatch(name: str, agp: bool, expected: str, got: str) -> str:
    i = next((k for k in range(min(len(expected), len(got))) if expected[k] != got[k]), min(len(expected), len(got)))
    return (f"{name} (add_generation_prompt={agp}): first difference at char {i}\n"
            f"  jinja2: {expected[max(0, i - 60):i + 60]!r}\n  kiln:   {got[max(0, i - 60):i + 60]!r}")


@pytest.mark.parametrize("template_path", TEMPLATES, ids=lambda p: p.stem)
def test_template_matches_jinja2(template_path: Path):
    cases = [_case(name, agp) for name, agp in CASES]
    got = kiln_render(template_path, cases)
    problems = []
    for (name, agp), (ok, expected), result in zip(CASES, reference_results(template_path), got):
        if ok and not result["ok"]:
            problems.append(f"{name} (add_generation_prompt={agp}): jinja2 renders, kiln fails: {result['error']}")
        elif not ok and result["ok"]:
            problems.append(f"{name} (add_generation_prompt={agp}): jinja2 fails ({expected}), kiln renders "
                            f"{result['text'][:200]!r}")
        elif ok and result["text"] != expected:
            problems.append(_describe_mismatch(name, agp, expected, result["text"]))
        elif not ok and expected.startswith("TemplateError: ") and expected[len("TemplateError: "):] not in result["error"]:
            problems.append(f"{name} (add_generation_prompt={agp}): raise_exception message lost: jinja2 {expected!r}, "
                            f"kiln {result['error']!r}")
    assert not problems, f"{len(problems)} of {len(cases)} cases differ:\n" + "\n".join(problems)


@pytest.mark.parametrize("architecture,expected", [("gemma3", "gemma-3.jinja"),
                                                   ("gemma2", "more/google-gemma-2-2b-it.jinja"),
                                                   ("llama", "chatml.jinja")])
def test_builtin_fallback_templates(architecture: str, expected: str):
    """What kiln renders for a model file without a template is the family's published one."""
    binary = kiln_cli.require_subcommand("template")
    p = subprocess.run([binary, "template", "--architecture", architecture, "--print-template"],
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode() == (TEMPLATE_DIR / expected).read_text(encoding="utf-8")


def test_every_template_renders_something():
    """Guard against a template that fails everywhere (the comparison would pass vacuously)."""
    for path in TEMPLATES:
        assert any(ok for ok, _ in reference_results(path)), f"{path.name}: jinja2 fails on every conversation"


# --- language snippets --------------------------------------------------------------------
# Small templates, each exercising one corner of the language, rendered with SNIPPET_VARS.
# Failing snippets (type errors, undefined values used, sandbox refusals) must fail in both.

SNIPPET_VARS = {
    "s": "Hello, World! ünïcödé 🙂",
    "n": 7,
    "f": 2.5,
    "neg": -3,
    "t": True,
    "z": None,
    "items": [3, 1, 2],
    "words": ["b", "A", "c", "a"],
    "d": {"b": 1, "a": [1, 2.5, None, True], "c": {"x": "y"}},
    "people": [{"name": "Ann", "age": 31, "tags": ["x"]}, {"name": "bob", "age": 25},
               {"name": "Cy", "age": 31, "nick": None}],
    "text": "line one\nline two\n\n  indented\ttab\r\nwindows",
}

SNIPPETS = [
    # output of values
    "{{ n }}|{{ f }}|{{ t }}|{{ z }}|{{ items }}|{{ d }}|{{ (1,) }}|{{ () }}|{{ (1, 'a') }}|{{ 1.0 }}|{{ 1e16 }}|{{ 1e15 }}",
    "{{ 0.00001 }}|{{ 0.0001 }}|{{ 1.5e-7 }}|{{ -0.0 }}|{{ 1e300 * 1e10 }}|{{ 123456789.123456789 }}|{{ 0.1 + 0.2 }}",
    "{{ ['a\\'b', 'a\"b', 'a\\'\"b', 'tab\\there', 'nl\\n', 'ü', '\\x00', '\\u2028'] }}",
    "{{ 'a' 'b' \"c\" }}|{{ '\\x41\\u00e9\\U0001F600\\101\\q' }}",
    "{{ undefined_var }}|{{ d.missing }}|{{ d['missing'] }}|{{ items[10] }}|{{ z.attr }}|{{ n.attr }}",
    "{{ undefined_var.attr }}",
    "{{ undefined_var['k'] }}",
    "{{ undefined_var() }}",
    "{{ undefined_var + 1 }}",
    "{{ undefined_var ~ 'x' }}|{{ undefined_var|length }}|{{ undefined_var|list }}|{{ undefined_var is iterable }}|{{ undefined_var is sequence }}",
    "{% for x in undefined_var %}{{ x }}{% else %}empty{% endfor %}",
    "{{ 'x' in undefined_var }}|{{ undefined_var == undefined_var }}|{{ undefined_var != none }}",
    # arithmetic
    "{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ 7 % -3 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 4 / 2 }}",
    "{{ 5.5 // 2 }}|{{ -5.5 % 2 }}|{{ 2 ** 0.5 }}|{{ 2 ** -1 }}|{{ t + 1 }}|{{ t * 3 }}|{{ 3 * 'ab' }}|{{ 'ab' * 0 }}|{{ [1] * 3 }}",
    "{{ 3037000499 * 3037000499 }}|{{ 9223372036854775807 }}|{{ -9223372036854775807 - 1 }}",
    "{{ 'a' + 1 }}",
    "{{ none + 1 }}",
    "{{ [1] + (2,) }}",
    "{{ 1 / 0 }}",
    "{{ 1 // 0 }}",
    "{{ 'a' * 'b' }}",
    "{{ -'a' }}",
    "{{ 'x' ~ 1 ~ none ~ t ~ 1.5 ~ items }}|{{ 'a' ~ 1 + 2 if false else 'c' }}",
    "{{ '%s-%d-%5.2f-%x-%r-%%' % ('a', 3, 3.14159, 255, 'q') }}|{{ '%(k)s' % {'k': 1} }}|{{ '%s' % [1] }}|{{ '%s' % {'a': 1} }}|{{ '%-5s|%05d' % ('ab', 42) }}",
    "{{ '%s %s' % ('a',) }}",
    "{{ '%s' % ('a', 'b') }}",
    # comparisons and logic
    "{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 1 == 1.0 }}|{{ t == 1 }}|{{ 'b' > 'a' }}|{{ [1, 2] < [1, 3] }}|{{ (1, 2) == [1, 2] }}|{{ d == d }}|{{ {'a': 1} == {'a': 1.0} }}",
    "{{ 1 < 'a' }}",
    "{{ 'a' in 'cat' }}|{{ 1 in items }}|{{ 'b' in d }}|{{ 'x' not in d }}|{{ [1] in [[1]] }}",
    "{{ 1 in 'abc' }}",
    "{{ 1 in none }}",
    "{{ 0 or 'x' }}|{{ 1 and 'y' }}|{{ '' and 'z' }}|{{ none or [] }}|{{ not 1 }}|{{ not not 'a' }}|{{ 'a' if 0 else 'b' }}|{{ 'a' if 1 }}|{{ 'a' if 0 }}|",
    "{{ items and items[0] }}|{{ [] or 'empty' }}|{{ {} or 'e' }}|{{ 0.0 or 'f' }}|{{ ' ' or 'sp' }}",
    # subscripts and slices
    "{{ s[0] }}|{{ s[-1] }}|{{ s[7:12] }}|{{ s[::-1] }}|{{ s[::2] }}|{{ s[100:] }}|{{ s[-100:3] }}|{{ items[1:] }}|{{ items[::-1] }}|{{ (1, 2, 3)[1:] }}|{{ items[-1] }}",
    "{{ items['count'] is defined }}|{{ d['items'] is defined }}|{{ d.items is defined }}|{{ s['upper'] is callable }}|{{ z[0] }}|{{ n[0] }}|",
    "{{ s[1:'a'] }}",
    "{{ d[1:] }}",
    "{{ z[1:] }}",
    "{{ items[::0] }}",
    "{{ d.a[1] }}|{{ d['c']['x'] }}|{{ d.c.x }}|{{ people[0].tags[0] }}|{{ people.0.name }}|{{ d.get('b') }}|{{ d.get('q') }}|{{ d.get('q', 5) }}",
    # tests
    "{{ n is odd }}|{{ n is even }}|{{ n is divisibleby 7 }}|{{ 9 is divisibleby(3) }}|{{ f is number }}|{{ t is number }}|{{ n is integer }}|{{ t is integer }}|{{ f is float }}|{{ t is boolean }}",
    "{{ z is none }}|{{ t is true }}|{{ 1 is true }}|{{ false is false }}|{{ s is string }}|{{ d is mapping }}|{{ items is sequence }}|{{ d is sequence }}|{{ s is iterable }}|{{ n is iterable }}",
    "{{ 'abc' is lower }}|{{ 'ABC' is upper }}|{{ 'a' is eq 'a' }}|{{ 1 is equalto 1 }}|{{ 1 is ne 2 }}|{{ 2 is gt 1 }}|{{ 2 is ge 2 }}|{{ 1 is lt 2 }}|{{ 1 is le 0 }}|{{ 1 is in items }}|{{ 'trim' is filter }}|{{ 'odd' is test }}|{{ 'nope' is filter }}",
    "{{ raise_exception is callable }}|{{ s is callable }}|{{ 1 is sameas 1 }}|{{ none is sameas none }}|{{ s is not defined }}|{{ undefined_var is undefined }}|{{ d is not mapping }}",
    "{{ x is nosuchtest }}",
    # filters
    "{{ s|upper }}|{{ s|lower }}|{{ s|title }}|{{ s|capitalize }}|{{ '  pad  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ s|length }}|{{ s|wordcount }}|{{ s|center(30) }}|",
    "{{ 'a-b c(d [e<f {g'|title }}|{{ 'hELLO wORLD'|capitalize }}|{{ 'ßa straße'|upper }}|{{ 'ÀÉÎ ΣΑΣ'|lower }}|{{ 'ǅ ǆ'|title }}|{{ 'ǆx ǅy'.title() }}|{{ 'ǆx'.capitalize() }}|{{ 'Ǆ'.lower() }}",
    "{{ items|sort }}|{{ items|sort(reverse=true) }}|{{ words|sort }}|{{ words|sort(case_sensitive=true) }}|{{ people|sort(attribute='age')|map(attribute='name')|join(',') }}|{{ people|sort(attribute='age,name')|map(attribute='name')|list }}",
    "{{ items|first }}|{{ items|last }}|{{ items|min }}|{{ items|max }}|{{ items|sum }}|{{ people|sum(attribute='age') }}|{{ words|max }}|{{ words|min(case_sensitive=true) }}|{{ people|max(attribute='age') }}|{{ []|first }}|{{ []|max }}|",
    "{{ items|join }}|{{ items|join(', ') }}|{{ people|join(' & ', attribute='name') }}|{{ 'abc'|join('-') }}|{{ d|join(',') }}|{{ items|list }}|{{ 'ab'|list }}|{{ d|list }}|{{ items|length }}|{{ d|count }}",
    "{{ people|map(attribute='name')|list }}|{{ people|map(attribute='nick', default='?')|list }}|{{ people|map(attribute='nick')|list }}|{{ words|map('upper')|list }}|{{ items|map('string')|join('+') }}|{{ people|map(attribute='tags.0', default='-')|list }}",
    "{{ people|selectattr('nick')|list|length }}|{{ people|selectattr('age', 'equalto', 31)|map(attribute='name')|list }}|{{ people|rejectattr('age', 'gt', 30)|map(attribute='name')|list }}|{{ items|select('odd')|list }}|{{ items|reject('odd')|list }}|{{ [0, 1, '', 'a', none]|select|list }}",
    "{{ people|selectattr('nick', 'none')|list|length }}|{{ people|selectattr('tags', 'defined')|map(attribute='name')|first }}|{{ items|select('gt', 1)|list }}|{{ items|select('in', [1, 3])|list }}",
    "{{ [1, 2, 1, 'a', 'A']|unique|list }}|{{ ['a', 'A']|unique(case_sensitive=true)|list }}|{{ people|unique(attribute='age')|map(attribute='name')|list }}|{{ [1, true, 1.0]|unique|list }}",
    "{{ d|dictsort }}|{{ d|dictsort(reverse=true)|map('first')|list }}|{{ {'b': 2, 'a': 3, 'C': 1}|dictsort(by='value') }}|{{ {'b': 2, 'a': 3, 'C': 1}|dictsort }}|{{ {'b': 2, 'a': 3, 'C': 1}|dictsort(true) }}",
    "{{ d|items|list }}|{{ undefined_var|items|list }}|{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}",
    "{{ undefined_var|default('dflt') }}|{{ z|default('dflt') }}|{{ ''|default('dflt') }}|{{ ''|default('dflt', true) }}|{{ 0|d('zero', boolean=true) }}|{{ undefined_var|d }}|",
    "{{ '42'|int }}|{{ ' -7 '|int }}|{{ '4_2'|int }}|{{ '3.9'|int }}|{{ 'x'|int }}|{{ 'x'|int(5) }}|{{ '0x1f'|int(base=16) }}|{{ '0b101'|int(0, 2) }}|{{ 3.99|int }}|{{ t|int }}|{{ none|int }}",
    "{{ '3.5'|float }}|{{ ' 1e3 '|float }}|{{ 'inf'|float }}|{{ 'x'|float }}|{{ 'x'|float(1.5) }}|{{ n|float }}|{{ none|float }}",
    "{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(2) }}|{{ -2.5|round }}|{{ 3|round }}|{{ 12|round(-1) }}|{{ 15|round(-1) }}|{{ 1.55|round(1, 'floor') }}|{{ 1.51|round(1, 'ceil') }}|{{ neg|abs }}|{{ -2.5|abs }}",
    "{{ 'x'|round }}",
    "{{ s|replace('l', 'L') }}|{{ s|replace('l', 'L', 2) }}|{{ 'aaa'|replace('', '-') }}|{{ s|truncate(10) }}|{{ s|truncate(10, true) }}|{{ s|truncate(12, false, '…', 0) }}|{{ 'short'|truncate(10) }}",
    "{{ text|indent }}|{{ text|indent(2, true) }}|{{ text|indent('>> ', blank=true) }}|{{ ''|indent(first=true) }}|{{ 'a\\n'|indent(first=true) }}",
    "{{ 5|indent }}",
    "{{ s|e }}|{{ '<a href=\"x\">&\\'</a>'|escape }}|{{ ('<b>'|safe) + '<i>' }}|{{ '<i>' + ('<b>'|safe) }}|{{ ('<b>'|safe) ~ '<i>' }}|{{ ('<b>'|safe) is escaped }}|{{ '<b>' is escaped }}|{{ ('<b>'|e)|e }}",
    "{{ ('%s<br>'|safe) % '<x>' }}|{{ ('<p>'|safe).upper() + '&' }}|{{ ('a<b'|safe)[0] + '<' }}|{{ ('x'|safe).replace('x', '<y>') }}|{{ ('{}'|safe).format('<z>') }}|{{ (','|safe).join(['<', '>']) }}",
    "{{ items|batch(2)|list }}|{{ items|batch(2, 0)|list }}|{{ items|reverse|list }}|{{ 'abc'|reverse }}|{{ d|reverse|list }}|{{ items|list|reverse|list }}",
    "{{ d|attr('items') is defined }}|{{ d|attr('b') }}|{{ people|map('attr', 'name')|list }}",
    "{{ 'a %s %d'|format('x', 3) }}|{{ '%(a)s'|format(a=1) }}|{{ s|string }}|{{ items|string }}|{{ none|string }}|{{ 1|string|length }}",
    "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ d|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ 'ü\"\\n\\u0001<'|tojson }}|{{ 'ü'|tojson(true) }}|{{ (1, 2)|tojson }}|{{ {}|tojson(indent=2) }}|{{ []|tojson(indent=1) }}|{{ {1: 'int key', none: 'n'}|tojson }}",
    "{{ d|tojson(indent='\\t') }}|{{ 1e20|tojson }}|{{ f|tojson }}|{{ n|tojson }}|{{ z|tojson }}|{{ t|tojson }}|{{ '🙂'|tojson(ensure_ascii=true) }}",
    "{{ undefined_var|tojson }}",
    "{{ x|nosuchfilter }}",
    "{% if false %}{{ x|nosuchfilter }}{% endif %}fine",
    # string methods
    "{{ s.upper() }}|{{ s.lower() }}|{{ s.title() }}|{{ s.capitalize() }}|{{ s.swapcase() }}|{{ s.split() }}|{{ s.split(',') }}|{{ s.split(' ', 1) }}|{{ s.rsplit(' ', 1) }}|{{ 'a,b,,c'.split(',') }}|{{ '  a  b  '.split() }}|{{ '  a  b  '.split(none, 1) }}|{{ '  a  b  '.rsplit(none, 1) }}|{{ 'a b c'.rsplit(' ', 1) }}",
    "{{ s.strip() }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ 'xyxhixyx'.strip('xy') }}|{{ s.startswith('Hell') }}|{{ s.startswith(('x', 'H')) }}|{{ s.endswith('🙂') }}|{{ s.find('o') }}|{{ s.rfind('o') }}|{{ s.find('ü') }}|{{ s.count('l') }}|{{ s.index('W') }}",
    "{{ s.replace('o', '0') }}|{{ s.replace('o', '0', 1) }}|{{ '-'.join(['a', 'b']) }}|{{ text.splitlines() }}|{{ text.splitlines(true) }}|{{ 'a1'.isalnum() }}|{{ '12'.isdigit() }}|{{ 'ab'.isalpha() }}|{{ ' '.isspace() }}|{{ 'Ab'.isupper() }}|{{ 'ab'.islower() }}",
    "{{ 'x'.center(5, '*') }}|{{ 'x'.ljust(3) }}!|{{ 'x'.rjust(3, '.') }}|{{ '42'.zfill(5) }}|{{ '-42'.zfill(5) }}|{{ 'pre_x'.removeprefix('pre_') }}|{{ 'x.txt'.removesuffix('.txt') }}|{{ 'a=b=c'.partition('=') }}|{{ 'a=b=c'.rpartition('=') }}",
    "{{ '{} and {}'.format('a', 1) }}|{{ '{0}{1}{0}'.format('x', 'y') }}|{{ '{name}!'.format(name='n') }}|{{ '{:>5}|{:<4}|{:^5}|{:05d}|{:.2f}|{!r}|{:+d}'.format('a', 'b', 'c', 42, 3.14159, 'x', 5) }}|{{ '{{}}'.format() }}",
    "{{ ','.join([1, 2]) }}",
    "{{ s.index('zzz') }}",
    "{{ s.nosuchmethod() }}",
    "{{ s.upper is defined }}|{{ s.nosuch is defined }}|{{ d.get is callable }}",
    # dict and list methods, the sandbox
    "{{ d.keys()|list }}|{{ d.values()|list|length }}|{{ d.items()|list|first }}|{{ d.keys() }}|{{ 'b' in d.keys() }}|{{ d.copy() == d }}|{{ items.count(1) }}|{{ items.index(2) }}|{{ (1, 2, 1).count(1) }}",
    "{{ items.append(4) }}",
    "{{ d.update({'q': 1}) }}",
    "{{ d.pop('b') }}",
    "{{ items.append }}|",
    # statements
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}|{% set c = 1, 2 %}{{ c }}|{% set (p, q), r = ((1, 2), 3) %}{{ p }}{{ q }}{{ r }}",
    "{% set a, b = [1] %}",
    "{% set c = 0 %}{% for i in items %}{{ c }}{% set c = c + i %}{{ c }};{% endfor %}{{ c }}",
    "{% for i in items %}{% if loop.first %}{% set x = i %}{% endif %}{{ x }};{% endfor %}|{{ x }}",
    "{% set ns = namespace(total=0, seen=[]) %}{% for i in items %}{% set ns.total = ns.total + i %}{% set ns.seen = ns.seen + [i] %}{% endfor %}{{ ns.total }}|{{ ns.seen }}|{{ ns }}",
    "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}{{ ns.c }}|{{ ns.items }}|",
    "{% set ns = namespace() %}{% set ns._hidden = 1 %}",
    "{% set x = 1 %}{% set x.y = 2 %}",
    "{% for x in items if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }}({{ loop.previtem }},{{ loop.nextitem }}){{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.depth }}{{ loop.depth0 }};{% endfor %}",
    "{% for x in items %}{{ loop.cycle('a', 'b') }}{{ loop.changed(x > 1) }}{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}:{{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for c in 'ab🙂' %}[{{ c }}]{% endfor %}",
    "{% for a, b in [[1, 2], [3]] %}{{ a }}{% endfor %}",
    "{% for x in none %}{% endfor %}",
    "{% for x in 5 %}{% endfor %}",
    "{% for x in [] %}no{% else %}else{% endfor %}|{% for x in [1] %}yes{% else %}else{% endfor %}|{% for x in [1, 2] if x > 5 %}{% else %}filtered-else{% endfor %}",
    "{% for i in range(10) %}{% if i is even %}{% continue %}{% endif %}{% if i > 6 %}{% break %}{% endif %}{{ i }}{% endfor %}",
    "{% for row in [[1, 2], [3, 4]] %}{% set outer = loop %}{% for c in row %}{{ outer.index }}.{{ loop.index }}={{ c }} {% endfor %}{% endfor %}",
    "{% for x in [1, [2, [3]]] recursive %}{% if x is iterable %}[{{ loop(x) }}]{% else %}{{ x }}@{{ loop.depth }}{% endif %}{% endfor %}",
    "{{ range(5)|list }}|{{ range(2, 10, 3)|list }}|{{ range(5, 0, -2)|list }}|{{ range(0)|list }}|{{ range(3)|length }}",
    "{{ range(100001)|length }}",
    "{{ dict(a=1, b='x') }}|{{ dict({'z': 0}, y=1) }}|{{ dict([('k', 'v')]) }}",
    "{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %}|{% if z %}{% elif '' %}{% else %}none{% endif %}",
    "{% macro m(a, b=2, c=a) %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m(1) }}|{{ m(1, 3) }}|{{ m(1, c=5) }}|{{ m(b=4, a=0) }}|{{ m() }}|",
    "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}",
    "{% macro m() %}{% endmacro %}{{ m(1) }}",
    "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}",
    "{% macro m(a) %}{% endmacro %}{{ m(1, a=1) }}",
    "{% macro outer() %}[{{ caller('x') }}]{% endmacro %}{% call(v) outer() %}got {{ v }} {{ n }}{% endcall %}",
    "{% macro rec(k) %}{{ k }}{% if k > 0 %},{{ rec(k - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}",
    "{% set late = 1 %}{% macro m() %}{{ late }}{% endmacro %}{% set late = 2 %}{{ m() }}",
    "{% for i in [1, 2] %}{% macro m() %}{{ i }}{% endmacro %}{{ m() }}{% endfor %}",
    "{% filter upper %}abc {{ s }}{% endfilter %}|{% filter trim|upper %}  x  {% endfilter %}",
    "{% set blk %}inner {{ n }}{% endset %}{{ blk }}|{% set blk2 | upper %}low{% endset %}{{ blk2 }}",
    "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}|{{ a }}|",
    "{% generation %}gen {{ n }}{% endgeneration %}",
    "{% set j = joiner('|') %}{% for i in items %}{{ j() }}{{ i }}{% endfor %}",
    "{% set cyc = cycler('a', 'b') %}{{ cyc.next() }}{{ cyc.next() }}{{ cyc.next() }}{{ cyc.current }}",
    "{{ raise_exception('custom failure: ' ~ n) }}",
    "{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %d %j %p %y %e %I') }}",
    "{% print s, n %}",
    # whitespace control
    "a  {{- ' b ' -}}  c  {{ 'd' }}  e",
    "  {% if true %}\n  x\n  {% endif %}\n  y  {# comment #}\n z",
    "{% for i in items %}\n  {{ i }}\n{% endfor %}\n",
    "{%- for i in items -%}\n  {{ i }}\n{%- endfor -%}\n",
    "  {%+ if true %}keep{% endif +%}\n  next",
    "line\n    {# comment -#}\n   after\n{#- c2 #}end",
    "{% raw %}{{ not }} {% tags %}{% endraw %}|   {% raw -%}   x   {%- endraw %}|",
    "x\r\ny\rz\n\n",
    "{{ 'trailing' }}\n",
    "\t{% if true %}\ttab-indented{% endif %}\n\u3000{% if true %}ideographic-space{% endif %}",
    "{% if true %}\n{% endif %}\n\nafter",
    "{{ {'a': {'b': 1}}['a']['b'] }}{{ {'x': 1}}}",
    # more corners
    "{{ 1/3 }}|{{ 2/3*3 }}|{{ 1e22 }}|{{ 123456789012345678.0 }}|{{ 5e-324 }}|{{ 1.7976931348623157e308 }}|{{ 0.1 * 3 }}|{{ 3.0|tojson }}|{{ 1e-7|tojson }}",
    "{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 1_000 }}|{{ 1_0.5 }}|{{ 2e3 }}|{{ 2E-3 }}|{{ 0 }}|{{ 00 }}",
    "{{ 1. }}",
    "{{ 'a' ~ 'b' | upper }}|{{ not x is defined }}|{{ z is not none and z }}|{{ -1|abs }}|{{ (-1)|abs }}|{{ ['1', '2']|map('int')|sum }}|{{ '%.2f'|format(3.14159) }}",
    "{{ [1, 2, ] }}|{{ {'a': 1, } }}|{{ {'a': 1}.a }}|{{ range(3)|reverse|list }}|{{ none|default('x', true) }}|{{ 'a' < 'B' }}|{{ 'é' > 'z' }}|{{ t < 2 }}|{{ 'abc' * -1 }}|",
    "{{ {'a': none}|tojson }}|{{ 'x'|tojson(indent=-1) }}|{{ [1, [2, []], {}]|tojson(indent=0) }}|{{ [1, [2, [3]]]|tojson(indent=2) }}|{{ d|tojson(false, 1, none, true) }}",
    "{% set café = 'unicode name' %}{{ café }}",
    "{%\n  if true\n%}multi-line tag{%\nendif\n%}|{{\n n\n }}",
    "a {#- c -#} b {#+ c +#} c\n{# c #}\nd",
    "  {{- '' -}}  |{%- if true -%}  x  {%- endif -%}  |",
    "{% for x in [1, 2] %}{{ loop.changed(x, 1) }}{{ loop.changed(1, 1) }}{% endfor %}",
    "{% for x in [1] %}{{ loop.cycle() }}{% endfor %}",
    "{{ people|sort(attribute='nick')|map(attribute='name')|list }}",
    "{{ [{'a': 1}]|unique|list }}",
    "{{ [1.5, 2, t]|sum }}|{{ [0.1, 0.2]|sum }}|{{ []|sum }}|{{ [[1], [2]]|sum(start=[]) }}",
    "{{ 2 ** 62 }}|{{ 2 ** 63 - 1 + 0 if false else 9 }}|{{ 7.0 // 2 }}|{{ 7 // 2.0 }}|{{ -0.0 }}|{{ 0.0 == -0.0 }}",
    "{{ 7.0 // 0 }}",
    "{{ messages|length }}|{{ messages[0].role }}|{{ messages|map(attribute='content')|join }}|{{ add_generation_prompt }}|{{ tools }}|{{ documents }}|{{ bos_token }}{{ eos_token }}",
    "{% set x = [1, 2] %}{% set y = x %}{{ x is sameas y }}|{% set ns = namespace(a=1) %}{% set ns2 = ns %}{% set ns2.a = 5 %}{{ ns.a }}",
    "{% macro m() %}{{ caller is defined }}{% endmacro %}{{ m() }}",
    "{% macro m(x) %}{{ x }}{% endmacro %}{% set alias = m %}{{ alias('via alias') }}|{{ m is callable }}",
    "{% for i in [3, 1, 2]|sort %}{{ i }}{% endfor %}|{% for k, v in {'b': 1, 'a': 2}|dictsort %}{{ k }}{{ v }}{% endfor %}",
    "{% if items %}{{ items|length }}{% endif %}{% if {} %}no{% endif %}{% if 'false' %}str{% endif %}{% if 0.0 %}no{% endif %}",
    "{{ 'Hello %s, you are %d' % ('Ann', 31) }}|{{ '%5s|%-5s|' % ('r', 'l') }}|{{ '%.1s' % 'abc' }}|{{ '%c%c' % (72, 'i') }}|{{ '%o %X %e' % (8, 255, 12345.678) }}",
    "{{ s|list|length }}|{{ s|reverse|length }}|{{ s.split('o')|length }}|{{ s[3:] ~ s[:3] }}",
    # syntax errors
    "{% if x %}unclosed",
    "{% for x in y %}{% endif %}",
    "{{ 'unterminated }}",
    "{{ (1 }}",
    "{% endfor %}",
    "{% nosuchtag %}",
    "{% break %}",
    "{% include 'x' %}",
    "{{ a.1.b }}|{{ items.0 }}",
    "{{ }}",
    "{# unclosed comment",
]


def _snippet_id(i: int) -> str:
    return f"s{i:03d}"


# One snippet checks that an unknown escape ("\\q") stays as written, which Python warns about.
@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
@pytest.mark.parametrize("index", range(len(SNIPPETS)), ids=_snippet_id)
def test_snippet_matches_jinja2(index: int, tmp_path: Path):
    source = SNIPPETS[index]
    case = {"messages": [user("hi")], "tools": None, "add_generation_prompt": False,
            "bos_token": BOS, "eos_token": EOS, "extra_context": SNIPPET_VARS}
    ok, expected = reference_render(reference_environment(), source, case)
    path = tmp_path / "snippet.jinja"
    path.write_bytes(source.encode("utf-8"))
    got = kiln_render(path, [case])[0]
    if ok:
        assert got["ok"], f"jinja2 renders {expected!r}, kiln fails: {got['error']}"
        assert got["text"] == expected, f"\njinja2: {expected!r}\nkiln:   {got['text']!r}"
    else:
        assert not got["ok"], f"jinja2 fails ({expected}), kiln renders {got['text']!r}"
