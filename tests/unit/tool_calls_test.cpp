// Tool calls in model output: format detection from chat templates, the streaming parser
// (every split of the text gives the same events as the whole text), and the grammars that
// constrain generation to calls the parser reads back.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "structured/matcher.h"
#include "structured/text_without.h"
#include "tool_calls/json_scanner.h"
#include "tool_calls/tool_call_format.h"
#include "tool_calls/tool_call_grammar.h"
#include "tool_calls/tool_call_parser.h"

namespace kiln::tool_calls {

// gtest finds it by argument-dependent lookup, so not in the anonymous namespace.
void PrintTo(const ToolCallEvent& e, std::ostream* os) {
  static const char* kNames[] = {"content", "start", "arguments", "end", "invalid"};
  *os << kNames[(int)e.kind] << "(" << e.index << ", \"" << e.text << "\")";
}

namespace {

using Kind = ToolCallEvent::Kind;
using F = ToolCallFormat;

// Events with adjacent content / argument fragments joined (how they are grouped depends
// on the deltas).
std::vector<ToolCallEvent> normalized(const std::vector<ToolCallEvent>& events) {
  std::vector<ToolCallEvent> out;
  for (const ToolCallEvent& e : events) {
    const bool merges = e.kind == Kind::kContent || e.kind == Kind::kArguments;
    if (merges && !out.empty() && out.back().kind == e.kind && out.back().index == e.index) {
      out.back().text += e.text;
    } else {
      out.push_back(e);
    }
  }
  return out;
}

std::vector<ToolCallEvent> parse_pieces(F format, const std::vector<std::string>& pieces) {
  ToolCallParser parser(format);
  std::vector<ToolCallEvent> events;
  for (const std::string& p : pieces) parser.feed(p, events);
  parser.finish(events);
  return normalized(events);
}

std::vector<ToolCallEvent> parse_whole(F format, const std::string& text) {
  return parse_pieces(format, {text});
}

// Whole text, every single split point, byte by byte, and random splits all agree.
void expect_split_invariant(F format, const std::string& text) {
  const auto whole = parse_whole(format, text);
  for (size_t i = 0; i <= text.size(); ++i) {
    ASSERT_EQ(parse_pieces(format, {text.substr(0, i), text.substr(i)}), whole)
        << "split at " << i << " of: " << text;
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  ASSERT_EQ(parse_pieces(format, bytes), whole) << "byte by byte: " << text;
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::string> pieces;
    for (size_t at = 0; at < text.size();) {
      const size_t n = std::min<size_t>(text.size() - at, rng() % 6);
      pieces.push_back(text.substr(at, n));
      at += n;
    }
    ASSERT_EQ(parse_pieces(format, pieces), whole) << "random split: " << text;
  }
}

const F kAllFormats[] = {F::kHermes, F::kLlama3Json, F::kMistral, F::kMistralV11};

ToolCallEvent content(std::string text) { return {Kind::kContent, -1, std::move(text)}; }
ToolCallEvent start(int i, std::string name) { return {Kind::kCallStart, i, std::move(name)}; }
ToolCallEvent args(int i, std::string text) { return {Kind::kArguments, i, std::move(text)}; }
ToolCallEvent end(int i) { return {Kind::kCallEnd, i, ""}; }
ToolCallEvent invalid(int i, std::string text) { return {Kind::kCallInvalid, i, std::move(text)}; }

// ---- formats ----

TEST(ToolCallFormat, NamesRoundTripAndUnknownNamesListTheValidOnes) {
  for (F f : {F::kHermes, F::kLlama3Json, F::kMistral, F::kMistralV11}) {
    auto parsed = parse_tool_call_format_name(tool_call_format_name(f));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, f);
  }
  auto bad = parse_tool_call_format_name("qwen");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("hermes, llama3_json, mistral, mistral_v11"), std::string::npos)
      << bad.message();
}

