// OpenAI chat's tool calling: `tools`, `tool_choice` and `parallel_tool_calls` read into a
// constraint for the engine (tool_calls/tool_call_grammar.h), and the model's calls read
// back out of its text (tool_calls/tool_call_parser.h) as message.tool_calls, or streamed
// as OpenAI's tool-call deltas: the first delta of a call carries its index, id, type and
// name, the following ones fragments of its arguments.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/json_fields.h"
#include "server/model_context.h"
#include "tool_calls/tool_call_parser.h"

namespace kiln::server {

struct OpenAIToolSettings {
  // Calls are parsed out of the output (tools given and tool_choice is not "none").
  std::optional<tool_calls::ToolCallFormat> parse_format;
};

// Reads the fields. `template_tools` gets the tools for the chat template (which shows them
// to the model). Unless tool_choice is "none", request.grammar constrains the output: with
// "required" or a named function to calls only, with "auto" to free text and, once the
// model starts a call, a valid call. Mistakes are 400s naming the field.
OpenAIToolSettings read_openai_tools(FieldReader& f, const ModelContext& model,
                                     Json& template_tools, GenerationRequest& request);

// A whole choice: `content` (null when the text was all calls) and `tool_calls`.
struct OpenAIMessageParts {
  Json content;
  Json tool_calls;  // null when there are none
};
OpenAIMessageParts openai_message_parts(const OpenAIToolSettings& settings,
                                        const std::string& text);

// One streamed choice: text deltas in, chat.completion.chunk `delta` objects out.
class OpenAIToolCallStream {
 public:
  explicit OpenAIToolCallStream(tool_calls::ToolCallFormat format) : parser_(format) {}
  void feed(const std::string& text, std::vector<Json>& deltas);
  void finish(std::vector<Json>& deltas);
  bool has_calls() const { return num_valid_calls_ > 0; }

 private:
  void convert(std::vector<Json>& deltas);

  tool_calls::ToolCallParser parser_;
  std::vector<tool_calls::ToolCallEvent> events_;
  int32_t num_valid_calls_ = 0;
  std::vector<int32_t> api_index_;  // parser's call index -> the index sent to the client
  int32_t next_api_index_ = 0;
};

}  // namespace kiln::server
