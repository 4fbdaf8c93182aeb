"""A deterministic corpus of varied strings for the tokenizer reference test.

`corpus()` returns the hand-written cases followed by strings generated with a fixed seed,
so every run (and every machine) sees the same list. The aim is to reach every branch of
the pre-tokenizer regexes, the BPE merges, byte fallback and special-token matching:
prose, accents, CJK, emoji sequences (ZWJ, skin tones, flags, keycaps), code, whitespace
runs, numbers of many lengths and scripts, contractions, special tokens written in text,
mixed scripts, control characters and the empty string.

Code points are drawn only from characters assigned in Python's Unicode database, so that
a difference in Unicode versions between kiln's tables and the reference cannot show up as
a false mismatch.

    python3 tests/reference/tokenizer_corpus.py > corpus.jsonl   # one JSON string per line
"""
from __future__ import annotations

import json
import random
import sys
import unicodedata

SEED = 20250101

HAND_WRITTEN = [
    "",
    " ",
    "  ",
    "\n",
    "\t",
    "a",
    "Hello world",
    "Hello, world! How are you today?",
    " leading space",
    "  two leading spaces",
    "trailing space ",
    "trailing spaces   ",
    "multiple   spaces   between    words",
    "tabs\tbetween\t\twords\t",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\nendings\r\n",
    "mixed \t \n \r\n  whitespace\n\t\n  end",
    "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
    " " * 40 + "x",
    "\t" * 33 + "y",
    "x \u00a0 y \u3000 z \u2003 w \u2028 v \u0085 u \u000b t \u000c s",
    "It's a dog's life; they're here, we've gone, I'm sure, you'll see, he'd know.",
    "IT'S LOUD, THEY'RE HERE, WE'VE, I'M, YOU'LL, HE'D, DON'T",
    "don't won't can't shouldn't y'all o'clock rock'n'roll",
    "curly quotes: it\u2019s they\u2019re \u201cquoted\u201d \u2018single\u2019",
    "'s 't 're 've 'm 'll 'd",
    "x's x'S x'Re x'rE x'LL x'Ve x'D",
    "''''' ''s '''t",
    "0",
    "7",
    "42",
    "123",
    "1234",
    "12345",
    "123456",
    "1234567",
    "12345678901234567890123456789012345678901234567890",
    "3.14159 2.71828 -1.5e-10 +6.022e23 1,000,000 1_000_000 0x1F 0b1010 0o777",
    "Phone: +1 (555) 123-4567, ZIP 90210, year 2024, 10:30pm, 25\u00b0C, 50%, $19.99, \u20ac5,00",
    "Arabic-Indic \u0661\u0662\u0663 Devanagari \u0967\u0968\u0969 fullwidth \uff11\uff12\uff13",
    "superscripts x\u00b2 y\u00b3 fractions \u00bd \u00be roman \u2160\u2161\u216b circled \u2460\u2461",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade \u00fcber Stra\u00dfe \u00c5ngstr\u00f6m se\u00f1or",
    "Ti\u1ebfng Vi\u1ec7t c\u00f3 nhi\u1ec1u d\u1ea5u thanh \u0111\u1eb9p",
    "combining: e\u0301 a\u0300 o\u0308 n\u0303 (decomposed) vs \u00e9 \u00e0 \u00f6 \u00f1",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319a\u0300\u0301lgo",
    "\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u6563\u6b65\u5427\u3002",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca\u3001\u3072\u3089\u304c\u306a\u3002",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4. \uc548\ub155\ud558\uc138\uc694!",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u0661\u0662\u0663",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "mixed: Hello \u4e16\u754c \u041f\u0440\u0438\u0432\u0435\u0442 \u0645\u0631\u062d\u0628\u0627 "
    "\u3053\u3093\u306b\u3061\u306f 123 \u00e9t\u00e9",
    "emoji: \U0001f600 \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "\U0001f3f3\ufe0f\u200d\U0001f308 \U0001f1fa\U0001f1f8 \U0001f1ef\U0001f1f5 1\ufe0f\u20e3 #\ufe0f\u20e3",
    "\U0001f9d1\U0001f3fe\u200d\U0001f4bb\U0001f469\U0001f3fb\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f468\U0001f3ff",
    "\U0001f600\U0001f600\U0001f600\U0001f600",
    "\u2764\ufe0f\u2728\u2b50\u26a1\u2615",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "#include <stdio.h>\nint main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    '{"name": "kiln", "version": [0, 1, 0], "ok": true, "ratio": 0.75, "nested": {"a": null}}',
    "for (int i = 0; i < n; ++i) { a[i] += b[i] * c; } // comment",
    "x => x ** 2 !== y && z ?? w || q >>= 3; a::b->c",
    "<table><tr><td>cell</td></tr></table> <b>bold</b> <i>it</i> <h1>Title</h1>",
    "<div class=\"x\">\n  <span>text</span>\n</div>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "https://example.com/path?query=value&other=1#fragment user@example.com",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "<|im_start|><|im_end|><|endoftext|>",
    "text<|im_end|>more text",
    "<|im_start",
    "<|im_start|",
    "<|im_end|>>",
    "<<|im_start|>>",
    "<|endoftext|><|endoftext|>",
    " <|im_start|> spaced <|im_end|> ",
    "<repo_name>kiln<file_sep>main.cpp<filename>x.py<gh_stars>10",
    "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
    "<bos><eos><pad><unk><mask>",
    "<start_of_turn",
    "<end_of_turn><end_of_turn>",
    "<start_of_image>",
    "\x00\x01\x02\x1b[31mred\x1b[0m\x7f",
    "\ufeffBOM at start",
    "zero\u200bwidth\u200cnon\u200djoiner\u2060word",
    "private use \ue000\ue001\uf8ff",
    "\U0001d400\U0001d401 math bold, \U00020000 CJK ext B, \U0001f9ec",
    "a\u0301\u0302\u0303\u0304\u0305",
    "____ ---- ==== **** .... ,,,, !!!! ???? ~~~~ ++++",
    "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "A" * 300,
    "ab" * 200,
    "The quick brown fox jumps over the lazy dog. " * 20,
]

WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have "
    "from or one had by word but not what all were we when your can said there use an each "
    "which she do how their if will up other about out many then them these so some her "
    "would make like him into time has look two more write go see number no way could people "
    "my than first water been call who oil its now find long down day did get come made may "
    "part over new sound take only little work know place year live me back give most very "
    "after thing our just name good sentence man think say great where help through much "
    "before line right too mean old any same tell boy follow came want show also around form "
    "three small set put end does another well large must big even such because turn here "
    "why ask went men read need land different home us move try kind hand picture again "
    "change off play spell air away animal house point page letter mother answer found study "
    "still learn should America world tokenizer inference engine Kubernetes GPU quantization"
).split()

FRAGMENTS = [
    "caf\u00e9", "\u00fcber", "na\u00efve", "Stra\u00dfe", "\u0153uvre", "\u00e5", "\u00f8l",
    "\u4f60\u597d", "\u4e16\u754c", "\u6f22\u5b57", "\u3072\u3089\u304c\u306a", "\u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uae00", "\u041f\u0440\u0438\u0432\u0435\u0442", "\u03b1\u03b2\u03b3", "\u0645\u0631\u062d\u0628\u0627",
    "\u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1fa\U0001f1f8", "\u2764\ufe0f", "1\ufe0f\u20e3", "\U0001f9d1\U0001f3fe\u200d\U0001f4bb",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "\u2019s",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<start_of_turn>", "<end_of_turn>", "<eos>",
    "<bos>", "<table>", "</td>", "<b>", "<|im_start", "|>", "<|",
    "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000",
    "()", "[]", "{}", "->", "=>", "::", "...", "--", "//", "/*", "*/", "#", "@", "$", "%",
    "\u00b2", "\u00bd", "\u2160", "\u0663", "\uff15",
]


def _assigned_chars() -> list[str]:
    """Every assigned, encodable code point (no surrogates, no unassigned) below U+30000."""
    out = []
    for cp in range(0x30000):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat in ("Cn", "Cs"):
            continue
        out.append(ch)
    return out