TEST(ToolCallFormat, DetectedFromTemplateText) {
  // Snippets of the real templates (tests/reference/chat_templates).
  const std::string qwen25 =
      R"({{- '\n<tool_call>\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }})";
  const std::string llama31 =
      R"({{- "<|python_tag|>" + tool_call.name + ".call(" }} {{- '"parameters": ' }})";
  const std::string llama32 =
      R"({{- "Environment: ipython\n" }} {"name": function name, "parameters": dictionary})";
  const std::string mistral03 =
      R"({{- "[TOOL_CALLS] [" }}{%- set out = tool_call.function|tojson %})";
  const std::string mistral32 = R"({{- '[TOOL_CALLS]' + tool_call.function.name }}{{- '[ARGS]' }})";
  const std::string chatml = "{% for message in messages %}{{'<|im_start|>' + message['role']}}";
  EXPECT_EQ(find_tool_call_format(qwen25), F::kHermes);
  EXPECT_EQ(find_tool_call_format(llama31), F::kLlama3Json);
  EXPECT_EQ(find_tool_call_format(llama32), F::kLlama3Json);
  EXPECT_EQ(find_tool_call_format(mistral03), F::kMistral);
  EXPECT_EQ(find_tool_call_format(mistral32), F::kMistralV11);
  EXPECT_EQ(find_tool_call_format(chatml), std::nullopt);
  EXPECT_EQ(detect_tool_call_format(chatml), F::kHermes);  // the documented default
  EXPECT_EQ(detect_tool_call_format(""), F::kHermes);
}

// ---- the JSON scanner ----

bool scans(const std::string& text) {
  JsonScanner s;
  for (char c : text) {
    const auto step = s.push((uint8_t)c);
    if (step == JsonScanner::Step::kError) return false;
    if (step == JsonScanner::Step::kDoneBefore) return false;  // only numbers end that way
  }
  return s.done();
}

TEST(ToolCallJsonScanner, StrictJson) {
  for (const char* good :
       {"{}", "[]", R"({"a":1})", R"( { "a" : [1, -2.5e+3, 0, true, false, null, "x\n\u00e9"] })",
        R"({"emoji":"\ud83d\ude00","utf8":"été"})", R"([[[]],{"a":{"b":[]}}])", R"("s")"}) {
    EXPECT_TRUE(scans(good)) << good;
  }
  for (const char* bad : {"{",
                          R"({"a":1,})",
                          "[1,]",
                          R"({"a" 1})",
                          "{a:1}",
                          "[01]",
                          "[1.]",
                          "[.5]",
                          "[1e]",
                          "[-]",
                          "[tru]",
                          "[True]",
                          R"(["\x"])",
                          R"(["\ud83d"])",
                          R"(["\ude00"])",
                          "[\"\x01\"]",
                          "[\"\xC3\"]",
                          "[\"\xED\xA0\x80\"]",
                          "[\"\xF5\x80\x80\x80\"]",
                          "{}}",
                          "[1 2]",
                          "[\"a\" \"b\"]"}) {
    EXPECT_FALSE(scans(bad)) << bad;
  }
  std::string deep(JsonScanner::kMaxDepth, '[');
  deep += std::string(JsonScanner::kMaxDepth, ']');
  EXPECT_TRUE(scans(deep));
  EXPECT_FALSE(scans("[" + deep + "]"));
  // A top-level number ends before the byte after it.
  JsonScanner n;
  for (char c : std::string("-12.5e3")) EXPECT_EQ(n.push((uint8_t)c), JsonScanner::Step::kToken);
  EXPECT_EQ(n.push(','), JsonScanner::Step::kDoneBefore);
}

// ---- the parser ----

const char* kHermesTwoCalls =
    "Let me check both.\n"
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": [1, "
    "2]}}\n</tool_call>\n"
    "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": "
    "\"Europe/Paris\"}}\n</tool_call>";

TEST(ToolCallParser, HermesContentThenTwoParallelCalls) {
  EXPECT_EQ(parse_whole(F::kHermes, kHermesTwoCalls),
            (std::vector<ToolCallEvent>{content("Let me check both."), start(0, "get_weather"),
                                        args(0, R"({"city":"Paris","days":[1,2]})"), end(0),
                                        start(1, "get_time"), args(1, R"({"tz":"Europe/Paris"})"),
                                        end(1)}));
  expect_split_invariant(F::kHermes, kHermesTwoCalls);
  const ParsedToolCalls parsed = parse_tool_calls(F::kHermes, kHermesTwoCalls);
  EXPECT_EQ(parsed.content, "Let me check both.");
  ASSERT_EQ(parsed.calls.size(), 2u);
  EXPECT_EQ(parsed.calls[0], (ParsedToolCall{"get_weather", R"({"city":"Paris","days":[1,2]})"}));
  EXPECT_EQ(parsed.calls[1], (ParsedToolCall{"get_time", R"({"tz":"Europe/Paris"})"}));
}

TEST(ToolCallParser, HermesAcceptsCompactSpacedAndEscapedForms) {
  for (const char* text :
       {"<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":\"x y\"}}</tool_call>",
        "<tool_call>\n  {  \"name\" :  \"f\" ,\n \"arguments\" : { \"a\" : \"x y\" } }  "
        "\n</tool_call>",
        "<tool_call>\n{\"name\": \"\\u0066\", \"parameters\": {\"a\": \"x y\"}}\n</tool_call>"}) {
    const ParsedToolCalls parsed = parse_tool_calls(F::kHermes, text);
    EXPECT_EQ(parsed.content, "") << text;
    ASSERT_EQ(parsed.calls.size(), 1u) << text;
    EXPECT_EQ(parsed.calls[0], (ParsedToolCall{"f", R"({"a":"x y"})"})) << text;
    expect_split_invariant(F::kHermes, text);
  }
}

TEST(ToolCallParser, TextWithoutCallsIsContentByteForByte) {
  for (F f : {F::kHermes, F::kLlama3Json, F::kMistral, F::kMistralV11}) {
    for (const std::string text :
         {"", "Hello!", "  spaced  \n", "a < b and <tool_ and [TOOL_ and {x}", "<tool_c",
          "[TOOL_CALL", "{\"answer\": 42}", "{\"name\" is not JSON", "<tool_call> hello",
          "[TOOL_CALLS] maybe"}) {
      const ParsedToolCalls parsed = parse_tool_calls(f, text);
      EXPECT_EQ(parsed.content, text) << tool_call_format_name(f) << ": " << text;
      EXPECT_TRUE(parsed.calls.empty()) << tool_call_format_name(f) << ": " << text;
      expect_split_invariant(f, text);
    }
  }
}

TEST(ToolCallParser, PartialMarkersAreHeldBackUntilDecided) {
  ToolCallParser parser(F::kHermes);
  std::vector<ToolCallEvent> events;
  parser.feed("Sure. <tool_c", events);
  EXPECT_EQ(events, (std::vector<ToolCallEvent>{content("Sure.")}));
  events.clear();
  parser.feed("ar is a thing", events);
  EXPECT_EQ(events, (std::vector<ToolCallEvent>{content(" <tool_car is a thing")}));
  events.clear();
  parser.feed(" <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\"", events);
  EXPECT_EQ(events, (std::vector<ToolCallEvent>{start(0, "f"), args(0, "{\"a\"")}));
  events.clear();
  parser.feed(": 1}}\n</tool_", events);
  EXPECT_EQ(events, (std::vector<ToolCallEvent>{args(0, ":1}"), end(0)}));
  events.clear();
  parser.finish(events);  // a cut-off "</tool_call>" after a complete call is dropped
  EXPECT_TRUE(events.empty());

  // Events already in the vector are the caller's: new text comes as new events.
  std::vector<ToolCallEvent> kept{content("old")};
  ToolCallParser other(F::kHermes);
  other.feed("new", kept);
  EXPECT_EQ(kept, (std::vector<ToolCallEvent>{content("old"), content("new")}));
}

TEST(ToolCallParser, MalformedAndUnterminatedCallsGoBackToContent) {
  const std::string bad_json =
      "x <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1,}}\n</tool_call>";
  EXPECT_EQ(parse_whole(F::kHermes, bad_json),
            (std::vector<ToolCallEvent>{
                content("x"), start(0, "f"), args(0, "{\"a\":1,"),
                invalid(0, " <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1,"),
                content("}}\n</tool_call>")}));
  EXPECT_EQ(parse_tool_calls(F::kHermes, bad_json).content, bad_json);
  expect_split_invariant(F::kHermes, bad_json);

  const std::string cut = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, 2";
  EXPECT_EQ(parse_whole(F::kHermes, cut),
            (std::vector<ToolCallEvent>{start(0, "f"), args(0, "{\"a\":[1,2"), invalid(0, cut)}));
  EXPECT_EQ(parse_tool_calls(F::kHermes, cut).content, cut);
  expect_split_invariant(F::kHermes, cut);

  // Not yet a call (the arguments never began): plain text.
  const std::string no_args = "<tool_call>\n{\"name\": \"f\"}\n</tool_call> ok";
  EXPECT_EQ(parse_whole(F::kHermes, no_args), (std::vector<ToolCallEvent>{content(no_args)}));
  expect_split_invariant(F::kHermes, no_args);

  // A broken call does not hide the next one; indices keep counting.
  const std::string then_good =
      "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": tru}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>";
  const ParsedToolCalls parsed = parse_tool_calls(F::kHermes, then_good);
  ASSERT_EQ(parsed.calls.size(), 1u);
  EXPECT_EQ(parsed.calls[0], (ParsedToolCall{"g", "{}"}));
  EXPECT_EQ(parsed.content,
            "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": tru}}\n</tool_call>");
  const auto events = parse_whole(F::kHermes, then_good);
  EXPECT_EQ(events[2].kind, Kind::kCallInvalid);
  EXPECT_EQ(events[4], start(1, "g"));
  expect_split_invariant(F::kHermes, then_good);

  // A marker that begins no call, then a real one right after it.
  const std::string twice =
      "<tool_call><tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call>";
  const ParsedToolCalls p2 = parse_tool_calls(F::kHermes, twice);
  EXPECT_EQ(p2.content, "<tool_call>");
  ASSERT_EQ(p2.calls.size(), 1u);
  expect_split_invariant(F::kHermes, twice);
}

