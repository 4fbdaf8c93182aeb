// Ollama's model listings, answered from the registry: GET /api/tags (every model the server
// can serve), POST /api/show (one model's details, template, parameters and metadata),
// GET /api/ps (the loaded ones, their memory and when they expire) and GET /api/version.
#pragma once

#include "server/errors.h"
#include "server/http/http_types.h"
#include "server/json_util.h"
#include "server/models/model_registry.h"

namespace kiln::server::ollama {

Json tags_json(const ModelRegistry& models);
// `body` is /api/show's: {"model": NAME} (or the older "name"), optional "verbose".
ApiResult<Json> show_json(const ModelRegistry& models, const Json& body);
Json ps_json(const ModelRegistry& models);
Json version_json();

// A Modelfile's PARAMETER lines for `options` ({"temperature": 0.7, "stop": [...]}), as
// /api/show's "parameters" and "modelfile" write them.
std::string parameter_lines(const Json& options);

// RFC 3339 in UTC for a Unix time.
std::string rfc3339(int64_t unix_seconds);

}  // namespace kiln::server::ollama
