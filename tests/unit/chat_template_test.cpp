// The chat-template interpreter (src/chat/): language features, Python semantics, error
// messages with their template position, and the limits that stop hostile templates.
// tests/reference/test_chat_templates.py compares it with Python's jinja2 byte for byte.
#include "chat/chat_template.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace kiln::chat {
namespace {

using ojson = nlohmann::ordered_json;

// Renders `source` with `context`; on failure returns "ERROR: <message>".
std::string render(std::string_view source, const ojson& context = ojson::object(),
                   const RenderOptions& options = {}) {
  auto t = ChatTemplate::parse(source);
  if (!t.ok()) return "ERROR: " + t.message();
  auto r = t->render(context, options);
  if (!r.ok()) return "ERROR: " + r.message();
  return r.value();
}

bool fails_with(std::string_view source, std::string_view needle,
                const ojson& context = ojson::object()) {
  const std::string out = render(source, context);
  return out.rfind("ERROR: ", 0) == 0 && out.find(needle) != std::string::npos;
}

TEST(ChatTemplate, TextAndExpressions) {
  EXPECT_EQ(render("plain text"), "plain text");
  EXPECT_EQ(render("{{ 'a' ~ 'b' }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }}"), "ab 7 9");
  EXPECT_EQ(render("{{ x }}|{{ y.z }}", ojson{{"x", "X"}, {"y", {{"z", 5}}}}), "X|5");
  EXPECT_EQ(render("{# a comment #}after"), "after");
  EXPECT_EQ(render("{{ 'a' if true else 'b' }}{{ 'c' if false else 'd' }}{{ 'e' if false }}"),
            "ad");
  EXPECT_EQ(render("{{ \"esc\\n\\t\\\"q\\\" \\u00e9\" }}"), "esc\n\t\"q\" \xc3\xa9");
}

TEST(ChatTemplate, PythonValuePrinting) {
  EXPECT_EQ(render("{{ 1.0 }} {{ 2.5 }} {{ 1e16 }} {{ 1e15 }} {{ 0.00001 }} {{ 0.1 + 0.2 }}"),
            "1.0 2.5 1e+16 1000000000000000.0 1e-05 0.30000000000000004");
  EXPECT_EQ(render("{{ true }} {{ false }} {{ none }} {{ True }} {{ None }}"),
            "True False None True None");
  EXPECT_EQ(render("{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v'} }} {{ (1,) }} {{ () }}"),
            "[1, 'a', None, True, 1.5] {'k': 'v'} (1,) ()");
  EXPECT_EQ(render("{{ [\"it's\", 'say \"hi\"'] }}"), "[\"it's\", 'say \"hi\"']");
  EXPECT_EQ(render("{{ undefined_name }}|"), "|");
}

TEST(ChatTemplate, Arithmetic) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7 / 2 }} {{ 4 / 2 }}"),
            "3 -4 2 -2 3.5 2.0");
  EXPECT_EQ(render("{{ 2 ** 10 }} {{ 2 ** -1 }} {{ 'ab' * 3 }} {{ [0] * 2 }} {{ true + 1 }}"),
            "1024 0.5 ababab [0, 0] 2");
  EXPECT_EQ(render("{{ 5.5 // 2 }} {{ -5.5 % 2 }}"), "2.0 0.5");
  EXPECT_TRUE(fails_with("{{ 1 // 0 }}", "division or modulo by zero"));
  EXPECT_TRUE(fails_with("{{ 'a' + 1 }}", "can only concatenate str (not \"int\") to str"));
  EXPECT_TRUE(fails_with("{{ 9223372036854775807 + 1 }}", "integer overflow"));
}

TEST(ChatTemplate, ComparisonsAndLogic) {
  EXPECT_EQ(
      render(
          "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'b' > 'a' }} {{ [1, 2] < [1, 3] }}"),
      "True False True True True");
  EXPECT_EQ(
      render("{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }}"),
      "True True True True");
  EXPECT_EQ(render("{{ 0 or 'x' }} {{ 1 and 'y' }} {{ not 0 }} {{ [] or 'empty' }}"),
            "x y True empty");
  EXPECT_TRUE(
      fails_with("{{ 1 < 'a' }}", "'<' not supported between instances of 'int' and 'str'"));
}

