// GET /v1/responses/{id} (the stored Response object as it was returned) and DELETE
// /v1/responses/{id} ({"id", "object": "response.deleted", "deleted": true}). An id never
// stored (store: false, or unknown), deleted, evicted or expired is a 404 in OpenAI's error
// shape. POST /v1/responses is in api.cpp with the other generating routes.
#pragma once

#include <string>

#include "server/http/http_types.h"
#include "server/responses/store.h"

namespace kiln::server {

HttpReply retrieve_response(ResponseStore& store, const std::string& id);
HttpReply delete_response(ResponseStore& store, const std::string& id);

}  // namespace kiln::server
