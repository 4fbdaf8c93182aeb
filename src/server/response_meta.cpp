#include "server/response_meta.h"

namespace kiln::server {

Json openai_stop_reason(const StopCause& cause) {
  if (cause.string) return *cause.string;
  if (cause.token) return *cause.token;
  return nullptr;
}

Json openai_usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

}  // namespace kiln::server
