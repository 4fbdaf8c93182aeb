#include "server/responses/routes.h"

#include "server/errors.h"

namespace kiln::server {
namespace {

HttpReply not_found(const std::string& id) {
  return error_reply(ApiError::not_found("Response with id '" + id +
                                         "' not found: it was never stored (store: false), was "
                                         "deleted, or has expired"),
                     ApiFlavor::kOpenAI);
}

}  // namespace

HttpReply retrieve_response(ResponseStore& store, const std::string& id) {
  std::optional<StoredResponse> stored = store.get(id);
  if (!stored) return not_found(id);
  HttpReply r;
  r.body = dump_json(stored->response);
  return r;
}

HttpReply delete_response(ResponseStore& store, const std::string& id) {
  if (!store.erase(id)) return not_found(id);
  HttpReply r;
  r.body = dump_json({{"id", id}, {"object", "response.deleted"}, {"deleted", true}});
  return r;
}

}  // namespace kiln::server