TEST(ToolCallParser, HermesTextAfterCallsAndMissingCloseTags) {
  const std::string text =
      "<tool_call>{\"name\": \"f\", \"arguments\": {}}\n<tool_call>{\"name\": \"g\", "
      "\"arguments\": {\"b\": null}}</tool_call>\n\nDone.";
  EXPECT_EQ(parse_whole(F::kHermes, text),
            (std::vector<ToolCallEvent>{start(0, "f"), args(0, "{}"), end(0), start(1, "g"),
                                        args(1, R"({"b":null})"), end(1), content("Done.")}));
  expect_split_invariant(F::kHermes, text);
}

TEST(ToolCallParser, Llama3JsonCalls) {
  const std::string one = "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}";
  EXPECT_EQ(parse_whole(F::kLlama3Json, one),
            (std::vector<ToolCallEvent>{start(0, "get_weather"), args(0, R"({"city":"Paris"})"),
                                        end(0)}));
  expect_split_invariant(F::kLlama3Json, one);

  const std::string tagged =
      "<|python_tag|>{\"type\": \"function\", \"name\": \"a\", \"parameters\": {\"x\": 1}}; "
      "{\"name\": \"b\", \"arguments\": {}}";
  const ParsedToolCalls parsed = parse_tool_calls(F::kLlama3Json, tagged);
  EXPECT_EQ(parsed.content, "");
  ASSERT_EQ(parsed.calls.size(), 2u);
  EXPECT_EQ(parsed.calls[0], (ParsedToolCall{"a", R"({"x":1})"}));
  EXPECT_EQ(parsed.calls[1], (ParsedToolCall{"b", "{}"}));
  expect_split_invariant(F::kLlama3Json, tagged);

  // Calls only at the start; text after a call is content; JSON that is not a call is text.
  const std::string later = "Sure: {\"name\": \"a\", \"parameters\": {}}";
  EXPECT_EQ(parse_tool_calls(F::kLlama3Json, later).content, later);
  const std::string after = "{\"name\": \"a\", \"parameters\": {}}\n\nThat is all.";
  const ParsedToolCalls p2 = parse_tool_calls(F::kLlama3Json, after);
  EXPECT_EQ(p2.content, "That is all.");
  EXPECT_EQ(p2.calls.size(), 1u);
  expect_split_invariant(F::kLlama3Json, after);
  const std::string person = "{\"name\": \"Ada\", \"born\": 1815}";
  EXPECT_EQ(parse_whole(F::kLlama3Json, person), (std::vector<ToolCallEvent>{content(person)}));
  expect_split_invariant(F::kLlama3Json, person);
}

