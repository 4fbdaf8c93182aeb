// JSON Schema (the subset OpenAI's strict mode and Pydantic's model_json_schema() emit, and
// more) compiled to a byte-level grammar whose every complete match is a JSON text that
// validates against the schema.
//
// Supported (enforced exactly unless noted):
//   type (a name or an array; "integer" is a subset of "number"), nullable (OpenAPI 3.0),
//   enum / const (any JSON values, emitted as their compact serialization; combined with
//   other keywords, each value is kept only if the rest of the schema accepts it),
//   properties / required / additionalProperties (false, true or a schema; absent means
//   allowed unless strict_additional_properties), $ref to any JSON pointer in the document
//   ("#", "#/$defs/X", "#/definitions/X", "#/properties/a/items", ...; recursion allowed),
//   allOf (merged), anyOf, oneOf (see strict_one_of), items / prefixItems (and the draft-7
//   tuple form items: [...] + additionalItems), minItems / maxItems (up to 1000),
//   minLength / maxLength (code points; up to 10000 for plain strings), pattern (ECMA
//   search semantics: an unanchored side may be surrounded by anything), format,
//   minimum / maximum / exclusiveMinimum / exclusiveMaximum (also the draft-4 boolean form),
//   minProperties / maxProperties where the declared properties already imply them,
//   uniqueItems: false, boolean schemas, and the empty forms of patternProperties,
//   propertyNames, dependentRequired, dependentSchemas, dependencies, unevaluated*.
// Ignored (annotations): title, description, default, examples, $schema, $id (root only),
//   $comment, readOnly, writeOnly, deprecated, discriminator, $defs / definitions and any
//   unknown keyword (as JSON Schema specifies); unknown formats (format is an annotation by
//   default in JSON Schema).
// Formats enforced: date (days per month, leap years), time and date-time (RFC 3339, with
//   an offset), duration (RFC 3339 appendix A), uuid (and Pydantic's uuid1..uuid8),
//   email (dot-atom "@" domain), ipv4, ipv6, ipvanyaddress, hostname (at most 8 labels of
//   at most 30 characters), uri (RFC 3986 absolute URI without IP-literal hosts).
// Subsets (valid, but not every valid text): object properties come in schema order with
//   extra properties after them, extra property names written with only the escapes JSON
//   requires; pattern and format strings written with only the escapes JSON requires;
//   numbers with bounds have no exponent and at most 15 digits; integer bounds beyond
//   +-10^18 are clamped; enum/const values appear exactly as serialized (1, not 1.0).
// Errors (never a grammar that accepts an invalid value), naming the keyword and its JSON
//   pointer, e.g. "unsupported JSON Schema keyword 'patternProperties' at /properties/tags":
//   not, if/then/else, contains, multipleOf, uniqueItems: true, non-empty
//   patternProperties / dependent* / propertyNames, unevaluated* other than true,
//   $dynamicRef / $recursiveRef, $id below the root, references outside the document or by
//   anchor, two different patterns or formats combined by allOf, pattern with format,
//   min/maxProperties beyond what the properties imply, over-large counts; malformed
//   keywords; unsatisfiable schemas (empty enum, minLength > maxLength, false, ...).
#pragma once

#include <nlohmann/json.hpp>

#include "structured/grammar.h"

namespace kiln::structured {

struct JsonSchemaOptions {
  // Compact: no whitespace anywhere (`{"a":1,"b":[1,2]}`). Otherwise `indent`-free
  // flexible whitespace: up to `max_whitespace` (at most 64) bytes of [ \t\n] around
  // each structural character ({ } [ ] , :), none before or after the value.
  bool compact_whitespace = true;
  int32_t max_whitespace = 4;
  // Objects that declare properties or required ones but no `additionalProperties` allow
  // other properties (the JSON Schema default) unless this is set (OpenAI strict mode sets
  // it false explicitly anyway).
  bool strict_additional_properties = false;
  // oneOf means "exactly one branch". A grammar can only express "at least one", which is
  // the same when no value can match two branches. By default oneOf is compiled as anyOf
  // (Pydantic's unions are oneOf with a discriminator and are disjoint). When set, a oneOf
  // whose branches kiln cannot prove disjoint (different types, different constants, or
  // objects with a required property of different constants) is an error instead.
  bool strict_one_of = false;
};

// Adds the rules for values that validate against `schema` and returns the id of the
// rule for one such value. Used directly to embed a schema in a larger grammar (tool calls).
// Errors name the keyword and its JSON pointer, e.g.
//   "unsupported JSON Schema keyword 'patternProperties' at /properties/tags".
// After an error the builder may hold rules that are declared but not defined: discard it.
StatusOr<uint32_t> add_json_schema_rules(GrammarBuilder& builder,
                                         const nlohmann::ordered_json& schema,
                                         const JsonSchemaOptions& options = {});

StatusOr<Grammar> grammar_from_json_schema(const nlohmann::ordered_json& schema,
                                           const JsonSchemaOptions& options = {});

// Any JSON value whose top level is an object (OpenAI's `json_object`).
Grammar grammar_any_json_object(const JsonSchemaOptions& options = {});

// Exactly one of `choices` (vLLM's guided_choice); errors if the list is empty.
StatusOr<Grammar> grammar_from_choices(const std::vector<std::string>& choices);

}  // namespace kiln::structured
