// GET /openapi.json: an OpenAPI 3.1 description of every route kiln serves, with the request
// fields it reads. docs/api.md is the prose counterpart (what is and is not supported).
#pragma once

#include <string>

namespace kiln::server {

// The document, compact JSON (built once).
const std::string& openapi_document();

}  // namespace kiln::server
