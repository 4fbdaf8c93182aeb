// The model argument every command takes: a GGUF path, or a model name in the store
// (store/resolver.h). Also the store the model commands (pull, list, show, ...) work on.
#pragma once

#include <optional>
#include <string>

#include "store/model_store.h"

namespace kiln::cli {

// Replaces `model` with the GGUF path it stands for and returns what the store knows of
// it (defaults for `kiln run`, the name for `kiln serve`); prints "kiln: <problem>" and
// returns nullopt when it is neither a file nor a stored model.
std::optional<store::ResolvedModel> resolve_model_arg(std::string& model);

// "1.2 GB", "135 MB", "512 B" (decimal units, as Ollama prints them).
std::string human_bytes(uint64_t bytes);

}  // namespace kiln::cli
