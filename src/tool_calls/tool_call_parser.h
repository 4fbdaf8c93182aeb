// Reads tool calls out of a model's output text as it is generated, in one of the formats of
// tool_call_format.h, for the OpenAI chat API, the Anthropic messages API and the CLI.
//
// Feed the text deltas in order; the parser emits events:
//   kContent    text outside calls (a model may write text before a call);
//   kCallStart  call `index` (0, 1, ... in order) named `text`: emitted once the name is
//               known and its arguments have begun, so that ordinary text that merely looks
//               like the start of a call (Llama's `{"name": ...` JSON) is not announced;
//   kArguments  a fragment of the call's arguments (`text`); the fragments of one call
//               concatenate to exactly its final arguments string;
//   kCallEnd    the call is complete;
//   kCallInvalid  the started call `index` turned out malformed (or the text ended inside
//               it): `text` is its raw text, which belongs to the content. A streaming API
//               cannot take back what it sent for the call; it should send `text` as content
//               and not count the call. parse_tool_calls() puts it into the content.
// Nothing is emitted as content while it may still be the start of a call marker
// ("<tool_c" is held back until the next bytes decide), so markers split across deltas at
// any byte are found, and the events are the same however the text is split (up to how
// adjacent content or argument fragments are grouped).
//
// The arguments string is the JSON object the model wrote with the whitespace between its
// tokens left out (strings, numbers and escapes byte for byte as written, key order kept):
// a valid JSON text, identical to the raw text when generation was constrained by the tool
// grammar (whose arguments are compact), and streamable as it arrives.
//
// What counts as a call (per format, see tool_call_format.h): the format's marker (Llama:
// the start of the message, after whitespace and an optional <|python_tag|>), then a JSON
// object whose first key is "name" (Llama may put "type": "function" first) with a string
// value, then "arguments" (or "parameters") with an object value; other keys (Mistral's
// "id") may follow. Whitespace between these tokens is free; the argument object is
// checked as strict JSON.
//
// Rules for what is not a clean call:
//   - A marker followed by something that is not a call (before the arguments begin) is
//     text: the marker's first byte is content and scanning resumes right after it.
//   - A started call that breaks (invalid JSON, a missing close) is kCallInvalid; scanning
//     resumes at the byte that broke it. At finish, an unterminated started call is
//     kCallInvalid and any held-back text is content: nothing the model wrote is dropped
//     except whitespace next to calls and the format's own syntax around complete calls
//     (Hermes' "</tool_call>", even if cut off at the end; Mistral's "]", even if missing).
//   - Whitespace right before a call, between calls and right after the last call is
//     layout, not content.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tool_calls/tool_call_format.h"

namespace kiln::tool_calls {

struct ToolCallEvent {
  enum class Kind : uint8_t { kContent, kCallStart, kArguments, kCallEnd, kCallInvalid };
  Kind kind = Kind::kContent;
  int32_t index = -1;  // the call, for every kind but kContent
  std::string text;    // content, the name, an arguments fragment, or the invalid call's text
  bool operator==(const ToolCallEvent&) const = default;
};

class ToolCallParser {
 public:
  explicit ToolCallParser(ToolCallFormat format);
  ~ToolCallParser();
  ToolCallParser(ToolCallParser&&) noexcept;
  ToolCallParser& operator=(ToolCallParser&&) noexcept;

  // Appends the events the delta decides to `out` (adjacent content, and adjacent
  // argument fragments of one call, come as one event).
  void feed(std::string_view delta, std::vector<ToolCallEvent>& out);
  // At the end of generation: the held-back text and the fate of an open call. The parser
  // takes no more text after this.
  void finish(std::vector<ToolCallEvent>& out);

  // Calls started so far (the next call's index).
  int32_t num_calls() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // the arguments object as compact JSON text
  bool operator==(const ParsedToolCall&) const = default;
};

struct ParsedToolCalls {
  std::string content;  // the text outside calls, invalid calls' text included in place
  std::vector<ParsedToolCall> calls;
};

// A whole output at once: the same parser fed one delta, events collected.
ParsedToolCalls parse_tool_calls(ToolCallFormat format, std::string_view text);

}  // namespace kiln::tool_calls
