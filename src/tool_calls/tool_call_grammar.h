// Grammars that constrain generation to tool calls, in a format's exact byte syntax as the
// model was trained to write it and as tool_call_parser.h reads it back:
//
//   hermes       <tool_call>\n{"name": "NAME", "arguments": ARGS}\n</tool_call>
//                (several calls joined by "\n", as Qwen's templates render them)
//   llama3_json  {"name": "NAME", "parameters": ARGS}      (several joined by "; ")
//   mistral      [TOOL_CALLS] [{"name": "NAME", "arguments": ARGS}]   (the space before
//                "[" optional: v0.3 writes it, Nemo does not; an `, "id": "<9 letters or
//                digits>"` may follow ARGS, as the templates render history; items joined
//                by ", ")
//   mistral_v11  [TOOL_CALLS]NAME[ARGS]ARGS, or NAME[CALL_ID]<9 letters or digits>[ARGS]ARGS
//                (several calls back to back)
//
// The wrapper has a space after ':' and ',' as the templates render it (transformers'
// tojson), while ARGS is compact JSON from the schema compiler, valid against the tool's
// parameters. So a constrained call's arguments text is what the parser returns.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "structured/grammar.h"
#include "tool_calls/tool_call_format.h"
#include "util/status.h"

namespace kiln::tool_calls {

struct ToolDefinition {
  std::string name;
  // The JSON Schema of the arguments object (OpenAI's function.parameters, Anthropic's
  // input_schema); null means any object. A schema without "type" is taken as an object
  // schema; a "type" other than "object" is refused (the arguments are an object).
  nlohmann::ordered_json parameters;
};

struct ToolChoice {
  enum class Mode : uint8_t {
    kAuto,      // free text without the call marker, optionally followed by calls
    kRequired,  // calls only: one (one or more with parallel calls) of any listed tool
    kNamed,     // exactly one call of the tool `name`
  };
  Mode mode = Mode::kAuto;
  std::string name;
};

struct ToolCallGrammarRequest {
  ToolCallFormat format = ToolCallFormat::kHermes;
  std::vector<ToolDefinition> tools;
  ToolChoice choice;
  bool parallel_tool_calls = true;
};

// The request's tools and choice without building anything (for checking a request before
// it is queued). Errors: a tool without a name or with a name too long or not writable in
// the format, two tools with one name, a named choice that is not a tool, `required`
// without tools, parameters that are not an object schema.
Status check_tool_call_request(const ToolCallGrammarRequest& request);

// The grammar whose complete matches are exactly the outputs the choice permits. Errors as
// check_tool_call_request, and a parameters schema the JSON Schema compiler refuses (its
// message, prefixed with the tool's name).
StatusOr<structured::Grammar> build_tool_call_grammar(const ToolCallGrammarRequest& request);

}  // namespace kiln::tool_calls