TEST(ChatTemplate, SubscriptsAndSlices) {
  const ojson ctx = {{"s", "héllo"}, {"l", {1, 2, 3, 4}}, {"d", {{"a", {{"b", "deep"}}}}}};
  EXPECT_EQ(render("{{ s[1] }} {{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s|length }}", ctx),
            "é o él olléh 5");
  EXPECT_EQ(render("{{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ l[10:] }} {{ l[-1] }}", ctx),
            "[2, 3, 4] [1, 2, 3] [1, 3] [] 4");
  EXPECT_EQ(render("{{ d.a.b }} {{ d['a']['b'] }} {{ d.missing }}|{{ l[99] }}|", ctx),
            "deep deep ||");
  EXPECT_TRUE(fails_with("{{ l[::0] }}", "slice step cannot be zero", ctx));
}

TEST(ChatTemplate, WhitespaceControlFollowsHuggingFace) {
  // trim_blocks: the newline after a block tag goes; lstrip_blocks: its indentation goes.
  EXPECT_EQ(render("  {% if true %}\n  x\n  {% endif %}\n  y"), "  x\n  y");
  EXPECT_EQ(render("a  {{- ' b ' -}}  c"), "a b c");
  EXPECT_EQ(render("{% for i in [1, 2] %}\n{{ i }}\n{% endfor %}"), "1\n2\n");
  EXPECT_EQ(render("{%- for i in [1, 2] -%}\n  {{ i }}\n{%- endfor %}"), "12");
  EXPECT_EQ(render("  {%+ if true %}x{% endif +%}\ny"), "  x\ny");
  EXPECT_EQ(render("a\r\nb\n"), "a\nb");  // newlines normalized, one trailing newline dropped
  EXPECT_EQ(render("{% raw %}{{ kept }}{% endraw %}"), "{{ kept }}");
}

