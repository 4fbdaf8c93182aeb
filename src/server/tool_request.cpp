#include "server/tool_request.h"

#include <string>

#include "server/openai/structured_output.h"

namespace kiln::server {
namespace {

// The grammar's messages are about the tools, or name tool_choice when the choice is at
// fault; the API's param follows.
ApiError tool_error(const std::string& message) {
  const std::string param =
      message.find("tool_choice") != std::string::npos ? "tool_choice" : "tools";
  return ApiError::bad_request(param + ": " + message, param);
}

}  // namespace

std::optional<tool_calls::ToolCallFormat> constrain_to_tool_calls(
    FieldReader& f, const ModelContext& model, const tool_calls::ToolCallGrammarRequest& g,
    std::string_view other_constraint, bool compile, GenerationRequest& request) {
  if (request.grammar) {
    // One grammar per sequence: "JSON, or calls" would need both in one grammar.
    f.fail("tools", "cannot be combined with a structured output constraint (" +
                        std::string(other_constraint) + ") unless tool_choice is \"none\"");
    return std::nullopt;
  }
  if (!compile) {
    const Status checked = tool_calls::check_tool_call_request(g);
    if (!checked.ok()) {
      f.fail(tool_error(checked.message()));
      return std::nullopt;
    }
  } else {
    auto grammar = tool_calls::build_tool_call_grammar(g);
    if (!grammar.ok()) {
      f.fail(tool_error(grammar.message()));
      return std::nullopt;
    }
    attach_grammar(f, "tools", model, *grammar, request);
    if (!f.ok()) return std::nullopt;
  }
  // Mistral's [TOOL_CALLS] is a control token: the parser must see it in the text.
  if (g.format == tool_calls::ToolCallFormat::kMistral ||
      g.format == tool_calls::ToolCallFormat::kMistralV11)
    request.sampling.skip_special_tokens = false;
  return g.format;
}

}  // namespace kiln::server
