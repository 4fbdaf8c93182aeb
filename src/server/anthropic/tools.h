// Anthropic's client tools on /v1/messages: `tools` ({name, description, input_schema}) and
// `tool_choice` read into the same tool-call constraint as OpenAI chat (tool_request.h),
// and the model's calls read back out of its text as `tool_use` content blocks, whole or
// streamed as content_block_start / input_json_delta / content_block_stop events.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/json_fields.h"
#include "server/model_context.h"
#include "tool_calls/tool_call_parser.h"

namespace kiln::server {

// Reads tools and tool_choice ({"type": "auto"} by default, "any", "tool" with "name",
// "none"; disable_parallel_tool_use). `template_tools` gets the tools in OpenAI's shape
// ({"type": "function", "function": {name, description, parameters}}), which is what chat
// templates are written for. Unless tool_choice is "none", request.grammar constrains the
// output as tool_request.h does (`compile` false: checked only) and the format to parse
// calls in is returned. Server tools (a `type` such as "web_search_20250305") are refused.
std::optional<tool_calls::ToolCallFormat> read_anthropic_tools(FieldReader& f,
                                                               const ModelContext& model,
                                                               bool compile, Json& template_tools,
                                                               GenerationRequest& request);

// A whole answer's content blocks: without a format one text block holding all the text;
// with one, a text block for the text outside calls (left out when empty and there are
// calls), then one tool_use block per call.
struct AnthropicContent {
  Json blocks = Json::array();
  bool has_calls = false;
};
AnthropicContent anthropic_content(const std::optional<tool_calls::ToolCallFormat>& format,
                                   const std::string& text);

// A streamed answer's content blocks as SSE events. Text opens a text block (or continues
// the open one); a call opens a tool_use block {id, name, input: {}} whose arguments follow
// as input_json_delta fragments, closed when the call ends. A call that turns out malformed
// after its block was opened (kCallInvalid) cannot be taken back: its block is closed where
// it stands, it does not count as a call (no "tool_use" stop reason for it alone), and its
// raw text follows in a text block.
class AnthropicBlockStream {
 public:
  explicit AnthropicBlockStream(std::optional<tool_calls::ToolCallFormat> format);
  // Opens the text block right away (plain text streams always start with it).
  void open_text(std::string& body);
  void feed(const std::string& delta, std::string& body);
  // Flushes held-back text, closes the open block, and opens an empty text block if no
  // block was opened at all (the message always has one).
  void finish(std::string& body);
  bool has_calls() const { return num_valid_calls_ > 0; }

 private:
  enum class Open : uint8_t { kNone, kText, kToolUse };

  void convert(std::string& body);
  void text(const std::string& text, std::string& body);
  void open(Open kind, Json block, std::string& body);
  void close(std::string& body);

  std::optional<tool_calls::ToolCallParser> parser_;
  std::vector<tool_calls::ToolCallEvent> events_;
  Open open_ = Open::kNone;
  int32_t open_call_ = -1;  // the parser's index of the call whose block is open
  int32_t next_index_ = 0;  // the next block's index
  int32_t num_valid_calls_ = 0;
};

}  // namespace kiln::server
