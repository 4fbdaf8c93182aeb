// What every command that takes a model does with its argument: an existing file path
// stays a path; anything else is a model name looked up in the store. The error for
// neither names the argument and lists what the store holds.
#pragma once

#include <string_view>

#include "store/model_store.h"

namespace kiln::store {

StatusOr<ResolvedModel> resolve_model(std::string_view arg, const ModelStore& store);

}  // namespace kiln::store
