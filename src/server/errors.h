// A caller's mistake (or an overloaded or failing server) as the HTTP error each API's
// clients expect: OpenAI's {"error": {"message", "type", "param", "code"}}, Anthropic's
// {"type": "error", "error": {"type", "message"}} and Ollama's {"error": "message"}. The SDKs raise their typed exceptions
// (BadRequestError, AuthenticationError, RateLimitError, ...) from the HTTP status.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "server/http/http_types.h"

namespace kiln::server {

enum class ApiFlavor { kOpenAI, kAnthropic, kOllama };

struct ApiError {
  int status = 400;
  std::string message;
  std::string param;            // the request field at fault; empty: null
  std::string code;             // OpenAI's machine-readable code; empty: null
  int retry_after_seconds = 0;  // > 0: a Retry-After header (429, 503)

  static ApiError bad_request(std::string message, std::string param = {});
  // A Status message from the engine or SamplingParams, which starts with the field's name
  // when one field is at fault ("top_p must be in (0, 1], got 1.5"): that name becomes
  // `param`. Messages about the prompt's length name `prompt_param` (messages / prompt).
  static ApiError from_validation(const std::string& message, std::string_view prompt_param);
  static ApiError not_found(std::string message, std::string code = {});
  static ApiError model_not_found(std::string_view model);
  static ApiError unauthorized();
  static ApiError too_large(std::string message);
  static ApiError rate_limited(std::string message, int retry_after_seconds);
  static ApiError unavailable(std::string message);
  static ApiError internal(std::string message);
};

// A value or the ApiError that explains why there is none (StatusOr's counterpart for the
// HTTP layer, where a mistake carries a status and a field as well as a message).
template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(v_); }
  const ApiError& error() const { return std::get<ApiError>(v_); }
  T& value() { return std::get<T>(v_); }
  const T& value() const { return std::get<T>(v_); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() { return std::get<T>(v_); }
  const T& operator*() const { return std::get<T>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

// OpenAI's `type` for a status: invalid_request_error, authentication_error, ...
const char* openai_error_type(int status);
// Anthropic's `type` for a status: invalid_request_error, authentication_error,
// not_found_error, request_too_large, rate_limit_error, overloaded_error, api_error.
const char* anthropic_error_type(int status);

// The JSON body alone (also what a stream carries when it fails part-way).
std::string error_body(const ApiError& error, ApiFlavor flavor);
HttpReply error_reply(const ApiError& error, ApiFlavor flavor);

// The flavor of error a path's clients expect: Anthropic's under /v1/messages, Ollama's
// under /api/.
ApiFlavor flavor_for_path(std::string_view path);

}  // namespace kiln::server
