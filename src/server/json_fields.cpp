#include "server/json_fields.h"

#include <algorithm>
#include <cmath>

namespace kiln::server {

namespace {

// The deepest array/object nesting in `text` (outside strings), stopping early past `limit`.
int nesting_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

ApiResult<Json> parse_json_object(std::string_view body) {
  // NOTE: copying, rendering and dumping JSON recurse once per level, so a body of a few
  // megabytes of "[[[[..." would overflow the stack; no API body nests anywhere near this.
  constexpr int kMaxDepth = 64;
  if (nesting_depth(body, kMaxDepth) > kMaxDepth)
    return ApiError::bad_request("the request body nests deeper than " + std::to_string(kMaxDepth) +
                                 " levels");
  Json value = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return ApiError::bad_request("the request body is not valid JSON");
  if (!value.is_object()) return ApiError::bad_request("the request body must be a JSON object");
  return value;
}

FieldReader::FieldReader(const Json& object, std::string prefix)
    : object_(object), prefix_(std::move(prefix)) {}

const Json* FieldReader::get(std::string_view key) const {
  if (!object_.is_object()) return nullptr;
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool FieldReader::has(std::string_view key) const { return get(key) != nullptr; }

void FieldReader::fail(ApiError error) {
  if (!error_) error_ = std::move(error);
}

void FieldReader::fail(std::string_view key, const std::string& what) {
  fail(ApiError::bad_request(name(key) + " " + what, name(key)));
}

void FieldReader::wrong_type(std::string_view key, const char* expected) {
  fail(key, std::string("must be ") + expected + ", got " + get(key)->type_name());
}

void FieldReader::require(std::string_view key) {
  if (!has(key)) fail(key, "is required");
}

std::optional<double> FieldReader::number(std::string_view key) {
  const Json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) return wrong_type(key, "a number"), std::nullopt;
  return v->get<double>();
}

std::optional<int64_t> FieldReader::integer(std::string_view key) {
  const Json* v = get(key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > (uint64_t)INT64_MAX)
      return fail(key, "is out of range"), std::nullopt;
    return v->get<int64_t>();
  }
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return (int64_t)d;
  }
  return wrong_type(key, "an integer"), std::nullopt;
}

std::optional<bool> FieldReader::boolean(std::string_view key) {
  const Json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) return wrong_type(key, "a boolean"), std::nullopt;
  return v->get<bool>();
}

std::optional<std::string> FieldReader::string(std::string_view key) {
  const Json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) return wrong_type(key, "a string"), std::nullopt;
  return v->get<std::string>();
}

const Json* FieldReader::object(std::string_view key) {
  const Json* v = get(key);
  if (v && !v->is_object()) return wrong_type(key, "an object"), nullptr;
  return v;
}

const Json* FieldReader::array(std::string_view key) {
  const Json* v = get(key);
  if (v && !v->is_array()) return wrong_type(key, "an array"), nullptr;
  return v;
}

const Json* FieldReader::any(std::string_view key) { return get(key); }

}  // namespace kiln::server