TEST(ToolCallParser, MistralArrayAndV11Forms) {
  const std::string v03 =
      "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": "
      "\"a1b2c3d4e\"}, {\"name\": \"get_time\", \"arguments\": {}}]";
  const ParsedToolCalls p03 = parse_tool_calls(F::kMistral, v03);
  EXPECT_EQ(p03.content, "");
  ASSERT_EQ(p03.calls.size(), 2u);
  EXPECT_EQ(p03.calls[0], (ParsedToolCall{"get_weather", R"({"city":"Paris"})"}));
  EXPECT_EQ(p03.calls[1], (ParsedToolCall{"get_time", "{}"}));
  expect_split_invariant(F::kMistral, v03);

  const std::string v11 =
      "Checking.[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{\"city\": \"Paris\"}"
      "[TOOL_CALLS]get_time[ARGS]{}";
  EXPECT_EQ(parse_whole(F::kMistralV11, v11),
            (std::vector<ToolCallEvent>{content("Checking."), start(0, "get_weather"),
                                        args(0, R"({"city":"Paris"})"), end(0),
                                        start(1, "get_time"), args(1, "{}"), end(1)}));
  expect_split_invariant(F::kMistralV11, v11);
  // Both forms are read whichever of the two Mistral formats is configured.
  EXPECT_EQ(parse_tool_calls(F::kMistral, v11).calls.size(), 2u);
  EXPECT_EQ(parse_tool_calls(F::kMistralV11, v03).calls.size(), 2u);
  // Nemo's array without the space; the v11 form with [ARGS] dropped by the detokenizer.
  EXPECT_EQ(parse_tool_calls(F::kMistral, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}]")
                .calls.size(),
            1u);
  EXPECT_EQ(parse_tool_calls(F::kMistral, "[TOOL_CALLS]f{\"a\": 1}").calls[0],
            (ParsedToolCall{"f", R"({"a":1})"}));
  // Malformed: a name with a space, a second tag, arguments that are not an object.
  for (const std::string bad :
       {"[TOOL_CALLS]get weather[ARGS]{}", "[TOOL_CALLS]f[CALL_ID]x[CALL_ID]",
        "[TOOL_CALLS]f[ARGS]42", "[TOOL_CALLS] []"}) {
    const ParsedToolCalls p = parse_tool_calls(F::kMistral, bad);
    EXPECT_EQ(p.content, bad);
    EXPECT_TRUE(p.calls.empty()) << bad;
    expect_split_invariant(F::kMistral, bad);
  }
}

