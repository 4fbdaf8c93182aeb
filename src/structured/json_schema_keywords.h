// What the JSON Schema compiler knows of a schema document before compiling it: JSON
// helpers whose errors name the keyword and its JSON pointer, the type bits, the keywords
// kiln compiles, and the checks each schema object passes (every keyword's value
// well-formed, its ranges satisfiable).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace kiln::structured::json_schema {

using json = nlohmann::ordered_json;

// ---- JSON helpers ----

// obj[key], or nullptr when obj is no object or has no such member.
const json* field(const json& obj, const std::string& key);
// v as compact JSON text (invalid UTF-8 replaced), for messages.
std::string dump(const json& v);
// The JSON pointer of ptr's member `key` (RFC 6901 escaped), and of its element `index`.
std::string child(const std::string& ptr, std::string_view key);
std::string child(const std::string& ptr, std::string_view key, size_t index);
// A pointer for a message: "the root" for the empty one.
std::string where(const std::string& ptr);
Status unsupported(const std::string& key, const std::string& ptr, const std::string& why = "");
Status malformed(const std::string& key, const std::string& ptr, const std::string& what);
bool is_schema(const json& v);         // an object or a boolean
bool is_true_schema(const json* v);    // absent, true or {}: allows everything
// A non-negative integer keyword value (2 and 2.0 alike); nullopt when it is not one.
std::optional<int64_t> as_count(const json& v);
// s[key] as a count, or fallback when it is absent or not a count.
int64_t count_or(const json& s, const std::string& key, int64_t fallback);

// ---- Types ----

enum TypeBits : uint8_t {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kString = 16,
  kInteger = 32,
  kNumber = 64,  // non-integral numbers; "number" is kNumber | kInteger
};
constexpr uint8_t kAllTypes = 127;

std::optional<uint8_t> type_bits(std::string_view name);  // a type name's bits
// The types a (checked) schema's "type" allows.
uint8_t type_mask(const json& s);
json type_names(uint8_t mask);  // the names of a mask's types ("number" covers integer)
// The type bit of a JSON value (1.0 is an integer, as JSON Schema says).
uint8_t value_type(const json& v);
// Equality of JSON values regardless of object member order.
bool same_value(const json& a, const json& b);

// ---- Keywords ----

// Keywords that survive into a flat schema (everything but composition and annotations).
bool is_flat_key(std::string_view key);
bool is_composition_key(std::string_view key);  // $ref, allOf, anyOf, oneOf
// Every keyword of the schema object s (at ptr) well-formed and supported, its ranges
// satisfiable; the error names the keyword and the pointer.
Status check_keywords(const json& s, const std::string& ptr);

}  // namespace kiln::structured::json_schema
