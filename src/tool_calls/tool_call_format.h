// How a model family writes tool calls in its output text, and which family a chat template
// belongs to. The engine side of tool calling: the parser (tool_call_parser.h) reads calls
// out of generated text and the grammar (tool_call_grammar.h) constrains generation to
// them; both follow the byte syntax described here. Knows no HTTP.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace kiln::tool_calls {

enum class ToolCallFormat {
  // Hermes / Qwen: one block per call, text may come before the first:
  //   <tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris"}}\n</tool_call>
  // Qwen2.5, Qwen3, QwQ, Hermes 2 Pro / 3, SmolLM3 and most ChatML models tuned for tools.
  kHermes,
  // Llama 3.1 / 3.2 / 3.3: the whole message is the call, a JSON object with "parameters",
  // optionally after <|python_tag|>; several calls are separated by ";" (vLLM's llama3_json):
  //   {"name": "get_weather", "parameters": {"city":"Paris"}}
  kLlama3Json,
  // Mistral 7B v0.3 and Nemo: one array after the [TOOL_CALLS] control token:
  //   [TOOL_CALLS] [{"name": "get_weather", "arguments": {"city":"Paris"}}]
  // (v0.3 puts a space before "[", Nemo does not; an "id" key may follow "arguments").
  kMistral,
  // Mistral tokenizer v11 and later (Mistral Small 3.2, Devstral, Magistral, Ministral 3):
  // one [TOOL_CALLS] per call, the bare name, an optional [CALL_ID], then [ARGS]:
  //   [TOOL_CALLS]get_weather[ARGS]{"city":"Paris"}
  kMistralV11,
};

// The formats' names for --tool-call-parser: "hermes", "llama3_json", "mistral",
// "mistral_v11".
std::string_view tool_call_format_name(ToolCallFormat format);

// A --tool-call-parser value; anything else is an error listing the valid names.
StatusOr<ToolCallFormat> parse_tool_call_format_name(std::string_view name);

// The format a chat template's own text shows (how it renders an assistant's tool calls or
// what it tells the model to write), or nullopt when it shows none:
//   "[TOOL_CALLS]" with "[ARGS]" -> mistral_v11; "[TOOL_CALLS]" -> mistral;
//   "<tool_call>" -> hermes; "<|python_tag|>", or an "ipython" role with "parameters" ->
//   llama3_json.
// Checked in that order, the first match wins. NOTE: templates whose calls are not JSON but
// reuse <tool_call> (Qwen3-Coder's and Qwen3.5's <function=...> XML, GLM 4.6's <arg_key>)
// are reported as Hermes; kiln does not parse those formats (their calls come back as text,
// or, with a tool grammar, are written in Hermes' JSON form).
std::optional<ToolCallFormat> find_tool_call_format(std::string_view chat_template_source);

// find_tool_call_format, or Hermes for a template that shows no tool format (ChatML
// templates without tools such as SmolLM2's, Gemma's). Hermes is the default because it is
// what most small instruct models were tuned on for tools (the Qwen family and the many
// fine-tunes built on Hermes' datasets), it is the format vLLM and llama.cpp fall back to
// for ChatML, and its explicit <tool_call> marker keeps ordinary text from ever being
// mistaken for a call.
ToolCallFormat detect_tool_call_format(std::string_view chat_template_source);

}  // namespace kiln::tool_calls
