// The ModelSpecs of models in the store (store/), so the registry can serve them by name:
// their GGUF, the Modelfile defaults of a `kiln create`d variant, the digest, the listing's
// details. Also used after /api/pull, /api/copy and /api/create add a model.
#pragma once

#include <optional>
#include <vector>

#include "server/models/served_model.h"
#include "store/model_store.h"
#include "util/status.h"

namespace kiln::server {

// A model file by path (no store entry): named after the file.
StatusOr<ModelSpec> spec_for_file(const std::string& path, double keep_alive_seconds);
// A resolved store model (or a path the resolver passed through).
StatusOr<ModelSpec> spec_for_resolved(const store::ResolvedModel& model,
                                      double keep_alive_seconds);
// Every model in the store; one that cannot be read is logged and left out.
std::vector<ModelSpec> specs_for_store(const store::ModelStore& store, double keep_alive_seconds);

// A Modelfile's defaults as ModelSpec::defaults: {"options", "system", "template"}, and back.
Json defaults_json(const store::ModelDefaults& defaults);
store::ModelDefaults defaults_from_json(const Json& defaults);

}  // namespace kiln::server
