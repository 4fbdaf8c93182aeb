#include "store/resolver.h"

#include <filesystem>

namespace kiln::store {

StatusOr<ResolvedModel> resolve_model(std::string_view arg, const ModelStore& store) {
  const std::string text(arg);
  std::error_code ec;
  if (std::filesystem::is_regular_file(text, ec)) {
    ResolvedModel r;
    r.gguf_path = text;
    return r;
  }
  auto name = ModelName::parse(text);
  if (!name.ok()) {
    // Not a name either: most likely a mistyped path.
    return Status::Error(text + ": no such file, and not a model name (" + name.message() + ")");
  }
  auto found = store.find(text);
  if (!found.ok())
    return Status::Error("'" + text +
                         "' is neither a file nor a model in the store: " + found.message());
  return found;
}

}  // namespace kiln::store
