# Reference checks for structured outputs, independent of kiln's C++ (src/structured/):
# the JSON Schema format checker, the regex-subset and schema-keyword audits, a GBNF -> Lark
# translation and the Lark parsers that judge grammar outputs. Used by
# tests/e2e/test_structured_outputs.py (judging what `kiln serve` generated) and by
# tests/data/structured/make_schemas.py (checking the corpus when it is written).
import functools
import ipaddress
import json
import re

try:  # Python 3.11+
    import re._constants as sre_c
    import re._parser as sre_parse
except ImportError:  # pragma: no cover
    import sre_constants as sre_c
    import sre_parse

import jsonschema

# ---- JSON Schema formats -------------------------------------------------------------------
# jsonschema's own checkers for these need extra packages (rfc3339-validator, rfc3987) or are
# token checks ("email" only looks for an "@"), so each is written out here from its RFC.

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))", re.ASCII)
# Days in each month; February has 29 in every year.
# NOTE: a grammar can bound the day by the month, but not reasonably by whether the year is
# a leap year, so 2023-02-29 is accepted and 2023-02-30 is not.
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_date(s):
    """RFC 3339 full-date: YYYY-MM-DD, a real month and a day that month can have."""
    m = _DATE.fullmatch(s)
    if not m:
        return False
    month, day = int(m.group(2)), int(m.group(3))
    return 1 <= month <= 12 and 1 <= day <= _MONTH_DAYS[month - 1]


def is_time(s):
    """RFC 3339 full-time: HH:MM:SS[.frac] then Z or +HH:MM/-HH:MM (the offset is required,
    as JSON Schema's "time" is full-time, not partial-time). Second 60 is a leap second."""
    m = _TIME.fullmatch(s)
    if not m:
        return False
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if hour > 23 or minute > 59 or second > 60:
        return False
    if m.group(4) is not None and (int(m.group(4)) > 23 or int(m.group(5)) > 59):
        return False
    return True


def is_date_time(s):
    """RFC 3339 date-time: full-date "T" full-time (T and Z in either case)."""
    if len(s) < 11 or s[10] not in "Tt":
        return False
    return is_date(s[:10]) and is_time(s[11:])


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(s):
    """RFC 4122 textual form, 8-4-4-4-12 hex digits, any case, any version."""
    return _UUID.fullmatch(s) is not None


def is_ipv4(s):
    """Dotted quad, each part 0-255 without leading zeros (Python's ipaddress rules)."""
    try:
        ipaddress.IPv4Address(s)
    except ValueError:
        return False
    return True


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(
    rf"(?:{_ATEXT}+(?:\.{_ATEXT}+)*"              # dot-string local part
    r'|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*")'  # or a quoted string
    rf"@(?:{_LABEL}(?:\.{_LABEL})*"               # a domain
    r"|\[(?:\d{1,3}\.){3}\d{1,3}\])")             # or an IPv4 address literal


def is_email(s):
    """RFC 5321 Mailbox (section 4.1.2): Dot-string or Quoted-string, "@", a domain of
    letter/digit/hyphen labels or an [IPv4] literal. ASCII only ("idn-email" is the other)."""
    m = _EMAIL.fullmatch(s)
    if not m:
        return False
    if s.endswith("]"):
        return is_ipv4(s[s.rindex("[") + 1:-1])
    return True


