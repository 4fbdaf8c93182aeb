// What `kiln serve` and `kiln mcp` both need after the engine started: the server's
// ModelContext (chat template, tool-call format, served names) for the running model.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/engine_setup.h"
#include "server/model_context.h"

namespace kiln::cli {

// The model file's chat template, else its family's default; tool calls parsed as
// `tool_call_parser` names, else as the template suggests. Served names default to the file
// name without .gguf.
StatusOr<server::ModelContext> build_model_context(const RunningEngine& engine,
                                                   const std::string& model_path,
                                                   const std::vector<std::string>& served_names,
                                                   const std::string& tool_call_parser,
                                                   int max_num_seqs);
// build_model_context, printing "kiln: <problem>" and returning nullopt on failure.
std::optional<server::ModelContext> make_model_context(const RunningEngine& engine,
                                                       const std::string& model_path,
                                                       const std::vector<std::string>& served_names,
                                                       const std::string& tool_call_parser,
                                                       int max_num_seqs);

}  // namespace kiln::cli
