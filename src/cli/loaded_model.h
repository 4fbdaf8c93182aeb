// Opening a model file for a CLI command: the mapped GGUF, the model built from it and
// the thread pool it computes on, with errors as one line naming the file.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "gguf/reader.h"
#include "model/model.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace kiln::cli {

struct LoadedModel {
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Model> model;
};

// The error names the file (the GGUF reader's and the model's messages do).
StatusOr<LoadedModel> open_model(const std::string& path, int num_threads,
                                 int64_t max_batch_tokens = 512);
// open_model, printing "kiln: <problem>" to stderr and returning nullopt on failure.
std::optional<LoadedModel> load_model(const std::string& path, int num_threads,
                                      int64_t max_batch_tokens = 512);

// Prints "kiln: <message>" to stderr.
void print_error(const std::string& message);

}  // namespace kiln::cli
