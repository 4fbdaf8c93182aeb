// The Response object and its stream: engine output through an OutputBuilder (output.h)
// into OpenAI's Response {id "resp_...", object "response", created_at, status, output,
// usage, and the request's settings echoed}, whole or as the Responses event stream:
//   response.created, response.in_progress, the items' events (output.h), then
//   response.completed (status "completed"), or response.incomplete (status "incomplete",
//   incomplete_details.reason "max_output_tokens" when max_output_tokens or the context
//   ended it); a failure part-way is response.failed with the error.
// A finished response with store true is put into the ResponseStore with its conversation
// (what it continued, its input, its output), so previous_response_id can continue it.
#pragma once

#include <memory>

#include "server/generation_job.h"
#include "server/json_util.h"
#include "server/response_meta.h"
#include "server/responses/request.h"
#include "server/responses/store.h"

namespace kiln::server {

// usage as the Responses API defines it; reasoning_tokens is always 0.
Json responses_usage_json(const Usage& usage);

// The Response object with the request's settings (`echo`) repeated.
Json responses_object(const ResponseMeta& meta, const Json& echo, const std::string& status,
                      Json output, Json usage, Json incomplete, Json error);

// Keeps a finished response for previous_response_id: its conversation is what it continued
// (`previous`), its input, then its output.
void store_response(ResponseStore& store, const std::string& id, Json response,
                    ConversationPtr previous, const Json& input_items, const Json& output_items);

// `store` may be null (nothing is kept); it must outlive the formatter.
std::unique_ptr<ResponseFormatter> make_responses_formatter(const ResponsesRequest& request,
                                                            ResponseMeta meta,
                                                            ResponseStore* store);

}  // namespace kiln::server
