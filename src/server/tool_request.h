// What OpenAI chat and Anthropic messages share once each has read its own `tools` and
// `tool_choice` shapes into a ToolCallGrammarRequest: the grammar that constrains the
// output to the format's calls, and the format the calls are parsed back in.
#pragma once

#include <optional>
#include <string_view>

#include "engine/request.h"
#include "server/json_fields.h"
#include "server/model_context.h"
#include "tool_calls/tool_call_grammar.h"

namespace kiln::server {

// Sets request.grammar to the grammar for `g` (`compile` false: only checks `g`, for
// requests that never generate, such as count_tokens) and returns the format to parse calls
// in. A request that already has a grammar is refused, naming `other_constraint` (the API's
// own fields, e.g. "response_format or guided_*"). Mistakes are 400s naming "tools" or
// "tool_choice"; then nullopt.
std::optional<tool_calls::ToolCallFormat> constrain_to_tool_calls(
    FieldReader& f, const ModelContext& model, const tool_calls::ToolCallGrammarRequest& g,
    std::string_view other_constraint, bool compile, GenerationRequest& request);

}  // namespace kiln::server
