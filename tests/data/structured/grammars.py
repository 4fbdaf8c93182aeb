# Grammars for grammars.jsonl (make_schemas.py). `grammar` is Lark EBNF with start rule
# `start`: no %ignore (whitespace is written out where it may appear) and no left recursion
# (repetition instead), as a pushdown-automaton engine takes them. `gbnf`, where present, is
# the same language in llama.cpp's GBNF (root rule `root`). `examples` must parse and
# `non_examples` must not, under both Lark's dynamic and dynamic_complete Earley lexers.
# NOTE: Lark's dynamic lexer matches each regex terminal once, as Python's re does at that
# point (no backtracking into a shorter match across terminals), so every terminal here is
# followed by something it cannot match; then Lark decides exactly the context-free language.
GRAMMARS = [
    {
        "name": "arithmetic",
        "prompt": "Write an arithmetic expression.",
        "grammar": r"""
start: expr
expr: term (("+" | "-") term)*
term: factor (("*" | "/") factor)*
factor: NUMBER | "(" expr ")" | "-" factor
NUMBER: /[0-9]+(\.[0-9]+)?/
""",
        "gbnf": r"""
root ::= expr
expr ::= term (("+" | "-") term)*
term ::= factor (("*" | "/") factor)*
factor ::= number | "(" expr ")" | "-" factor
number ::= [0-9]+ ("." [0-9]+)?
""",
        "examples": ["1+2*3", "(4.5-1)/-2", "((7))", "10*(2+3)-4/5"],
        "non_examples": ["1+", "(1", "1 + 2", "+1"],
    },
    {
        "name": "arithmetic_spaced",
        "prompt": "Write a sum with spaces around the operators.",
        "grammar": r"""
start: sum
sum: product (" " ADDOP " " product)*
product: atom (" " MULOP " " atom)*
atom: INT | "(" sum ")"
ADDOP: "+" | "-"
MULOP: "*" | "/" | "%"
%import common.INT
""",
        "examples": ["1 + 2", "3 * (4 - 5) % 6", "42"],
        "non_examples": ["1+2", "1  + 2", "(1 + 2"],
    },
    {
        "name": "json_subset",
        "prompt": "Write a small JSON object describing a book.",
        "grammar": r"""
start: value
value: object | array | STRING | NUMBER | "true" | "false" | "null"
object: "{" (pair ("," pair)*)? "}"
pair: STRING ":" value
array: "[" (value ("," value)*)? "]"
STRING: /"[^"\\\n]*"/
NUMBER: /-?(0|[1-9][0-9]*)(\.[0-9]+)?/
""",
        "gbnf": r"""
root ::= value
value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" (pair ("," pair)*)? "}"
pair ::= string ":" value
array ::= "[" (value ("," value)*)? "]"
string ::= "\"" [^"\\\n]* "\""
number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)?
""",
        "examples": ['{"title":"Dune","year":1965,"tags":["sf","classic"],"read":true}', "[]", '{"a":null,"b":[1,-2.5,{}]}'],
        "non_examples": ["{a:1}", '{"a":01}', '{"a":1,}', "[1 ,2]"],
    },
    {
        "name": "csv_lines",
        "prompt": "Write a CSV header and two rows about fruit.",
        "grammar": r"""
start: row ("\n" row) ~ 0..3
row: field ("," field)*
field: (QUOTED | BARE)?
QUOTED: /"[^"\n]*"/
BARE: /[A-Za-z0-9 ._-]+/
""",
        "gbnf": r"""
root ::= row ("\n" row){0,3}
row ::= field ("," field)*
field ::= (quoted | bare)?
quoted ::= "\"" [^"\n]* "\""
bare ::= [A-Za-z0-9 ._-]+
""",
        "examples": ["name,colour,price\napple,red,1.20\nbanana,yellow,0.5", 'a,"b, c",,d', ""],
        "non_examples": ['a,"b', "a\n\n\n\n\nb"],
    },
    {
        "name": "sql_select",
        "prompt": "Write a SQL query that lists the names of users older than 30.",
        "grammar": r"""
start: "SELECT " columns " FROM " NAME where? order? limit? ";"
columns: "*" | NAME (", " NAME)*
where: " WHERE " cond (" AND " cond)*
cond: NAME " " op " " value
op: "=" | "!=" | "<" | ">" | "<=" | ">="
value: NUMBER | STRING
order: " ORDER BY " NAME (" ASC" | " DESC")?
limit: " LIMIT " NUMBER
NAME: /[a-z_][a-z0-9_]*/
NUMBER: /[0-9]+/
STRING: /'[^'\n]*'/
""",
        "examples": ["SELECT name FROM users WHERE age > 30;",
                     "SELECT * FROM orders WHERE total >= 100 AND city = 'Berlin' ORDER BY total DESC LIMIT 5;",
                     "SELECT id, name FROM t;"],
        "non_examples": ["select name from users;", "SELECT name FROM users", "SELECT FROM users;"],
    },
    {
        "name": "key_value_config",
        "prompt": "Write a small config file with key=value lines.",
        "grammar": r"""
start: line ("\n" line)*
line: KEY "=" VALUE | "#" COMMENT?
KEY: /[a-z][a-z0-9_.]*/
VALUE: /[^\n]+/
COMMENT: /[^\n]+/
""",
        "gbnf": r"""
root ::= line ("\n" line)*
line ::= key "=" val | "#" [^\n]*
key ::= [a-z] [a-z0-9_.]*
val ::= [^\n]+
""",
        "examples": ["# server\nhost=0.0.0.0\nport=8080", "log.level=debug"],
        "non_examples": ["Host=x", "host=", "=1"],
    },
    {
        "name": "string_list",
        "prompt": "List three colours.",
        "grammar": r"""
start: "[" (ITEM (", " ITEM)*)? "]"
ITEM: /"[a-z]+"/
""",
        "gbnf": r"""
root ::= "[" (item (", " item)*)? "]"
item ::= "\"" [a-z]+ "\""
""",
        "examples": ['["red", "green", "blue"]', "[]", '["x"]'],
        "non_examples": ['["Red"]', '["a","b"]', '[""]'],
    },
    {
        "name": "nested_parens",
        "prompt": "Write balanced parentheses.",
        "grammar": r"""
start: group+
group: "(" group* ")"
""",
        "gbnf": r"""
root ::= group+
group ::= "(" group* ")"
""",
        "examples": ["()", "(()())", "((()))()"],
        "non_examples": ["(()", ")(", ""],
    },
    {
        "name": "assignments",
        "prompt": "Write two lines of code that assign variables.",
        "grammar": r"""
start: stmt+
stmt: NAME " = " expr ";\n"
expr: atom (" " OP " " atom)*
atom: NAME | NUMBER | "(" expr ")"
OP: "+" | "-" | "*" | "/"
NAME: /[a-z_][a-z0-9_]*/
NUMBER: /[0-9]+/
""",
        "examples": ["x = 1;\n", "total = price * (qty + 1);\ny = total / 2;\n"],
        "non_examples": ["x = 1;", "X = 1;\n", "x=1;\n"],
    },
    {
        "name": "function_call",
        "prompt": "Call the function plot with some arguments.",
        "grammar": r"""
start: NAME "(" (arg (", " arg)*)? ")"
arg: value | NAME "=" value
value: SIGNED_NUMBER | ESCAPED_STRING | "True" | "False" | "None"
NAME: /[a-z_][a-z0-9_]*/
%import common.SIGNED_NUMBER
%import common.ESCAPED_STRING
""",
        "examples": ['plot(1, 2.5, color="red", grid=True)', "f()", 'g(x=-3e2, label="a \\"b\\"")'],
        "non_examples": ["plot(1,2)", "plot(color='red')", "Plot()"],
    },
    {
        "name": "iso_date",
        "prompt": "Write a date.",
        "grammar": r"""
start: year "-" month "-" day
year: DIGIT ~ 4
month: "0" /[1-9]/ | "1" /[0-2]/
day: "0" /[1-9]/ | /[12]/ DIGIT | "3" /[01]/
%import common.DIGIT
""",
        "gbnf": r"""
root ::= year "-" month "-" day
year ::= [0-9]{4}
month ::= "0" [1-9] | "1" [0-2]
day ::= "0" [1-9] | [12] [0-9] | "3" [01]
""",
        "examples": ["2024-02-29", "1999-12-31", "0001-01-01"],
        "non_examples": ["2024-13-01", "2024-00-10", "2024-01-32", "24-01-01"],
    },
    {
        "name": "yes_no",
        "prompt": "Is the sky blue? Answer yes or no.",
        "grammar": r"""
start: "yes" | "no"
""",
        "gbnf": r"""
root ::= "yes" | "no"
""",
        "examples": ["yes", "no"],
        "non_examples": ["Yes", "yes.", "maybe"],
    },
    {
        "name": "answer_with_reason",
        "prompt": "Is water wet? Answer and give a short reason.",
        "grammar": r"""
start: ANSWER ", because " REASON "."
ANSWER: "Yes" | "No"
REASON: /[a-z][a-z ]{0,59}/
""",
        "examples": ["Yes, because it is a liquid.", "No, because i said so."],
        "non_examples": ["Yes because it is.", "Yes, because It is."],
    },
    {
        "name": "email_address",
        "prompt": "Write an email address.",
        "grammar": r"""
start: LOCAL "@" LABEL ("." LABEL)+
LOCAL: /[a-z0-9]+([._][a-z0-9]+)*/
LABEL: /[a-z0-9]+(-[a-z0-9]+)*/
""",
        "gbnf": r"""
root ::= local "@" label ("." label)+
local ::= [a-z0-9]+ ([._] [a-z0-9]+)*
label ::= [a-z0-9]+ ("-" [a-z0-9]+)*
""",
        "examples": ["john.doe@example.com", "a_b@mail.co.uk", "x@my-host.org"],
        "non_examples": ["john@localhost", ".a@b.com", "a@-b.com"],
    },
    {
        "name": "bullet_list",
        "prompt": "List some things to pack for a trip.",
        "grammar": r"""
start: item ~ 1..5
item: "- " TEXT "\n"
TEXT: /[^\n-][^\n]{0,39}/
""",
        "examples": ["- passport\n- toothbrush\n", "- a\n"],
        "non_examples": ["- a", "passport\n", "- a\n- b\n- c\n- d\n- e\n- f\n"],
    },
    {
        "name": "html_subset",
        "prompt": "Write a paragraph of HTML with some bold text.",
        "grammar": r"""
start: element
element: "<p>" content* "</p>" | "<b>" content* "</b>" | "<i>" content* "</i>"
content: element | TEXT
TEXT: /[^<>]+/
""",
        "examples": ["<p>Hello <b>world</b>!</p>", "<i></i>", "<p><b><i>x</i></b></p>"],
        "non_examples": ["<p>Hello</b>", "<p>a<p>", "<div></div>"],
    },
    {
        "name": "s_expression",
        "prompt": "Write a Lisp expression.",
        "grammar": r"""
start: sexpr
sexpr: ATOM | "(" sexpr (" " sexpr)* ")"
ATOM: /[a-z0-9+*\/<>=-]+/
""",
        "gbnf": r"""
root ::= sexpr
sexpr ::= atom | "(" sexpr (" " sexpr)* ")"
atom ::= [a-z0-9+*/<>=-]+
""",
        "examples": ["(+ 1 (* 2 3))", "x", "(define (sq x) (* x x))"],
        "non_examples": ["(+ 1", "( + 1)", "()"],
    },
    {
        "name": "boolean_logic",
        "prompt": "Write a boolean formula.",
        "grammar": r"""
start: disj
disj: conj (" or " conj)*
conj: neg (" and " neg)*
neg: "not " neg | atom
atom: "true" | "false" | VAR | "(" disj ")"
VAR: /[a-z]/
""",
        "gbnf": r"""
root ::= disj
disj ::= conj (" or " conj)*
conj ::= neg (" and " neg)*
neg ::= "not " neg | atom
atom ::= "true" | "false" | [a-z] | "(" disj ")"
""",
        "examples": ["a and not (b or true)", "not not x", "false or p and q"],
        "non_examples": ["a and", "a or or b", "(a"],
    },
    {
        "name": "pip_requirement",
        "prompt": "Write a Python requirement specifier for requests.",
        "grammar": r"""
start: NAME (spec ("," spec)*)?
spec: op VERSION
op: ">=" | "<=" | "==" | "!=" | "~=" | ">" | "<"
NAME: /[A-Za-z][A-Za-z0-9_-]*/
VERSION: /[0-9]+(\.[0-9]+){0,2}/
""",
        "examples": ["requests>=2.31,<3", "numpy==1.26.4", "lark"],
        "non_examples": ["requests >= 2", "requests=>2", "2requests"],
    },
    {
        "name": "http_request_line",
        "prompt": "Write the first line of an HTTP request.",
        "grammar": r"""
start: method " " PATH " HTTP/1.1"
method: "GET" | "POST" | "PUT" | "DELETE" | "HEAD"
PATH: /\/[A-Za-z0-9\/._?=&-]*/
""",
        "gbnf": r"""
root ::= method " " path " HTTP/1.1"
method ::= "GET" | "POST" | "PUT" | "DELETE" | "HEAD"
path ::= "/" [A-Za-z0-9/._?=&-]*
""",
        "examples": ["GET / HTTP/1.1", "POST /api/v1/items?id=3 HTTP/1.1"],
        "non_examples": ["GET /a b HTTP/1.1", "get / HTTP/1.1", "GET / HTTP/2"],
    },
    {
        "name": "markdown_table",
        "prompt": "Write a two-column markdown table of countries and capitals.",
        "grammar": r"""
start: row "\n" "|---|---|" ("\n" row) ~ 1..3
row: "| " cell " | " cell " |"
cell: WORD (" " WORD)*
WORD: /[A-Za-z0-9]+/
""",
        "examples": ["| Country | Capital |\n|---|---|\n| France | Paris |\n| New Zealand | Wellington |"],
        "non_examples": ["| a | b |\n|---|---|", "| a | b |\n|---|---|\n| c |"],
    },
    {
        "name": "us_address",
        "prompt": "Write a US street address.",
        "grammar": r"""
start: NUMBER " " STREET "\n" CITY ", " STATE " " ZIP
NUMBER: /[1-9][0-9]{0,4}/
STREET: /[A-Z][a-z]+( [A-Z][a-z]+)* (St|Ave|Rd|Blvd)/
CITY: /[A-Z][a-z]+( [A-Z][a-z]+)*/
STATE: /[A-Z]{2}/
ZIP: /[0-9]{5}/
""",
        "examples": ["1600 Pennsylvania Ave\nWashington, DC 20500", "12 Main St\nSan Jose, CA 95112"],
        "non_examples": ["12 Main Street\nSan Jose, CA 95112", "12 Main St, San Jose, CA 95112"],
    },
    {
        "name": "chess_moves",
        "prompt": "Write the first moves of a chess game.",
        "grammar": r"""
start: move (" " move)*
move: MOVENUM ". " san (" " san)?
san: SQUAREMOVE | "O-O" | "O-O-O"
MOVENUM: /[1-9][0-9]?/
SQUAREMOVE: /[KQRBN]?[a-h]?[1-8]?x?[a-h][1-8](=[QRBN])?[+#]?/
""",
        "examples": ["1. e4 e5 2. Nf3 Nc6 3. Bb5", "1. d4 O-O-O", "12. exd5+"],
        "non_examples": ["1.e4", "1. e9", "1. e4  e5"],
    },
    {
        "name": "durations",
        "prompt": "Write a duration like 1h30m.",
        "grammar": r"""
start: part+
part: NUMBER UNIT
NUMBER: /[0-9]+/
UNIT: "h" | "ms" | "m" | "s"
""",
        "examples": ["1h30m", "250ms", "5m10s20ms"],
        "non_examples": ["h", "1 h", "1d"],
    },
    {
        "name": "int_array_bounded",
        "prompt": "Write a JSON array of a few integers.",
        "grammar": r"""
start: "[" (INT ("," INT) ~ 0..4)? "]"
%import common.INT
""",
        "gbnf": r"""
root ::= "[" (int ("," int){0,4})? "]"
int ::= [0-9]+
""",
        "examples": ["[]", "[1,2,3]", "[10,20,30,40,50]"],
        "non_examples": ["[1,2,3,4,5,6]", "[1,]", "[-1]"],
    },
    {
        "name": "common_terminals",
        "prompt": "Write a name, a colon and a quoted value or a number.",
        "grammar": r"""
start: CNAME ": " (ESCAPED_STRING | SIGNED_NUMBER) (";" WS? CNAME ": " (ESCAPED_STRING | SIGNED_NUMBER))*
%import common.CNAME
%import common.ESCAPED_STRING
%import common.SIGNED_NUMBER
%import common.WS
""",
        "examples": ['width: 100; label: "box"', 'pi: 3.14159', 'x_1: -2e-3;y: "q"'],
        "non_examples": ["1x: 2", "x:2", 'x: "open'],
    },
    {
        "name": "toy_english",
        "prompt": "Write a simple sentence about animals.",
        "grammar": r"""
start: np " " vp "."
np: det " " (adj " ")* noun
vp: verb (" " np)?
det: "the" | "a"
adj: "big" | "small" | "red" | "happy"
noun: "cat" | "dog" | "ball" | "bird"
verb: "sees" | "chases" | "sleeps" | "likes"
""",
        "gbnf": r"""
root ::= np " " vp "."
np ::= det " " (adj " ")* noun
vp ::= verb (" " np)?
det ::= "the" | "a"
adj ::= "big" | "small" | "red" | "happy"
noun ::= "cat" | "dog" | "ball" | "bird"
verb ::= "sees" | "chases" | "sleeps" | "likes"
""",
        "examples": ["the big dog chases a small red ball.", "a cat sleeps."],
        "non_examples": ["the cat.", "cat sleeps.", "the cat sleeps"],
    },
    {
        "name": "nested_int_lists",
        "prompt": "Write a nested list of integers.",
        "grammar": r"""
start: list
list: "[" (item ("," item)*)? "]"
item: INT | list
%import common.INT
""",
        "examples": ["[1,[2,[3]],[]]", "[]", "[[[[0]]]]"],
        "non_examples": ["[1,[2]", "[,]", "1"],
    },
    {
        "name": "log_line",
        "prompt": "Write a log line.",
        "grammar": r"""
start: DATE " " TIME " " level " " MSG
level: "INFO" | "WARN" | "ERROR" | "DEBUG"
DATE: /\d{4}-\d{2}-\d{2}/
TIME: /\d{2}:\d{2}:\d{2}/
MSG: /[^\n]{1,80}/
""",
        "examples": ["2024-05-01 12:00:00 INFO server started on port 8080", "2024-05-01 12:00:01 ERROR disk full"],
        "non_examples": ["2024-05-01 12:00:00 TRACE x", "2024-05-01 INFO x"],
    },
    {
        "name": "greek_words",
        "prompt": "Γράψε δύο ελληνικές λέξεις.",
        "grammar": r"""
start: WORD (" " WORD) ~ 0..3
WORD: /[α-ωά-ώ]{1,12}/
""",
        "gbnf": r"""
root ::= word (" " word){0,3}
word ::= [α-ωά-ώ]{1,12}
""",
        "examples": ["καλημέρα κόσμε", "αλφα"],
        "non_examples": ["Καλημέρα", "alpha", "α  β"],
    },
]
