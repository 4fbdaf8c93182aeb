#include "structured/json_schema_keywords.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "structured/compile_util.h"
#include "structured/json_schema_numbers.h"

namespace kiln::structured::json_schema {

// ---- JSON helpers ----

const json* field(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string dump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

namespace {

// RFC 6901 escaping of one reference token.
std::string pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::string child(const std::string& ptr, std::string_view key) {
  return ptr + "/" + pointer_token(key);
}
std::string child(const std::string& ptr, std::string_view key, size_t index) {
  return child(ptr, key) + "/" + std::to_string(index);
}

std::string where(const std::string& ptr) { return ptr.empty() ? "the root" : ptr; }

Status unsupported(const std::string& key, const std::string& ptr, const std::string& why) {
  return Status::Error("unsupported JSON Schema keyword '" + key + "' at " + where(ptr) +
                       (why.empty() ? "" : ": " + why));
}

Status malformed(const std::string& key, const std::string& ptr, const std::string& what) {
  return Status::Error("malformed JSON Schema keyword '" + key + "' at " + where(ptr) + ": " +
                       what);
}

bool is_schema(const json& v) { return v.is_object() || v.is_boolean(); }
bool is_true_schema(const json* v) {
  return !v || (v->is_boolean() && v->get<bool>()) || (v->is_object() && v->empty());
}

// A non-negative integer keyword value (2 and 2.0 alike); nullopt when it is not one.
std::optional<int64_t> as_count(const json& v) {
  if (v.is_number_unsigned()) return (int64_t)std::min<uint64_t>(v.get<uint64_t>(), INT64_MAX);
  if (v.is_number_integer()) {
    const int64_t n = v.get<int64_t>();
    return n >= 0 ? std::optional<int64_t>(n) : std::nullopt;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || std::floor(d) != d) return std::nullopt;
    return d >= 9e18 ? INT64_MAX : (int64_t)d;
  }
  return std::nullopt;
}

int64_t count_or(const json& s, const std::string& key, int64_t fallback) {
  const json* v = field(s, key);
  return v ? as_count(*v).value_or(fallback) : fallback;
}

// ---- Types ----

std::optional<uint8_t> type_bits(std::string_view name) {
  if (name == "null") return kNull;
  if (name == "boolean") return kBoolean;
  if (name == "object") return kObject;
  if (name == "array") return kArray;
  if (name == "string") return kString;
  if (name == "integer") return kInteger;
  if (name == "number") return kNumber | kInteger;
  return std::nullopt;
}

// The types a (checked) schema's "type" allows.
uint8_t type_mask(const json& s) {
  const json* t = field(s, "type");
  if (!t) return kAllTypes;
  uint8_t mask = 0;
  if (t->is_string()) return type_bits(t->get<std::string>()).value_or(0);
  for (const json& name : *t)
    if (name.is_string()) mask |= type_bits(name.get<std::string>()).value_or(0);
  return mask;
}

json type_names(uint8_t mask) {
  json names = json::array();
  for (const char* name : {"null", "boolean", "object", "array", "string"})
    if (mask & *type_bits(name)) names.push_back(name);
  if (mask & kNumber)
    names.push_back("number");
  else if (mask & kInteger)
    names.push_back("integer");
  return names;
}

// The type bit of a JSON value (1.0 is an integer, as JSON Schema says).
uint8_t value_type(const json& v) {
  if (v.is_null()) return kNull;
  if (v.is_boolean()) return kBoolean;
  if (v.is_object()) return kObject;
  if (v.is_array()) return kArray;
  if (v.is_string()) return kString;
  if (v.is_number_integer()) return kInteger;
  const double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d ? kInteger : kNumber;
}

// Equality of JSON values regardless of object member order.
bool same_value(const json& a, const json& b) { return nlohmann::json(a) == nlohmann::json(b); }

// ---- Keywords ----

namespace {

enum class Kw {
  kType,
  kEnum,
  kConst,
  kProperties,
  kRequired,
  kSchema,  // additionalProperties, additionalItems
  kItems,
  kSchemaList,  // prefixItems, allOf, anyOf, oneOf
  kCount,       // minLength, maxItems, ...
  kBound,       // minimum, maximum
  kExclusiveBound,
  kText,  // pattern, format
  kNullable,
  kRef,
  kUniqueItems,
  kEmptyObjectOnly,  // patternProperties, dependentRequired, ...: only {} is supported
  kTrueOnly,         // propertyNames, unevaluated*: only true / {} is supported
  kIf,
  kId,
  kRefused,
};

// Keywords kiln knows. Any other keyword is an annotation (title, description, default,
// examples, $comment, readOnly, deprecated, discriminator, x-..., $defs ...) and ignored,
// as JSON Schema says of unknown keywords.
const std::map<std::string, Kw, std::less<>>& keywords() {
  static const std::map<std::string, Kw, std::less<>> table = {
      {"type", Kw::kType},
      {"enum", Kw::kEnum},
      {"const", Kw::kConst},
      {"properties", Kw::kProperties},
      {"required", Kw::kRequired},
      {"additionalProperties", Kw::kSchema},
      {"additionalItems", Kw::kSchema},
      {"items", Kw::kItems},
      {"prefixItems", Kw::kSchemaList},
      {"allOf", Kw::kSchemaList},
      {"anyOf", Kw::kSchemaList},
      {"oneOf", Kw::kSchemaList},
      {"minLength", Kw::kCount},
      {"maxLength", Kw::kCount},
      {"minItems", Kw::kCount},
      {"maxItems", Kw::kCount},
      {"minProperties", Kw::kCount},
      {"maxProperties", Kw::kCount},
      {"minimum", Kw::kBound},
      {"maximum", Kw::kBound},
      {"exclusiveMinimum", Kw::kExclusiveBound},
      {"exclusiveMaximum", Kw::kExclusiveBound},
      {"pattern", Kw::kText},
      {"format", Kw::kText},
      {"nullable", Kw::kNullable},
      {"$ref", Kw::kRef},
      {"uniqueItems", Kw::kUniqueItems},
      {"patternProperties", Kw::kEmptyObjectOnly},
      {"dependentRequired", Kw::kEmptyObjectOnly},
      {"dependentSchemas", Kw::kEmptyObjectOnly},
      {"dependencies", Kw::kEmptyObjectOnly},
      {"propertyNames", Kw::kTrueOnly},
      {"unevaluatedProperties", Kw::kTrueOnly},
      {"unevaluatedItems", Kw::kTrueOnly},
      {"if", Kw::kIf},
      {"$id", Kw::kId},
      {"not", Kw::kRefused},
      {"contains", Kw::kRefused},
      {"multipleOf", Kw::kRefused},
      {"$dynamicRef", Kw::kRefused},
      {"$recursiveRef", Kw::kRefused},
  };
  return table;
}

}  // namespace

// Keywords that survive into a flat schema (everything but composition and annotations).
bool is_flat_key(std::string_view key) {
  auto it = keywords().find(key);
  if (it == keywords().end()) return false;
  switch (it->second) {
    case Kw::kType:
    case Kw::kEnum:
    case Kw::kConst:
    case Kw::kProperties:
    case Kw::kRequired:
    case Kw::kSchema:
    case Kw::kItems:
    case Kw::kCount:
    case Kw::kBound:
    case Kw::kExclusiveBound:
    case Kw::kText:
    case Kw::kNullable:
      return true;
    case Kw::kSchemaList:
      return key == "prefixItems";
    default:
      return false;
  }
}

bool is_composition_key(std::string_view key) {
  return key == "$ref" || key == "allOf" || key == "anyOf" || key == "oneOf";
}

namespace {

bool valid_utf8(std::string_view s) {
  uint32_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = detail::decode_utf8(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

Status check_type(const json& v, const std::string& ptr) {
  const std::string what = "must be a type name or a non-empty array of type names";
  if (v.is_string()) {
    if (!type_bits(v.get<std::string>()))
      return malformed("type", ptr, "unknown type '" + v.get<std::string>() + "'");
    return Status::Ok();
  }
  if (!v.is_array() || v.empty()) return malformed("type", ptr, what);
  for (const json& t : v) {
    if (!t.is_string()) return malformed("type", ptr, what);
    if (!type_bits(t.get<std::string>()))
      return malformed("type", ptr, "unknown type '" + t.get<std::string>() + "'");
  }
  return Status::Ok();
}

Status check_schema_list(const std::string& key, const json& v, const std::string& ptr) {
  if (!v.is_array()) return malformed(key, ptr, "must be an array of schemas");
  if (v.empty() && key != "prefixItems") return malformed(key, ptr, "must not be empty");
  for (const json& s : v)
    if (!is_schema(s)) return malformed(key, ptr, "must be an array of schemas");
  return Status::Ok();
}

Status check_keyword(const json& s, const std::string& key, const json& v, const std::string& ptr) {
  auto it = keywords().find(key);
  if (it == keywords().end()) return Status::Ok();
  switch (it->second) {
    case Kw::kType:
      return check_type(v, ptr);
    case Kw::kEnum:
      if (!v.is_array()) return malformed(key, ptr, "must be an array");
      if (v.empty())
        return Status::Error("unsatisfiable JSON Schema at " + where(ptr) + ": 'enum' is empty");
      return Status::Ok();
    case Kw::kConst:
      return Status::Ok();
    case Kw::kProperties:
      if (!v.is_object()) return malformed(key, ptr, "must be an object");
      for (const auto& [name, sub] : v.items()) {
        if (!is_schema(sub))
          return malformed(key, ptr, "the value of '" + name + "' must be a schema");
        if (!valid_utf8(name)) return malformed(key, ptr, "a property name is not valid UTF-8");
      }
      return Status::Ok();
    case Kw::kRequired:
      if (!v.is_array()) return malformed(key, ptr, "must be an array of strings");
      for (const json& name : v)
        if (!name.is_string() || !valid_utf8(name.get<std::string>()))
          return malformed(key, ptr, "must be an array of strings");
      return Status::Ok();
    case Kw::kSchema:
      return is_schema(v) ? Status::Ok()
                          : malformed(key, ptr, "must be a schema (an object or a boolean)");
    case Kw::kItems:
      if (v.is_array()) {
        if (field(s, "prefixItems"))
          return malformed(key, ptr, "must be a schema when 'prefixItems' is present");
        return check_schema_list(key, v, ptr);
      }
      return is_schema(v) ? Status::Ok()
                          : malformed(key, ptr, "must be a schema or an array of schemas");
    case Kw::kSchemaList:
      return check_schema_list(key, v, ptr);
    case Kw::kCount:
      return as_count(v) ? Status::Ok() : malformed(key, ptr, "must be a non-negative integer");
    case Kw::kBound:
      return to_decimal(v) ? Status::Ok() : malformed(key, ptr, "must be a number");
    case Kw::kExclusiveBound:
      return v.is_boolean() || to_decimal(v) ? Status::Ok()
                                             : malformed(key, ptr, "must be a number");
    case Kw::kText:
      return v.is_string() ? Status::Ok() : malformed(key, ptr, "must be a string");
    case Kw::kNullable:
      return v.is_boolean() ? Status::Ok() : malformed(key, ptr, "must be a boolean");
    case Kw::kRef:
      return v.is_string() ? Status::Ok() : malformed(key, ptr, "must be a string");
    case Kw::kUniqueItems:
      if (!v.is_boolean()) return malformed(key, ptr, "must be a boolean");
      return v.get<bool>() ? unsupported(key, ptr, "kiln cannot make array items distinct")
                           : Status::Ok();
    case Kw::kEmptyObjectOnly:
      return v.is_object() && v.empty() ? Status::Ok() : unsupported(key, ptr);
    case Kw::kTrueOnly:
      return is_true_schema(&v) ? Status::Ok() : unsupported(key, ptr);
    case Kw::kIf:  // without then/else, "if" changes nothing
      return field(s, "then") || field(s, "else") ? unsupported(key, ptr) : Status::Ok();
    case Kw::kId:  // below the root, $id would change what "#..." references mean
      return ptr.empty() ? Status::Ok()
                         : unsupported(key, ptr, "only the root schema may have an $id");
    case Kw::kRefused:
      return unsupported(key, ptr);
  }
  return Status::Ok();
}

// Lower limits above upper ones in one schema object are mistakes, reported as such.
Status check_ranges(const json& s, const std::string& ptr) {
  for (const char* kind : {"Length", "Items", "Properties"}) {
    const std::string lo_key = std::string("min") + kind, hi_key = std::string("max") + kind;
    const int64_t lo = count_or(s, lo_key, 0), hi = count_or(s, hi_key, -1);
    if (hi >= 0 && lo > hi)
      return Status::Error("unsatisfiable JSON Schema at " + where(ptr) + ": " + lo_key + " " +
                           std::to_string(lo) + " is greater than " + hi_key + " " +
                           std::to_string(hi));
  }
  const json* lo = field(s, "minimum");
  const json* hi = field(s, "maximum");
  if (lo && hi && compare_decimals(*to_decimal(*lo), *to_decimal(*hi)) > 0)
    return Status::Error("unsatisfiable JSON Schema at " + where(ptr) + ": minimum " + dump(*lo) +
                         " is greater than maximum " + dump(*hi));
  return Status::Ok();
}

}  // namespace

Status check_keywords(const json& s, const std::string& ptr) {
  for (const auto& [key, v] : s.items()) KILN_RETURN_IF_ERROR(check_keyword(s, key, v, ptr));
  return check_ranges(s, ptr);
}

}  // namespace kiln::structured::json_schema