TEST(ToolCallParser, RandomTextsSplitAnywhereAndLoseNothing) {
  // Texts stitched from pieces of every format's syntax: the events never depend on the
  // split, and when no call comes out, the content is the text byte for byte.
  const std::vector<std::string> pieces = {
      "<tool_call>", "</tool_call>", "<tool_c", "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]",
      "<|python_tag|>", "{", "}", "[", "]", "\"name\"", "\"arguments\"", "\"parameters\"", ":", ",",
      " ", "\n", "\"f\"", "1", "\"x\"", "abc", ";", "\\", "\xC3\xA9", "get_time",
      "{\"name\": \"f\", \"arguments\": ", "{\"a\": [1, {\"b\": null}]}", "\"id\": \"a1\"",
      // whole calls of each format, so that some texts hold calls among the debris
      "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>",
      "[TOOL_CALLS]f[ARGS]{}", "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {}}]",
      "{\"name\": \"f\", \"parameters\": {}}"};
  std::mt19937 rng(42);
  int with_calls = 0;
  for (F f : kAllFormats) {
    for (int trial = 0; trial < 100; ++trial) {
      std::string text;
      const int n = 1 + (int)(rng() % 12);
      for (int i = 0; i < n; ++i) text += pieces[rng() % pieces.size()];
      const ParsedToolCalls parsed = parse_tool_calls(f, text);
      if (parsed.calls.empty()) {
        ASSERT_EQ(parsed.content, text) << tool_call_format_name(f);
      } else {
        ++with_calls;
      }
      const auto whole = parse_whole(f, text);
      for (size_t i = 0; i <= text.size(); ++i) {
        ASSERT_EQ(parse_pieces(f, {text.substr(0, i), text.substr(i)}), whole)
            << tool_call_format_name(f) << " split at " << i << ": " << text;
      }
    }
  }
  EXPECT_GT(with_calls, 0);  // the pieces do form calls sometimes
}

// ---- text without a marker ----

