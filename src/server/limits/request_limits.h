// Where a key's limits meet a request (the hooks Api calls; everything else about keys is
// in this folder):
//  - check_model: a key with a model list may only name those models (404, as OpenAI
//    answers for a model a key has no access to: it does not say whether the model exists).
//  - admit: the key's request, token and concurrency budgets at admission, a 429 with code
//    rate_limit_exceeded and Retry-After when one is spent.
//  - metered: wraps a generation's formatter so completion tokens are charged to the key as
//    they are generated, and its concurrency slot is freed when the generation ends.
//  - with_headers: the rate-limit headers on the reply (a streaming reply's head).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "server/errors.h"
#include "server/generation_job.h"
#include "server/http/http_types.h"
#include "server/limits/key_registry.h"
#include "server/limits/key_state.h"

namespace kiln::server::limits {

// The error for a request whose `model` (or /v1/models/{id}) the key may not use; nullopt
// when it may, or when the key has no model list. `default_model` is what an absent
// `model` field means.
std::optional<ApiError> check_model(KeyState& key, const HttpRequest& request,
                                    const std::string& default_model);

// Charges an admitted generation of `prompt_tokens` to the key, or the 429 that refuses it.
std::optional<ApiError> admit(KeyState& key, int64_t prompt_tokens, double now);

std::unique_ptr<ResponseFormatter> metered(std::unique_ptr<ResponseFormatter> inner,
                                           std::shared_ptr<KeyState> key,
                                           const KeyRegistry& registry);

// Adds the key's rate-limit headers to a reply, or to a job's reply head.
void add_headers(HandlerResult& result, KeyState& key, std::string_view path, double now);

}  // namespace kiln::server::limits
