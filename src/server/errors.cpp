#include "server/errors.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "server/json_util.h"

namespace kiln::server {
namespace {

// The leading identifier of `message` when it is immediately followed by " " or ":".
std::string leading_field(const std::string& message) {
  size_t i = 0;
  while (i < message.size() && (std::islower((unsigned char)message[i]) || message[i] == '_' ||
                                std::isdigit((unsigned char)message[i])))
    ++i;
  if (i == 0 || i == message.size() || (message[i] != ' ' && message[i] != ':')) return {};
  return message.substr(0, i);
}

}  // namespace

ApiError ApiError::bad_request(std::string message, std::string param) {
  ApiError e;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

ApiError ApiError::from_validation(const std::string& message, std::string_view prompt_param) {
  ApiError e = bad_request(message);
  if (message.starts_with("this model's maximum context length") ||
      message.find("maximum context length") != std::string::npos) {
    e.code = "context_length_exceeded";
  }
  std::string field = leading_field(message);
  // Words that open a sentence about the prompt rather than name a request field.
  if (field == "prompt" || field == "this") field = std::string(prompt_param);
  e.param = field;
  return e;
}

ApiError ApiError::not_found(std::string message, std::string code) {
  ApiError e;
  e.status = 404;
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

ApiError ApiError::model_not_found(std::string_view model) {
  ApiError e =
      not_found("The model `" + std::string(model) + "` does not exist.", "model_not_found");
  e.param = "model";
  return e;
}

ApiError ApiError::unauthorized() {
  ApiError e;
  e.status = 401;
  e.message =
      "Incorrect or missing API key. Send it as 'Authorization: Bearer KEY' (or "
      "'x-api-key: KEY').";
  e.code = "invalid_api_key";
  return e;
}

ApiError ApiError::too_large(std::string message) {
  ApiError e;
  e.status = 413;
  e.message = std::move(message);
  return e;
}

ApiError ApiError::rate_limited(std::string message, int retry_after_seconds) {
  ApiError e;
  e.status = 429;
  e.message = std::move(message);
  e.code = "rate_limit_exceeded";
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

ApiError ApiError::unavailable(std::string message) {
  ApiError e;
  e.status = 503;
  e.message = std::move(message);
  e.retry_after_seconds = 1;
  return e;
}

ApiError ApiError::internal(std::string message) {
  ApiError e;
  e.status = 500;
  e.message = std::move(message);
  return e;
}

const char* openai_error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "invalid_request_error";
    case 429:
      return "rate_limit_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

const char* anthropic_error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string error_body(const ApiError& error, ApiFlavor flavor) {
  Json body;
  if (flavor == ApiFlavor::kOllama) {
    body["error"] = error.message;
  } else if (flavor == ApiFlavor::kAnthropic) {
    body["type"] = "error";
    body["error"] = {{"type", anthropic_error_type(error.status)}, {"message", error.message}};
  } else {
    auto nullable = [](const std::string& s) { return s.empty() ? Json() : Json(s); };
    body["error"] = {{"message", error.message},
                     {"type", openai_error_type(error.status)},
                     {"param", nullable(error.param)},
                     {"code", nullable(error.code)}};
  }
  return dump_json(body);
}

HttpReply error_reply(const ApiError& error, ApiFlavor flavor) {
  HttpReply reply;
  reply.status = error.status;
  reply.body = error_body(error, flavor);
  reply.log_note = "error=\"" + error.message + "\"";
  if (error.retry_after_seconds > 0)
    reply.headers.emplace_back("Retry-After", std::to_string(error.retry_after_seconds));
  return reply;
}

ApiFlavor flavor_for_path(std::string_view path) {
  if (path.starts_with("/api/")) return ApiFlavor::kOllama;
  return path.starts_with("/v1/messages") ? ApiFlavor::kAnthropic : ApiFlavor::kOpenAI;
}

}  // namespace kiln::server
