// Every API's request parsing and validation, as `kiln serve` runs it before the engine:
// the body through parse_json_object, then the route's parser — chat completions,
// completions, Anthropic messages and count_tokens, /tokenize and /detokenize, Responses —
// over a model context with a byte-level tokenizer and ChatML (no engine: structured
// output and tool grammars stop at a 400 after their schemas compile). A parsed request's
// sampling parameters then go through the engine's validation, and its formatter (buffered
// or streamed) formats a made-up output, as the route would. Each error must be a 4xx with a
// message; nothing may crash.
//
// Input: a selector byte (the route; the seeds use its letter: c, o, m, n, t, d, r), then
// the body.
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "server/anthropic/messages.h"
#include "server/json_fields.h"
#include "server/openai/chat.h"
#include "server/openai/completions.h"
#include "server/openai/tokenize_routes.h"
#include "server/responses/formatter.h"
#include "server/responses/request.h"
#include "server/responses/store.h"
#include "tests/unit/server_test_util.h"

namespace {

using namespace kiln;
using namespace kiln::server;

const ModelContext& model() {
  static const ModelContext* m = new ModelContext(testing::test_model());
  return *m;
}

ResponseStore& store() {
  static ResponseStore* s = new ResponseStore(ResponseStoreOptions{8, 3600});
  return *s;
}

void check_error(const ApiError& e) {
  fuzz::check(e.status >= 400 && e.status < 500,
              "status " + std::to_string(e.status) + " for a bad request: " + e.message);
  fuzz::check(!e.message.empty(), "an error without a message");
}

template <typename T>
bool ok_or_4xx(const ApiResult<T>& r) {
  if (!r.ok()) check_error(r.error());
  return r.ok();
}

// The engine's own check at submit (a failure is a 400 there); only a request that passes
// it is generated for, so only then is its formatter fed output.
bool valid_sampling(const GenerationRequest& g) {
  const Status s = g.sampling.validate(model().tokenizer->vocab_size());
  if (!s.ok()) fuzz::check(!s.message().empty(), "a validation error without a message");
  return s.ok();
}

// Formats a made-up output for a parsed request, as the route would after generation.
void format(ResponseFormatter& f, size_t requests, int n) {
  std::string body;
  std::vector<std::string> texts(n, "Hi \xC3\xA9!");
  for (size_t i = 0; i < requests; ++i)
    f.on_output(i, testing::output(texts, std::vector<std::optional<FinishReason>>(
                                              texts.size(), FinishReason::kStop)),
                body);
  f.on_finished(body);
  std::string error;
  f.on_stream_error(ApiError::bad_request("late"), error);
}

void run(char route, const Json& body) {
  const ResponseMeta meta{"id-fuzz", 1700000000, "tiny"};
  switch (route) {
    case 'c': {
      auto r = parse_chat_completion_request(body, model());
      if (!ok_or_4xx(r)) return;
      if (!valid_sampling(r->generation)) return;
      auto f = make_chat_formatter(*r, *model().tokenizer, meta);
      format(*f, 1, r->generation.sampling.n);
      return;
    }
    case 'o': {
      auto r = parse_completion_request(body, model());
      if (!ok_or_4xx(r)) return;
      fuzz::check(!r->generations.empty(), "a completion request with no prompt");
      for (const auto& g : r->generations)
        if (!valid_sampling(g)) return;
      auto f = make_completion_formatter(*r, *model().tokenizer, meta);
      format(*f, r->generations.size(), r->generations[0].sampling.n);
      return;
    }
    case 'm':
    case 'n': {
      auto r = parse_messages_request(body, model(), route == 'n');
      if (!ok_or_4xx(r)) return;
      if (route == 'm' && valid_sampling(r->generation))
        format(*make_messages_formatter(*r, meta), 1, 1);
      return;
    }
    case 't':
      (void)ok_or_4xx(tokenize(body, model()));
      return;
    case 'd':
      (void)ok_or_4xx(detokenize(body, model()));
      return;
    default: {
      auto r = parse_responses_request(body, model(), store());
      if (!ok_or_4xx(r)) return;
      if (!valid_sampling(r->generation)) return;
      // Stored as resp_fuzz, so that later inputs can continue it (previous_response_id).
      format(*make_responses_formatter(*r, ResponseMeta{"resp_fuzz", 1700000000, "tiny"},
                                       &store()),
             1, 1);
      return;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t selector = in.byte();
  static const char kRoutes[] = "comntdr";
  const char route = std::string_view(kRoutes).find((char)selector) != std::string_view::npos
                         ? (char)selector
                         : kRoutes[selector % 7];
  auto body = parse_json_object(in.rest());
  if (!ok_or_4xx(body)) return 0;
  run(route, *body);
  return 0;
}