TEST(TextWithout, AcceptsExactlyTheStringsWithoutTheMarker) {
  // Every string over {a, b, c} up to length 6, for markers with and without borders.
  for (const std::string marker : {"abc", "aba", "aab", "a", "abab"}) {
    structured::GrammarBuilder b;
    auto grammar = b.build(b.add("root", structured::text_without(b, marker)));
    ASSERT_TRUE(grammar.ok()) << grammar.message();
    std::vector<std::string> strings{""};
    for (size_t begin = 0; begin < strings.size() && strings[begin].size() < 6; ++begin) {
      for (char c : {'a', 'b', 'c'}) strings.push_back(strings[begin] + c);
    }
    for (const std::string& s : strings) {
      ASSERT_EQ(structured::grammar_accepts(*grammar, s), s.find(marker) == std::string::npos)
          << marker << " in " << s;
    }
  }
  structured::GrammarBuilder b;
  auto grammar = b.build(b.add("root", structured::text_without(b, "<tool_call>")));
  ASSERT_TRUE(grammar.ok());
  EXPECT_TRUE(structured::grammar_accepts(*grammar, "any \xff\x00 bytes <tool_cal <tool_call"));
  EXPECT_FALSE(structured::grammar_accepts(*grammar, "text <tool_call> more"));
}

// ---- grammars ----

// The exact bytes a call is written with in each format (tool_call_grammar.h).
std::string call_text(F format, const std::string& name, const std::string& arguments) {
  switch (format) {
    case F::kHermes:
      return "<tool_call>\n{\"name\": \"" + name + "\", \"arguments\": " + arguments +
             "}\n</tool_call>";
    case F::kLlama3Json:
      return "{\"name\": \"" + name + "\", \"parameters\": " + arguments + "}";
    case F::kMistral:
      return "{\"name\": \"" + name + "\", \"arguments\": " + arguments + "}";
    case F::kMistralV11:
      return "[TOOL_CALLS]" + name + "[ARGS]" + arguments;
  }
  return "";
}

std::string calls_text(F format, const std::vector<ParsedToolCall>& calls) {
  const char* separator = format == F::kHermes       ? "\n"
                          : format == F::kLlama3Json ? "; "
                          : format == F::kMistral    ? ", "
                                                     : "";
  std::string text;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (i > 0) text += separator;
    text += call_text(format, calls[i].name, calls[i].arguments);
  }
  return format == F::kMistral ? "[TOOL_CALLS] [" + text + "]" : text;
}

ToolCallGrammarRequest weather_request(F format, ToolChoice choice, bool parallel) {
  ToolCallGrammarRequest r;
  r.format = format;
  r.tools = {
      {"get_weather", nlohmann::ordered_json::parse(
                          R"({"type": "object", "properties": {"city": {"type": "string"}},
                              "required": ["city"], "additionalProperties": false})")},
      {"get_time", nullptr},  // no parameters: any object
  };
  r.choice = std::move(choice);
  r.parallel_tool_calls = parallel;
  return r;
}

structured::Grammar grammar_for(const ToolCallGrammarRequest& r) {
  auto g = build_tool_call_grammar(r);
  EXPECT_TRUE(g.ok()) << g.message();
  return g.ok() ? std::move(g).value() : structured::Grammar{};
}

const ParsedToolCall kWeather{"get_weather", R"({"city":"paris"})"};
const ParsedToolCall kTime{"get_time", R"({"tz":"utc","n":[1,2]})"};
const ParsedToolCall kTimeEmpty{"get_time", "{}"};

// What the grammar accepts, the parser reads back as exactly those calls.
void expect_accepted_and_parsed(const structured::Grammar& g, F format, const std::string& text,
                                const std::string& content,
                                const std::vector<ParsedToolCall>& calls) {
  EXPECT_TRUE(structured::grammar_accepts(g, text))
      << tool_call_format_name(format) << ": " << text;
  const ParsedToolCalls parsed = parse_tool_calls(format, text);
  EXPECT_EQ(parsed.content, content) << text;
  EXPECT_EQ(parsed.calls, calls) << text;
}

