// Structured output on OpenAI's chat and completions APIs: `response_format`
// (json_object, json_schema), vLLM's `structured_outputs` (json, regex, choice, grammar,
// json_object) and its older `guided_json`, `guided_regex`, `guided_choice`,
// `guided_grammar`. At most one constraint per request. The constraint is compiled here, on
// the HTTP worker, for the model's vocabulary (cached), so the engine loop never compiles.
#pragma once

#include "engine/request.h"
#include "server/json_fields.h"
#include "server/model_context.h"
#include "structured/grammar.h"

namespace kiln::server {

// Reads the fields above; on success sets request.grammar (or leaves it null when no
// constraint is asked for). A malformed or unsupported constraint is a 400 naming the field
// and, from the compiler, the keyword and its JSON pointer or the position.
void read_structured_output(FieldReader& fields, const ModelContext& model,
                            GenerationRequest& request);

// Compiles `grammar` for the model into request.grammar; a 400 naming `param` when the model
// cannot do structured output (no tokenizer).
void attach_grammar(FieldReader& fields, std::string_view param, const ModelContext& model,
                    const structured::Grammar& grammar, GenerationRequest& request);

}  // namespace kiln::server