def _random_number(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randrange(10 ** rng.randint(1, 25)))
    if kind == 1:
        return f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 8)}f}"
    if kind == 2:
        return f"{rng.randrange(1, 10**9):,}"
    if kind == 3:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
    if kind == 4:
        return f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1900, 2100)}"
    return rng.choice(["\u0661\u0662", "\u0967\u0968\u0969", "\uff11\uff12", "\u00b2\u00b3", "\u2160\u2163", "\u00bd"])


def _random_prose(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 30)):
        w = rng.choice(WORDS)
        r = rng.random()
        if r < 0.1:
            w = w.capitalize()
        elif r < 0.13:
            w = w.upper()
        parts.append(w)
        r = rng.random()
        if r < 0.08:
            parts.append(rng.choice([",", ".", "!", "?", ";", ":"]))
        elif r < 0.12:
            parts.append(rng.choice(["'s", "'t", "'re", "'ll", "n't"]))
        elif r < 0.16:
            parts.append(_random_number(rng))
    sep = rng.choice([" ", " ", " ", "  ", "\n", "\t"])
    return sep.join(parts)


def _random_mix(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.35:
            pieces.append(rng.choice(FRAGMENTS))
        elif r < 0.6:
            pieces.append(rng.choice(WORDS))
        elif r < 0.75:
            pieces.append(_random_number(rng))
        else:
            pieces.append(rng.choice([" ", "", "", "\n", "  ", "\t", " \n"]))
    return "".join(pieces)


def _random_codepoints(rng: random.Random, chars: list[str]) -> str:
    n = rng.randint(1, 24)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            out.append(rng.choice(chars))
        elif r < 0.7:
            out.append(chr(rng.randint(0x20, 0x7E)))
        elif r < 0.85:
            out.append(rng.choice(" \t\n\r\u00a0\u3000"))
        else:
            out.append(rng.choice(chars[:0x3000]))  # mostly Latin/Greek/Cyrillic/etc.
    return "".join(out)


def _random_whitespace(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(1, 10)):
        out.append(rng.choice([" ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2003", "\x0b", "\x0c"])
                   * rng.randint(1, 5))
        if rng.random() < 0.6:
            out.append(rng.choice(WORDS + FRAGMENTS))
    return "".join(out)


def _random_code(rng: random.Random) -> str:
    ident = lambda: rng.choice(WORDS) + rng.choice(["", "_", "2", "_x", "Id"])  # noqa: E731
    lines = []
    for _ in range(rng.randint(1, 8)):
        indent = rng.choice(["", "  ", "    ", "\t", "\t\t", "        "])
        lines.append(indent + rng.choice([
            f"{ident()} = {ident()}({_random_number(rng)}, \"{rng.choice(WORDS)}\")",
            f"if ({ident()} <= {_random_number(rng)}) {{ return {ident()}->{ident()}; }}",
            f"def {ident()}(self, *args, **kwargs):  # {rng.choice(WORDS)}",
            f"<{rng.choice(['div', 'td', 'span', 'table', 'b'])}>{rng.choice(WORDS)}</{rng.choice(['div', 'td', 'b'])}>",
            f"{{\"{ident()}\": [{_random_number(rng)}, null, true]}}",
            f"for i in range({rng.randint(0, 999)}): print(i ** 2, end=' ')",
        ]))
    return rng.choice(["\n", "\r\n"]).join(lines)


def corpus(num_generated: int = 1200) -> list[str]:
    rng = random.Random(SEED)
    chars = _assigned_chars()
    generators = [
        _random_prose, _random_prose, _random_mix, _random_mix, _random_whitespace, _random_code,
        lambda r: _random_codepoints(r, chars),
        lambda r: _random_number(r) + rng.choice(["", " ", "\n"]) + _random_number(r),
    ]
    generated = [generators[i % len(generators)](rng) for i in range(num_generated)]
    # A few long texts (several thousand tokens), to check long inputs and encode speed.
    long_texts = [" ".join(_random_prose(rng) for _ in range(150)),
                  "\n".join(_random_code(rng) for _ in range(60)),
                  "".join(_random_mix(rng) for _ in range(200))]
    return HAND_WRITTEN + generated + long_texts


if __name__ == "__main__":
    for s in corpus():
        sys.stdout.write(json.dumps(s) + "\n")