TEST(ToolCallGrammar, RequiredAcceptsValidCallsOnly) {
  for (F f : kAllFormats) {
    SCOPED_TRACE(tool_call_format_name(f));
    const auto one = grammar_for(weather_request(f, {ToolChoice::Mode::kRequired, ""}, false));
    for (const auto& call : {kWeather, kTime, kTimeEmpty})
      expect_accepted_and_parsed(one, f, calls_text(f, {call}), "", {call});
    EXPECT_FALSE(structured::grammar_accepts(one, calls_text(f, {kWeather, kTime})));
    EXPECT_FALSE(structured::grammar_accepts(one, ""));
    EXPECT_FALSE(structured::grammar_accepts(one, "Sure. " + calls_text(f, {kWeather})));
    // Arguments against the schema, unknown tools, the wrong key spelling.
    EXPECT_FALSE(
        structured::grammar_accepts(one, calls_text(f, {{"get_weather", R"({"city":5})"}})));
    EXPECT_FALSE(structured::grammar_accepts(one, calls_text(f, {{"get_weather", "{}"}})));
    EXPECT_FALSE(structured::grammar_accepts(
        one, calls_text(f, {{"get_weather", R"({"city":"paris","x":1})"}})));
    EXPECT_FALSE(structured::grammar_accepts(one, calls_text(f, {{"get_news", "{}"}})));
    EXPECT_FALSE(structured::grammar_accepts(one, calls_text(f, {{"get_time", "[]"}})));

    const auto many = grammar_for(weather_request(f, {ToolChoice::Mode::kRequired, ""}, true));
    expect_accepted_and_parsed(many, f, calls_text(f, {kWeather}), "", {kWeather});
    expect_accepted_and_parsed(many, f, calls_text(f, {kWeather, kTime, kWeather}), "",
                               {kWeather, kTime, kWeather});
    EXPECT_FALSE(structured::grammar_accepts(many, ""));
  }
}

TEST(ToolCallGrammar, NamedAcceptsOneCallOfThatTool) {
  for (F f : kAllFormats) {
    SCOPED_TRACE(tool_call_format_name(f));
    const auto g = grammar_for(weather_request(f, {ToolChoice::Mode::kNamed, "get_time"}, true));
    expect_accepted_and_parsed(g, f, calls_text(f, {kTime}), "", {kTime});
    EXPECT_FALSE(structured::grammar_accepts(g, calls_text(f, {kWeather})));
    EXPECT_FALSE(structured::grammar_accepts(g, calls_text(f, {kTime, kTime})));
  }
}

TEST(ToolCallGrammar, AutoAllowsTextThenCallsButNeverTheMarkerInText) {
  for (F f : {F::kHermes, F::kMistral, F::kMistralV11}) {
    SCOPED_TRACE(tool_call_format_name(f));
    const std::string marker = f == F::kHermes ? "<tool_call>" : "[TOOL_CALLS]";
    const auto g = grammar_for(weather_request(f, {ToolChoice::Mode::kAuto, ""}, true));
    expect_accepted_and_parsed(g, f, "", "", {});
    expect_accepted_and_parsed(g, f, "It is sunny. <tool_ [TOOL_ {\"name\": 1}",
                               "It is sunny. <tool_ [TOOL_ {\"name\": 1}", {});
    expect_accepted_and_parsed(g, f, "Let me look.\n" + calls_text(f, {kWeather, kTime}),
                               "Let me look.", {kWeather, kTime});
    expect_accepted_and_parsed(g, f, calls_text(f, {kTimeEmpty}), "", {kTimeEmpty});
    EXPECT_FALSE(structured::grammar_accepts(g, "a " + marker + " b"));
    EXPECT_FALSE(structured::grammar_accepts(g, "a " + marker));
    EXPECT_FALSE(structured::grammar_accepts(g, calls_text(f, {kWeather}) + " and text"));
    EXPECT_FALSE(
        structured::grammar_accepts(g, "x" + calls_text(f, {{"get_weather", R"({"city":1})"}})));
    // Every prefix of a valid output can be continued (generation never gets stuck).
    const std::string text = "Hm.\n" + calls_text(f, {kWeather});
    for (size_t i = 0; i <= text.size(); ++i)
      EXPECT_TRUE(structured::grammar_accepts_prefix(g, text.substr(0, i))) << i;
  }
  // Llama: calls only at the start; text may not open a JSON object or <|python_tag|>.
  const auto g = grammar_for(weather_request(F::kLlama3Json, {ToolChoice::Mode::kAuto, ""}, false));
  expect_accepted_and_parsed(g, F::kLlama3Json, calls_text(F::kLlama3Json, {kWeather}), "",
                             {kWeather});
  // (A call after text is text to the parser, so the grammar may allow it.)
  for (const std::string& text :
       std::vector<std::string>{"", "  ", "It is sunny {\"name\": 1}", "<b>bold</b>", "<|python",
                                " \nok", "Sure: " + calls_text(F::kLlama3Json, {kWeather})}) {
    expect_accepted_and_parsed(g, F::kLlama3Json, text, text, {});
  }
  for (const std::string text : {"{\"answer\": 1}", "  {", "<|python_tag|>x"}) {
    EXPECT_FALSE(structured::grammar_accepts(g, text)) << text;
  }
}

