// Reading a request body: parse it as a JSON object, then pull typed fields out of it,
// keeping the first mistake (missing, or of the wrong type) as a 400 naming the field.
// Absent and null fields are "not given" alike, as in OpenAI's and Anthropic's APIs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/errors.h"
#include "server/json_util.h"

namespace kiln::server {

// The body as a JSON object; malformed JSON or another JSON type is a 400.
ApiResult<Json> parse_json_object(std::string_view body);

class FieldReader {
 public:
  // `object` must outlive the reader. `prefix` qualifies names in messages and `param`
  // (e.g. "stream_options." for a nested object).
  explicit FieldReader(const Json& object, std::string prefix = {});

  bool has(std::string_view key) const;  // present and not null
  std::optional<double> number(std::string_view key);
  // Integral JSON numbers (2.0 counts as 2, as pydantic's lax mode does); not booleans.
  std::optional<int64_t> integer(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::string> string(std::string_view key);
  const Json* object(std::string_view key);
  const Json* array(std::string_view key);
  const Json* any(std::string_view key);  // present and not null, of any type
  // Records "<key> is required" if the key is not given.
  void require(std::string_view key);
  // Records a mistake unless one is already recorded.
  void fail(ApiError error);
  void fail(std::string_view key, const std::string& what);  // "<prefix><key> <what>"

  bool ok() const { return !error_.has_value(); }
  const ApiError& error() const { return *error_; }
  std::string name(std::string_view key) const { return prefix_ + std::string(key); }

 private:
  const Json* get(std::string_view key) const;
  void wrong_type(std::string_view key, const char* expected);

  const Json& object_;
  std::string prefix_;
  std::optional<ApiError> error_;
};

}  // namespace kiln::server
