#include "cli/loaded_model.h"

#include <cstdio>

namespace kiln::cli {

void print_error(const std::string& message) { std::fprintf(stderr, "kiln: %s\n", message.c_str()); }

std::optional<LoadedModel> load_model(const std::string& path, int num_threads,
                                      int64_t max_batch_tokens) {
  auto file = gguf::File::open(path);
  if (!file.ok()) {
    print_error(file.message());
    return std::nullopt;
  }
  LoadedModel loaded;
  loaded.file = std::make_unique<gguf::File>(std::move(file).value());
  loaded.pool = std::make_unique<ThreadPool>(num_threads);
  ModelOptions options;
  options.max_batch_tokens = max_batch_tokens;
  auto model = Model::load(*loaded.file, *loaded.pool, options);
  if (!model.ok()) {
    print_error(model.message());
    return std::nullopt;
  }
  loaded.model = std::move(model).value();
  return loaded;
}

}  // namespace kiln::cli
