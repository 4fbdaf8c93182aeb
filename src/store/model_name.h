// Model names in the store, in Ollama's habit: `name[:tag]`, where name is one or more
// `/`-separated parts (`qwen2.5-coder`, `hf.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF`) and the
// tag defaults to `latest`. Names are case-sensitive, as the hub's repository names are.
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace kiln::store {

struct ModelName {
  std::string name;  // `/`-separated parts of [A-Za-z0-9._-], none empty, none "." or ".."
  std::string tag = "latest";

  // `name:tag`, the form the store lists and every lookup compares.
  std::string full() const { return name + ":" + tag; }
  // The directory this model lives in under the store root: `full()` with every byte
  // outside [A-Za-z0-9._-] written %XX, so one flat directory holds any name.
  std::string directory() const;

  // Errors name the text and the offending character or part.
  static StatusOr<ModelName> parse(std::string_view text);
  // The inverse of directory(); errors for a directory that no name maps to.
  static StatusOr<ModelName> from_directory(std::string_view dir);
};

}  // namespace kiln::store