_URI_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]]|%[0-9A-Fa-f]{2})"
_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:{_URI_CHAR}*(?:#{_URI_CHAR}*)?")


def is_uri(s):
    """RFC 3986 URI: a scheme, ":", then only the characters a URI may hold (unreserved,
    reserved, %XX escapes), at most one "#". The structure of the authority is not checked."""
    return _URI.fullmatch(s) is not None


FORMATS = {"date": is_date, "time": is_time, "date-time": is_date_time, "uuid": is_uuid,
           "ipv4": is_ipv4, "email": is_email, "uri": is_uri}


def _format_checker():
    checker = jsonschema.FormatChecker(formats=())
    for name, fn in FORMATS.items():
        checker.checks(name)(lambda value, fn=fn: not isinstance(value, str) or fn(value))
    return checker


FORMAT_CHECKER = _format_checker()


def validator(schema):
    """A Draft 2020-12 validator that enforces the formats above."""
    return jsonschema.Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def loads_strict(text):
    """json.loads, minus the NaN/Infinity that Python accepts and JSON does not."""
    return json.loads(text, parse_constant=_reject_constant)


def json_errors(schema, text):
    """None if `text` is one JSON value valid against `schema`, else a message."""
    try:
        value = loads_strict(text)
    except ValueError as e:
        return f"not JSON ({e})"
    errors = sorted(validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        return f"invalid at /{'/'.join(map(str, e.absolute_path))}: {e.message}"
    return None


# ---- Regexes -------------------------------------------------------------------------------

_REGEX_OK = {sre_c.LITERAL, sre_c.NOT_LITERAL, sre_c.IN, sre_c.ANY, sre_c.BRANCH,
             sre_c.SUBPATTERN, sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.AT}


def regex_problems(pattern):
    """The constructs in `pattern` outside the subset every constrained-decoding engine
    takes (literals, escapes, classes, \\d\\w\\s, ., groups, |, greedy and lazy
    quantifiers, ^ and $ only at the two ends), as a list of strings; [] when it is in it."""
    problems = []
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as e:
        return [f"does not compile: {e}"]
    if parsed.state.flags & ~(re.UNICODE | re.ASCII):
        problems.append("inline flags")

    def walk(items, top):
        items = list(items)
        for i, (op, av) in enumerate(items):
            if op not in _REGEX_OK:
                problems.append(f"{op} is not in the subset")
            elif op == sre_c.AT:
                at_start = top and i == 0 and av == sre_c.AT_BEGINNING
                at_end = top and i == len(items) - 1 and av == sre_c.AT_END
                if not (at_start or at_end):
                    problems.append(f"anchor {av} in the middle")
            elif op == sre_c.BRANCH:
                for branch in av[1]:
                    walk(branch, False)
            elif op == sre_c.SUBPATTERN:
                _group, add_flags, del_flags, sub = av
                if add_flags or del_flags:
                    problems.append("scoped inline flags")
                walk(sub, False)
            elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
                walk(av[2], False)
            elif op == sre_c.IN:
                for cop, _ in av:
                    if cop not in (sre_c.LITERAL, sre_c.RANGE, sre_c.CATEGORY, sre_c.NEGATE):
                        problems.append(f"{cop} in a class")

    walk(parsed, True)
    return problems


def fullmatch(pattern, text):
    """Python's re.fullmatch with ASCII \\d \\w \\s (the meanings kiln documents)."""
    return re.fullmatch(pattern, text, re.ASCII) is not None


# ---- Grammars ------------------------------------------------------------------------------

_GBNF_RULE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s*::=")


def _gbnf_tokens(body):
    """Splits a GBNF rule body into tokens: literals, classes, names, operators, braces."""
    i, out = 0, []
    while i < len(body):
        c = body[i]
        if c.isspace():
            i += 1
        elif c == "#":
            while i < len(body) and body[i] != "\n":
                i += 1
        elif c in '"[':
            close = '"' if c == '"' else "]"
            j = i + 1
            while body[j] != close:
                j += 2 if body[j] == "\\" else 1
            out.append(body[i:j + 1])
            i = j + 1
        elif c == "{":
            j = body.index("}", i)
            out.append(body[i:j + 1])
            i = j + 1
        elif c.isalpha():
            j = i
            while j < len(body) and (body[j].isalnum() or body[j] in "-_"):
                j += 1
            out.append(body[i:j])
            i = j
        elif c in "()|*+?.":
            out.append(c)
            i += 1
        else:
            raise ValueError(f"GBNF: unexpected {c!r} in {body!r}")
    return out


def gbnf_to_lark(text):
    """The Lark grammar with the same language as a GBNF text (the subset the corpus uses:
    literals, [classes], names, ( ) | * + ? {m} {m,} {m,n}, # comments, rule `root`).
    Rules may continue over lines; a new rule starts with `name ::=`."""
    rules, current = [], None
    for line in text.splitlines():
        m = _GBNF_RULE.match(line)
        if m:
            current = [m.group(1), line[m.end():]]
            rules.append(current)
        elif line.strip() and not line.strip().startswith("#"):
            if current is None:
                raise ValueError(f"GBNF: text before the first rule: {line!r}")
            current[1] += "\n" + line

    def lark_name(name):
        return "start" if name == "root" else "r_" + name.replace("-", "_").lower()

    out = []
    for name, body in rules:
        parts = []
        for tok in _gbnf_tokens(body):
            if tok.startswith("["):
                parts.append("/" + tok.replace("/", "\\/") + "/")
            elif tok.startswith("{"):
                nums = tok[1:-1].split(",")
                lo = int(nums[0])
                if len(nums) == 1:
                    parts.append(f"~ {lo}")
                elif nums[1].strip() == "":
                    # {m,}: m copies, then any number more, of the atom before it.
                    start = len(parts) - 1
                    if parts[start] == ")":
                        depth = 0
                        for start in range(len(parts) - 1, -1, -1):
                            depth += {")": 1, "(": -1}.get(parts[start], 0)
                            if depth == 0:
                                break
                    atom = " ".join(parts[start:])
                    del parts[start:]
                    parts.append(f"{atom} ~ {lo} {atom}*" if lo else f"{atom}*")
                else:
                    parts.append(f"~ {lo}..{int(nums[1])}")
            elif tok == ".":
                parts.append("/./s")
            elif tok[0].isalpha():
                parts.append(lark_name(tok))
            else:
                parts.append(tok)
        out.append(f"{lark_name(name)}: {' '.join(parts)}")
    return "\n".join(out) + "\n"


@functools.lru_cache(maxsize=None)
def lark_parser(grammar, complete=False):
    import lark
    return lark.Lark(grammar, start="start", parser="earley",
                     lexer="dynamic_complete" if complete else "dynamic")


def lark_accepts(grammar, text):
    """Whether `text` is in the grammar's language. The dynamic Earley lexer runs first; it
    matches each regex terminal only as Python's re does at that point, which can refuse a
    string the context-free language holds, so a refusal is retried with dynamic_complete,
    which tries every split of the text into terminals."""
    import lark
    for complete in (False, True):
        try:
            lark_parser(grammar, complete).parse(text)
            return True
        except lark.exceptions.LarkError:
            continue
    return False


def lark_left_recursion(grammar):
    """The user rules of a Lark grammar that can reach themselves without consuming input
    (left recursion), [] if none. Lark's own expansions of * and + (rules named __...) are
    left-recursive by construction and are only followed, never reported."""
    from lark.grammar import NonTerminal
    parser = lark_parser(grammar)
    rules = parser.rules
    nullable = set()
    changed = True
    while changed:
        changed = False
        for r in rules:
            if r.origin.name not in nullable and all(
                    isinstance(s, NonTerminal) and s.name in nullable for s in r.expansion):
                nullable.add(r.origin.name)
                changed = True
    left = {}
    for r in rules:
        out = left.setdefault(r.origin.name, set())
        for s in r.expansion:
            if not isinstance(s, NonTerminal):
                break
            out.add(s.name)
            if s.name not in nullable:
                break
    found = []
    for start in left:
        if str(start).startswith("_"):
            continue
        seen, stack = set(), list(left[start])
        while stack:
            n = stack.pop()
            if n == start:
                found.append(str(start))
                break
            if n not in seen:
                seen.add(n)
                stack.extend(left.get(n, ()))
    return found