TEST(ChatTemplate, ForLoops) {
  EXPECT_EQ(
      render("{% for x in [5, 6, 7] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
             "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"),
      "1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }},{% endfor %}"),
            "-2,1-3,2-,");
  EXPECT_EQ(
      render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}/{{ loop.length }} {% endfor %}"),
      "2/2 4/2 ");
  EXPECT_EQ(render("{% for x in [] %}no{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }} {% endfor %}"),
            "a=1 b=2 ");
  EXPECT_EQ(render("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}"
                   "{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "013");
  EXPECT_EQ(render("{% for x in 'ab' %}{{ loop.cycle('o', 'e') }}{{ x }}{% endfor %}"), "oaeb");
  // Each iteration starts from the enclosing scope: sets do not leak (jinja2 scoping).
  EXPECT_EQ(
      render("{% set c = 0 %}{% for i in [1, 2] %}{% set c = c + i %}{{ c }}{% endfor %}{{ c }}"),
      "120");
  EXPECT_TRUE(fails_with("{% for a, b in [[1]] %}{% endfor %}", "not enough values to unpack"));
}

TEST(ChatTemplate, NamespaceCarriesStateOutOfLoops) {
  EXPECT_EQ(render("{% set ns = namespace(n=0, seen=[]) %}{% for i in [1, 2, 3] %}"
                   "{% set ns.n = ns.n + i %}{% set ns.seen = ns.seen + [i] %}{% endfor %}{{ ns.n "
                   "}} {{ ns.seen }}"),
            "6 [1, 2, 3]");
  EXPECT_TRUE(fails_with("{% set x = 1 %}{% set x.y = 2 %}", "non-namespace object"));
  EXPECT_TRUE(fails_with("{% set ns = namespace() %}{% set ns._p = 1 %}", "underscore-prefixed"));
}

TEST(ChatTemplate, MacrosAndCallBlocks) {
  EXPECT_EQ(render("{% macro m(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, 2) }}{{ "
                   "m(b=3, a=4) }}"),
            "[1B][12][43]");
  EXPECT_EQ(render("{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}"),
            "(1, 2){'k': 3}");
  EXPECT_EQ(render("{% macro w(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                   "{% call w('b') %}bold{% endcall %}"),
            "<b>bold</b>");
  EXPECT_EQ(
      render(
          "{% macro f(n) %}{{ n }}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}"),
      "3210");
  EXPECT_TRUE(
      fails_with("{% macro m() %}{% endmacro %}{{ m(1) }}", "takes not more than 0 argument(s)"));
}

TEST(ChatTemplate, SetBlocksFiltersAndWith) {
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(render("{% set x %}in {{ 1 }}{% endset %}[{{ x }}]"), "[in 1]");
  EXPECT_EQ(render("{% filter upper %}shout{% endfilter %}"), "SHOUT");
  EXPECT_EQ(render("{% with a = 2 %}{{ a * 2 }}{% endwith %}{{ a }}"), "4");
  EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");
}

TEST(ChatTemplate, Filters) {
  const ojson ctx = {{"people", {{{"name", "Ann"}, {"age", 31}}, {{"name", "bob"}, {"age", 25}}}},
                     {"words", {"b", "A", "c"}}};
  EXPECT_EQ(render("{{ '  x  '|trim }}|{{ 'ab'|upper }}|{{ 'AB'|lower }}|{{ 'hello world'|title "
                   "}}|{{ 'hI'|capitalize }}"),
            "x|AB|ab|Hello World|Hi");
  EXPECT_EQ(render("{{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ words|join('-') }} "
                   "{{ words|first }} "
                   "{{ words|last }} {{ words|length }} {{ words|reverse|list }}",
                   ctx),
            "['A', 'b', 'c'] ['A', 'b', 'c'] b-A-c b c 3 ['c', 'A', 'b']");
  EXPECT_EQ(
      render(
          "{{ people|map(attribute='name')|list }} {{ people|selectattr('age', 'gt', "
          "30)|map(attribute='name')|first }} "
          "{{ people|rejectattr('age', 'gt', 30)|list|length }} {{ people|sum(attribute='age') }}",
          ctx),
      "['Ann', 'bob'] Ann 1 56");
  EXPECT_EQ(render("{{ x|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ "
                   "none|d('n') }}"),
            "d  d None");
  EXPECT_EQ(render("{{ '42'|int + 1 }} {{ '3.5'|float }} {{ 2.5|round }} {{ 3.14159|round(2) }} {{ "
                   "-3|abs }} {{ 'x'|int }}"),
            "43 3.5 2.0 3.14 3 0");
  EXPECT_EQ(
      render(
          "{{ {'b': 1, 'a': 2}|dictsort }} {{ [1, 2, 1]|unique|list }} {{ {'a': 1}|items|list }}"),
      "[('a', 2), ('b', 1)] [1, 2] [('a', 1)]");
  EXPECT_EQ(render("{{ 'a\\nb'|indent(2) }}|{{ 'a b c'|wordcount }}|{{ 'x'|center(5) }}|{{ "
                   "'aXbX'|replace('X', '-') }}"),
            "a\n  b|3|  x  |a-b-");
  EXPECT_EQ(render("{{ ('<b>'|safe) + '<i>' }} {{ '<&>'|e }}"), "<b>&lt;i&gt; &lt;&amp;&gt;");
  EXPECT_TRUE(fails_with("{{ 1|nope }}", "No filter named 'nope'."));
  EXPECT_EQ(render("{% if false %}{{ 1|nope }}{% endif %}ok"),
            "ok");  // like jinja2: checked when used
}

TEST(ChatTemplate, TojsonMatchesHuggingFace) {
  const ojson ctx = {
      {"v",
       {{"name", "f"}, {"args", {1, 2.5, nullptr, true, "é\"<"}}, {"empty", ojson::object()}}}};
  EXPECT_EQ(render("{{ v|tojson }}", ctx),
            "{\"name\": \"f\", \"args\": [1, 2.5, null, true, \"é\\\"<\"], \"empty\": {}}");
  EXPECT_EQ(render("{{ v.args|tojson(indent=2) }}", ctx),
            "[\n  1,\n  2.5,\n  null,\n  true,\n  \"é\\\"<\"\n]");
  EXPECT_EQ(render("{{ v|tojson(sort_keys=true, separators=(',', ':')) }}", ctx),
            "{\"args\":[1,2.5,null,true,\"é\\\"<\"],\"empty\":{},\"name\":\"f\"}");
  EXPECT_EQ(render("{{ 'é\\n'|tojson(ensure_ascii=true) }}"), "\"\\u00e9\\n\"");
  EXPECT_TRUE(
      fails_with("{{ nothing|tojson }}", "Object of type Undefined is not JSON serializable"));
}

TEST(ChatTemplate, Tests) {
  EXPECT_EQ(render("{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} "
                   "{{ 1 is number }} "
                   "{{ 1 is integer }} {{ 1.0 is float }} {{ {} is mapping }} {{ [] is sequence }} "
                   "{{ 'a' is iterable }}"),
            "False True True True True True True True True True");
  EXPECT_EQ(render("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ true is boolean }} "
                   "{{ 1 is true }} "
                   "{{ 'a' is eq 'a' }} {{ 2 is gt 1 }} {{ 1 is in [1] }} {{ 'ab' is lower }}"),
            "True True True True False True True True True");
  EXPECT_TRUE(fails_with("{{ 1 is nope }}", "No test named 'nope'."));
}

TEST(ChatTemplate, StringDictAndListMethods) {
  EXPECT_EQ(render("{{ ' a b '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'a b c'.split(none, 1) }}|{{ "
                   "'x.y.z'.rsplit('.', 1) }}"),
            "a b|['a', 'b']|['a', 'b c']|['x.y', 'z']");
  EXPECT_EQ(render("{{ 'abc'.startswith('a') }} {{ 'abc'.endswith(('x', 'c')) }} {{ "
                   "'a-b'.replace('-', '+') }} "
                   "{{ 'Hi'.upper() }} {{ 'Hi'.lower() }} {{ '<think>x'.lstrip('<') }} {{ '{} "
                   "{x}'.format(1, x=2) }}"),
            "True True a+b HI hi think>x 1 2");
  EXPECT_EQ(render("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b', 0) }} {{ {'a': 1}.keys()|list }} "
                   "{{ [1, 2, 1].count(1) }}"),
            "1 0 ['a'] 2");
  // The sandbox refuses methods that mutate: jinja2's ImmutableSandboxedEnvironment.
  EXPECT_TRUE(fails_with("{{ [1].append(2) }}",
                         "access to attribute 'append' of 'list' object is unsafe."));
  EXPECT_TRUE(fails_with("{{ {}.update({}) }}", "unsafe"));
}

TEST(ChatTemplate, UndefinedSemanticsMatchJinja2) {
  // Printing, testing and iterating an undefined value is fine; using it raises.
  EXPECT_EQ(
      render(
          "[{{ x }}]{{ x|length }}{{ x is defined }}{% for i in x %}no{% endfor %}{{ x ~ 'y' }}"),
      "[]0Falsey");
  EXPECT_EQ(
      render("{{ d.missing is defined }}{{ n.attr }}", ojson{{"d", ojson::object()}, {"n", 1}}),
      "False");
  EXPECT_TRUE(fails_with("{{ x.y }}", "'x' is undefined"));
  EXPECT_TRUE(fails_with("{{ x + 1 }}", "'x' is undefined"));
  EXPECT_TRUE(fails_with("{{ x() }}", "'x' is undefined"));
  EXPECT_TRUE(fails_with("{{ d.a.b }}", "'dict object' has no attribute 'a'",
                         ojson{{"d", ojson::object()}}));
}

TEST(ChatTemplate, ErrorsNameLineAndColumn) {
  EXPECT_EQ(render("line one\n  {{ x.y }}"),
            "ERROR: chat template error (line 2:6): 'x' is undefined");
  EXPECT_EQ(render("{% if true %}\n{{ raise_exception('Roles must alternate') }}\n{% endif %}"),
            "ERROR: chat template raised an error (line 2:4): Roles must alternate");
  EXPECT_EQ(
      render("{% for x in y %}\nbody"),
      "ERROR: chat template error (line 2:5): unexpected end of template: expected 'endfor' or "
      "'else' to close the 'for' tag at 1:4");
  EXPECT_EQ(render("ok {{ 1 +* 2 }}"), "ERROR: chat template error (line 1:10): unexpected '*'");
  EXPECT_EQ(render("{% nosuchtag %}"),
            "ERROR: chat template error (line 1:4): Encountered unknown tag 'nosuchtag'.");
  EXPECT_EQ(render("{{ 'open"),
            "ERROR: chat template error (line 1:4): unterminated string literal");
  EXPECT_EQ(render("{# open"), "ERROR: chat template error (line 1:1): missing end of comment tag");
  EXPECT_EQ(render("a\n\n{{ [1, 2][:: 0] }}"),
            "ERROR: chat template error (line 3:4): slice step cannot be zero");
  EXPECT_TRUE(fails_with("{% break %}", "only allowed inside a for loop"));
  EXPECT_TRUE(fails_with("{% include 'other.jinja' %}", "not supported"));
}

TEST(ChatTemplate, HostileTemplatesFailCleanly) {
  // Unbounded recursion: a depth error, not a crashed stack.
  EXPECT_TRUE(
      fails_with("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion is too deep"));
  // Runaway loops: the step budget ends them (a small one here, to keep the test quick), and
  // the clock ends work the steps do not count (ever longer string copies).
  RenderOptions few_steps;
  few_steps.limits.max_steps = 100000;
  EXPECT_NE(
      render("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
             ojson::object(), few_steps)
          .find("exceeded 100000 steps"),
      std::string::npos);
  RenderOptions short_time;
  short_time.limits.max_seconds = 0.05;
  EXPECT_NE(render("{% set ns = namespace(s='') %}{% for i in range(100000) %}"
                   "{% set ns.s = ns.s ~ ('x' * 1000) %}{% endfor %}",
                   ojson::object(), short_time)
                .find("time limit"),
            std::string::npos);
  // Output that would not fit in memory.
  EXPECT_TRUE(fails_with("{{ 'x' * 100000000000 }}", "output exceeds"));
  RenderOptions small;
  small.limits.max_output_bytes = 1000;
  EXPECT_EQ(render("{% for i in range(200) %}0123456789{% endfor %}", ojson::object(), small)
                .rfind("ERROR: ", 0),
            0u);
  // Deep nesting in the source or in the data.
  EXPECT_TRUE(fails_with("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}",
                         "nested too deeply"));
  std::string nested_ifs;
  for (int i = 0; i < 500; ++i) nested_ifs += "{% if true %}";
  EXPECT_TRUE(fails_with(nested_ifs, "nested too deeply"));
  EXPECT_TRUE(fails_with("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}",
                         "nested too deeply"));
  // (Built by parsing, never copied: nlohmann::json's copy constructor itself recurses.)
  const std::string deep_json = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_TRUE(
      fails_with("{{ v }}", "nested more than", ojson::parse("{\"v\": " + deep_json + "}")));
  auto chatml = ChatTemplate::parse(default_chatml_template());
  ASSERT_TRUE(chatml.ok());
  ChatTemplateInputs deep_inputs;
  deep_inputs.messages = ojson::parse("[" + deep_json + "]");
  const auto deep_result = apply_chat_template(*chatml, deep_inputs);
  ASSERT_FALSE(deep_result.ok());
  EXPECT_NE(deep_result.message().find("nested more than"), std::string::npos);
  EXPECT_TRUE(fails_with(
      "{% set ns = namespace(v=[]) %}{% for i in range(5000) %}{% set ns.v = [ns.v] %}{% endfor %}",
      "nested more than"));
  EXPECT_TRUE(fails_with("{{ range(1000000)|length }}", "Range too big"));
  std::string long_chain = "{{ 1";
  for (int i = 0; i < 1000; ++i) long_chain += " + 1";
  EXPECT_TRUE(fails_with(long_chain + " }}", "expression is too long"));
  // Format widths and precisions past 2^20 (jinja_fuzz: the digits overflowed an int),
  // through % and str.format; below it, floats of any length print in full, as Python's.
  EXPECT_TRUE(fails_with("{{ '%.1999999999999f' % 1.5 }}", "format width or precision"));
  EXPECT_TRUE(fails_with("{{ '%99999999999999999999d' % 1 }}", "format width or precision"));
  EXPECT_TRUE(fails_with("{{ '{:.99999999999f}'.format(1.5) }}", "format width or precision"));
  EXPECT_EQ(render("{{ ('%.300f' % 1e300) | length }}"), "602");  // 301 digits, '.', 300 zeros
  EXPECT_EQ(render("{{ '{:.3f}'.format(2.5) }}|{{ '%10.2e' % 12345.678 }}"), "2.500|  1.23e+04");
}

TEST(ChatTemplate, StrftimeNowUsesTheFixedTime) {
  RenderOptions fixed;
  fixed.now = 1722002709;  // 2024-07-26 14:05:09 UTC
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y %H:%M:%S') }}", ojson::object(), fixed),
            "26 Jul 2024 14:05:09");
}

TEST(ChatTemplate, ApplyChatTemplateSetsTheHuggingFaceVariables) {
  auto t = ChatTemplate::parse(default_chatml_template());
  ASSERT_TRUE(t.ok()) << t.message();
  const nlohmann::json messages = {{{"role", "user"}, {"content", "Hi"}}};
  auto r = apply_chat_template(*t, messages, nullptr, true, "<s>", "</s>");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");

  auto probe = ChatTemplate::parse(
      "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ tools is none }}|{{ "
      "documents is none }}|"
      "{{ messages[0].content is defined }}|{{ messages[0].thinking }}|{{ "
      "messages[0].reasoning_content }}|"
      "{{ enable_thinking }}");
  ASSERT_TRUE(probe.ok()) << probe.message();
  ChatTemplateInputs in;
  in.messages = ojson::array({{{"role", "assistant"}, {"content", nullptr}, {"reasoning", "hmm"}}});
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.extra_context = {{"enable_thinking", false}};
  auto p = apply_chat_template(*probe, in);
  ASSERT_TRUE(p.ok()) << p.message();
  // null-valued keys are dropped and reasoning is aliased, as transformers does.
  EXPECT_EQ(p.value(), "<s>|</s>|False|True|True|False|hmm|hmm|False");

  in.extra_context = {{"messages", 1}};
  EXPECT_FALSE(apply_chat_template(*probe, in).ok());
}

TEST(ChatTemplate, FallbackTemplatesByArchitecture) {
  const nlohmann::json messages = {{{"role", "system"}, {"content", "Be brief."}},
                                   {{"role", "user"}, {"content", "Hi"}}};
  auto gemma = ChatTemplate::parse(default_template_for_architecture("gemma3"));
  ASSERT_TRUE(gemma.ok()) << gemma.message();
  auto r = apply_chat_template(*gemma, messages, nullptr, true, "<bos>", "<eos>");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.value(), "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(default_template_for_architecture("llama"), default_chatml_template());
  EXPECT_EQ(default_template_for_architecture(""), default_chatml_template());
}

TEST(ChatTemplate, OrderedJsonKeepsKeyOrderForTojson) {
  const ojson tool =
      ojson::parse(R"({"name": "z", "description": "d", "parameters": {"b": 1, "a": 2}})");
  EXPECT_EQ(render("{{ t|tojson }}", ojson{{"t", tool}}),
            "{\"name\": \"z\", \"description\": \"d\", \"parameters\": {\"b\": 1, \"a\": 2}}");
}

TEST(ChatTemplate, ConcurrentRendersShareOneTemplate) {
  auto t = ChatTemplate::parse("{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}");
  ASSERT_TRUE(t.ok());
  const ChatTemplate tmpl = *t;
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      ojson ctx = {{"messages", {{{"role", "user"}, {"content", std::to_string(i)}}}}};
      for (int k = 0; k < 200; ++k) {
        auto r = tmpl.render(ctx);
        results[i] = r.ok() ? r.value() : r.message();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(results[i], "user:" + std::to_string(i) + ";");
}

TEST(ChatTemplate, LongConversationsRenderInLinearTime) {
  ojson messages = ojson::array();
  for (int i = 0; i < 20000; ++i) {
    messages.push_back({{"role", i % 2 ? "assistant" : "user"},
                        {"content", "message number " + std::to_string(i)}});
  }
  auto t = ChatTemplate::parse(default_chatml_template());
  ASSERT_TRUE(t.ok());
  ChatTemplateInputs in;
  in.messages = messages;
  auto r = apply_chat_template(*t, in);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_GT(r.value().size(), 20000u * 30);
}

}  // namespace
}  // namespace kiln::chat
