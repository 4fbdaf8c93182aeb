#include "cli/loaded_model.h"

#include <cstdio>

namespace kiln::cli {

void print_error(const std::string& message) { std::fprintf(stderr, "kiln: %s\n", message.c_str()); }

StatusOr<LoadedModel> open_model(const std::string& path, int num_threads,
                                 int64_t max_batch_tokens) {
  auto file = gguf::File::open(path);
  if (!file.ok()) return file.status();
  LoadedModel loaded;
  loaded.file = std::make_unique<gguf::File>(std::move(file).value());
  loaded.pool = std::make_unique<ThreadPool>(num_threads);
  ModelOptions options;
  options.max_batch_tokens = max_batch_tokens;
  auto model = Model::load(*loaded.file, *loaded.pool, options);
  if (!model.ok()) return model.status();
  loaded.model = std::move(model).value();
  return loaded;
}

std::optional<LoadedModel> load_model(const std::string& path, int num_threads,
                                      int64_t max_batch_tokens) {
  auto loaded = open_model(path, num_threads, max_batch_tokens);
  if (!loaded.ok()) {
    print_error(loaded.message());
    return std::nullopt;
  }
  return std::move(loaded).value();
}

}  // namespace kiln::cli