TEST(ToolCallGrammar, MistralVariantsTheTemplatesShow) {
  const auto g = grammar_for(weather_request(F::kMistral, {ToolChoice::Mode::kRequired, ""}, true));
  for (const std::string text :
       {"[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}}]",
        "[TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"a1B2c3D4e\"}]"}) {
    expect_accepted_and_parsed(g, F::kMistral, text, "", {kTimeEmpty});
  }
  EXPECT_FALSE(structured::grammar_accepts(
      g, "[TOOL_CALLS] [{\"name\": \"get_time\", \"arguments\": {}, \"id\": \"short\"}]"));
  const auto v11 =
      grammar_for(weather_request(F::kMistralV11, {ToolChoice::Mode::kRequired, ""}, true));
  expect_accepted_and_parsed(v11, F::kMistralV11, "[TOOL_CALLS]get_time[CALL_ID]a1B2c3D4e[ARGS]{}",
                             "", {kTimeEmpty});
}

TEST(ToolCallGrammar, ErrorsNameTheProblem) {
  auto error_of = [](ToolCallGrammarRequest r) {
    auto g = build_tool_call_grammar(r);
    EXPECT_FALSE(g.ok());
    EXPECT_EQ(check_tool_call_request(r).message(), g.ok() ? "" : g.message());
    return g.ok() ? std::string() : g.message();
  };
  auto r = weather_request(F::kHermes, {ToolChoice::Mode::kAuto, ""}, true);
  r.tools.push_back({"", nullptr});
  EXPECT_EQ(error_of(r), "tools[2] has no name");
  r.tools.back().name = "get_time";
  EXPECT_EQ(error_of(r), "two tools are named \"get_time\"");
  r = weather_request(F::kHermes, {ToolChoice::Mode::kNamed, "get_news"}, true);
  EXPECT_EQ(error_of(r), "tool_choice names \"get_news\", which is not among the tools");
  r = weather_request(F::kHermes, {ToolChoice::Mode::kRequired, ""}, true);
  r.tools.clear();
  EXPECT_EQ(error_of(r), "tool_choice \"required\" needs at least one tool");
  r = weather_request(F::kHermes, {ToolChoice::Mode::kAuto, ""}, true);
  r.tools[1].parameters = {{"type", "string"}};
  EXPECT_EQ(error_of(r),
            "tool \"get_time\": parameters must describe an object (\"type\": \"object\")");
  r = weather_request(F::kMistralV11, {ToolChoice::Mode::kAuto, ""}, true);
  r.tools[1].name = "get time";
  EXPECT_NE(error_of(r).find("mistral_v11"), std::string::npos);
  // The schema compiler's refusal, prefixed with the tool.
  r = weather_request(F::kHermes, {ToolChoice::Mode::kAuto, ""}, true);
  r.tools[0].parameters["patternProperties"] = {{"^x", {{"type", "string"}}}};
  auto g = build_tool_call_grammar(r);
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(g.message().starts_with("tool \"get_weather\": ")) << g.message();
  EXPECT_NE(g.message().find("patternProperties"), std::string::npos) << g.message();
  EXPECT_TRUE(check_tool_call_request(r).ok());  // only the compiler knows
}

TEST(ToolCallGrammar, ParametersWithoutTypeAreObjects) {
  auto r = weather_request(F::kHermes, {ToolChoice::Mode::kNamed, "get_time"}, false);
  r.tools[1].parameters = {{"properties", {{"n", {{"type", "integer"}}}}}};
  const auto g = grammar_for(r);
  EXPECT_TRUE(structured::grammar_accepts(g, calls_text(F::kHermes, {{"get_time", R"({"n":3})"}})));
  EXPECT_FALSE(structured::grammar_accepts(g, calls_text(F::kHermes, {{"get_time", "3"}})));
}

}  // namespace
}  // namespace kiln::tool_calls
