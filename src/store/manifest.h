// The small JSON file beside each model's weights (`manifest.json`): where the model came
// from, what it is, and the defaults a `kiln create` gave it. A created variant has no
// weights of its own: `base` names the model it was made from.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace kiln::store {

// Defaults a Modelfile sets. `parameters` holds Ollama's option names with typed values
// (numbers; `stop` an array of strings), exactly as `/api/show` reports them.
struct ModelDefaults {
  nlohmann::json parameters = nlohmann::json::object();
  std::optional<std::string> system;
  std::optional<std::string> chat_template;  // a Jinja2 chat template (kiln's dialect)
  std::optional<std::string> license;

  // `over` wins field by field (parameter by parameter): a variant over its base.
  static ModelDefaults merge(const ModelDefaults& base, const ModelDefaults& over);
  bool empty() const;
};

struct Manifest {
  static constexpr int kVersion = 1;

  std::string name;      // `name:tag`
  std::string source;    // what `kiln pull` was given, or "create" / "copy of X"
  std::string revision;  // the hub commit when it told us; else empty
  std::string file;      // the GGUF (first part of a split file) inside the model's directory;
                         // empty for a created variant
  std::vector<std::string> parts;  // every file of a split GGUF, in order (file is parts[0])
  std::string sha256;              // of `file`, lowercase hex
  uint64_t size_bytes = 0;         // all parts together
  std::string architecture;        // general.architecture
  std::string quantization;        // general.file_type's name ("Q4_K_M")
  std::string added;               // UTC, ISO 8601
  std::string base;                // a created variant: the model it was made from
  ModelDefaults defaults;

  nlohmann::json to_json() const;
  // Errors name the missing or mistyped field.
  static StatusOr<Manifest> from_json(const nlohmann::json& j);
};

// The current UTC time as "2026-12-05T07:10:00Z".
std::string utc_now_iso8601();

}  // namespace kiln::store
