#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "structured/json_schema_compiler.h"
#include "structured/matcher.h"

namespace kiln::structured {
namespace {

using json = nlohmann::ordered_json;

Grammar compile(std::string_view schema, const JsonSchemaOptions& options = {}) {
  StatusOr<Grammar> g = grammar_from_json_schema(json::parse(schema), options);
  EXPECT_TRUE(g.ok()) << schema << "\n" << g.message();
  return g.ok() ? std::move(*g) : Grammar{};
}

std::string error_of(std::string_view schema, const JsonSchemaOptions& options = {}) {
  StatusOr<Grammar> g = grammar_from_json_schema(json::parse(schema), options);
  return g.ok() ? "(compiled)" : g.message();
}

void expect_accepts(const Grammar& g, const std::vector<std::string>& texts) {
  for (const std::string& t : texts) EXPECT_TRUE(grammar_accepts(g, t)) << "should accept: " << t;
}

void expect_rejects(const Grammar& g, const std::vector<std::string>& texts) {
  for (const std::string& t : texts) EXPECT_FALSE(grammar_accepts(g, t)) << "should reject: " << t;
}

// ---- Scalars ----

TEST(JsonSchema, ScalarTypes) {
  expect_accepts(compile(R"({"type": "null"})"), {"null"});
  expect_rejects(compile(R"({"type": "null"})"), {"nul", "null ", " null", "false"});
  expect_accepts(compile(R"({"type": "boolean"})"), {"true", "false"});
  expect_rejects(compile(R"({"type": "boolean"})"), {"True", "0", "\"true\""});
  const Grammar integer = compile(R"({"type": "integer"})");
  expect_accepts(integer, {"0", "-0", "7", "-12", "1234567890123456789012345"});
  expect_rejects(integer, {"01", "-", "1.0", "1e3", "+1", "", " 1"});
  const Grammar number = compile(R"({"type": "number"})");
  expect_accepts(number, {"0", "-0.0", "3.25", "1e10", "1E+2", "-2.5e-3", "10"});
  expect_rejects(number, {"01", ".5", "5.", "1e", "--1", "NaN", "Infinity", "0x10"});
}

TEST(JsonSchema, TypeArraysAndNullable) {
  const Grammar g = compile(R"({"type": ["string", "null"]})");
  expect_accepts(g, {"null", "\"x\""});
  expect_rejects(g, {"1", "true"});
  const Grammar openapi = compile(R"({"type": "integer", "nullable": true})");
  expect_accepts(openapi, {"null", "5"});
  expect_rejects(openapi, {"\"5\""});
  // "integer" is part of "number".
  expect_accepts(compile(R"({"type": ["integer", "number"]})"), {"1", "1.5"});
}

TEST(JsonSchema, Strings) {
  const Grammar g = compile(R"({"type": "string"})");
  expect_accepts(g, {R"("")", R"("hello")", R"("a\"b\\c\/d\b\f\n\r\t")", R"("\u00e9\uD83D\uDE00")",
                     "\"\xC3\xA9\xF0\x9F\x98\x80\"", R"("\u0000")"});
  expect_rejects(g,
                 {R"("a)", R"(a")", "\"a\nb\"", "\"\x01\"", R"("\x41")", R"("\u12")", R"("\uD800")",
                  R"("\uDC00\uD800")", "\"\xC3\"", "\"\xED\xA0\x80\"", "\"\xFF\""});
}

TEST(JsonSchema, StringLengthCountsCodePointsAndEscapes) {
  const Grammar g = compile(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  expect_accepts(g, {R"("ab")", R"("abc")", "\"\xC3\xA9\xC3\xA9\"", R"("\n\u0041")",
                     R"("\uD83D\uDE00x")", "\"\xF0\x9F\x98\x80\xF0\x9F\x98\x80\""});
  expect_rejects(g, {R"("a")", R"("abcd")", "\"\xC3\xA9\"", R"("\n")", R"("\uD83D\uDE00")"});
}

// ---- Numeric bounds ----

TEST(JsonSchema, IntegerRangesAreExact) {
  struct Case {
    const char* schema;
    std::function<bool(int)> valid;
  };
  const Case cases[] = {
      {R"({"type": "integer", "minimum": 0, "maximum": 150})",
       [](int v) { return v >= 0 && v <= 150; }},
      {R"({"type": "integer", "minimum": -5, "maximum": 1000000})", [](int v) { return v >= -5; }},
      {R"({"type": "integer", "exclusiveMinimum": -3.5, "exclusiveMaximum": 17})",
       [](int v) { return v > -3.5 && v < 17; }},
      {R"({"type": "integer", "minimum": 7})", [](int v) { return v >= 7; }},
      {R"({"type": "integer", "maximum": -12})", [](int v) { return v <= -12; }},
      {R"({"type": "integer", "minimum": 0.5, "maximum": 99.5})",
       [](int v) { return v >= 1 && v <= 99; }},
      {R"({"type": "integer", "minimum": -1000, "maximum": -990})",
       [](int v) { return v >= -1000 && v <= -990; }},
  };
  for (const Case& c : cases) {
    const Grammar g = compile(c.schema);
    for (int v = -2100; v <= 2100; ++v)
      EXPECT_EQ(grammar_accepts(g, std::to_string(v)), c.valid(v)) << c.schema << " value " << v;
    EXPECT_FALSE(grammar_accepts(g, "007")) << c.schema;
    EXPECT_FALSE(grammar_accepts(g, "1.0")) << c.schema;
  }
  expect_accepts(compile(R"({"type": "integer", "minimum": -5, "maximum": 1000000})"),
                 {"1000000", "999999"});
  expect_rejects(compile(R"({"type": "integer", "minimum": -5, "maximum": 1000000})"),
                 {"1000001", "10000000"});
  expect_accepts(compile(R"({"type": "integer", "minimum": 7})"),
                 {"123456789012345678901234567890"});
  expect_accepts(compile(R"({"type": "integer", "maximum": -12})"),
                 {"-123456789012345678901234567890"});
}

TEST(JsonSchema, NumberBounds) {
  const Grammar unit = compile(R"({"type": "number", "minimum": 0, "maximum": 1})");
  expect_accepts(unit, {"0", "0.0", "0.5", "0.999", "1", "1.000", "0.00001"});
  expect_rejects(unit, {"-0.1", "-1", "1.0001", "2", "1e-1", "10"});
  const Grammar open = compile(R"({"type": "number", "exclusiveMinimum": 0, "maximum": 1.5})");
  expect_accepts(open, {"0.1", "0.000001", "1", "1.5", "1.49999", "1.50"});
  expect_rejects(open, {"0", "0.0", "-0", "-0.5", "1.51", "1.5000001", "2"});
  const Grammar negative =
      compile(R"({"type": "number", "minimum": -2.25, "exclusiveMaximum": -0.5})");
  expect_accepts(negative, {"-2.25", "-2.2", "-1", "-0.51", "-0.50001"});
  expect_rejects(negative, {"-2.26", "-2.250001", "-0.5", "-0.50", "0", "-3"});
  const Grammar non_negative = compile(R"({"type": "number", "minimum": 0})");
  expect_accepts(non_negative, {"0", "12.5", "123456789012345"});
  expect_rejects(non_negative, {"-1", "-0.5"});
  // At most 15 digits once bounded: 0.99999999999999999999 parses to the double 1.0.
  const Grammar below_one = compile(R"({"type": "number", "exclusiveMaximum": 1, "minimum": 0})");
  expect_accepts(below_one, {"0.99999999999999"});
  expect_rejects(below_one, {"0.99999999999999999999", "1", "1.0"});
  // Draft 4's boolean exclusive bounds.
  const Grammar draft4 = compile(
      R"({"type": "number", "minimum": 1, "exclusiveMinimum": true, "maximum": 3, "exclusiveMaximum": false})");
  expect_accepts(draft4, {"1.01", "3", "2"});
  expect_rejects(draft4, {"1", "1.0", "3.01"});
}

// ---- enum / const ----

TEST(JsonSchema, EnumAndConst) {
  const Grammar e = compile(R"({"enum": ["red", 1, 2.5, null, true, {"a": [1, "x"]}, ["q"]]})");
  expect_accepts(e, {R"("red")", "1", "2.5", "null", "true", R"({"a":[1,"x"]})", R"(["q"])"});
  expect_rejects(e, {R"("Red")", "2", "false", R"({"a": [1, "x"]})", R"(["q","q"])"});
  const Grammar c = compile(R"({"const": {"b": "\u00e9\n", "a": null}})");
  expect_accepts(c, {"{\"b\":\"\xC3\xA9\\n\",\"a\":null}"});
  expect_rejects(c, {R"({"a":null,"b":"\u00e9\n"})"});
  // Pydantic's enum: type, title and default beside it.
  const Grammar pyd =
      compile(R"({"enum": [1, 2, 3], "title": "Priority", "type": "integer", "default": 1})");
  expect_accepts(pyd, {"1", "3"});
  expect_rejects(pyd, {"4", "1.0"});
}

TEST(JsonSchema, EnumValuesAreFilteredByTheRestOfTheSchema) {
  const Grammar g = compile(
      R"({"enum": [1, "ab", "abcd", {"a": 1}, {"a": "x"}, [1, 2], 2.5, 7],
          "maxLength": 3, "minimum": 2, "properties": {"a": {"type": "integer"}}})");
  expect_accepts(g, {R"("ab")", R"({"a":1})", "[1,2]", "2.5", "7"});
  expect_rejects(g, {"1", R"("abcd")", R"({"a":"x"})"});
  const Grammar typed = compile(R"({"type": "string", "enum": ["a", 1, null]})");
  expect_accepts(typed, {R"("a")"});
  expect_rejects(typed, {"1", "null"});
}

// ---- Objects ----

TEST(JsonSchema, OptionalPropertiesAnySubsetInOrder) {
  const Grammar g = compile(R"({"type": "object", "additionalProperties": false,
      "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "c": {"type": "integer"},
                     "d": {"type": "integer"}, "e": {"type": "integer"}, "f": {"type": "integer"}},
      "required": ["c"]})");
  const std::string names = "abcdef";
  for (int mask = 0; mask < 64; ++mask) {
    std::string text = "{";
    for (int i = 0; i < 6; ++i) {
      if (!(mask & (1 << i))) continue;
      if (text.size() > 1) text += ",";
      text += "\"" + names.substr((size_t)i, 1) + "\":" + std::to_string(i);
    }
    text += "}";
    EXPECT_EQ(grammar_accepts(g, text), (mask & 4) != 0) << text;
  }
  expect_rejects(g, {R"({"c":1,"a":2})", R"({"c":1,"c":1})", R"({,"c":1})", R"({"c":1,})",
                     R"({"c":1,"z":2})"});
}

TEST(JsonSchema, AdditionalProperties) {
  const char* props = R"("properties": {"name": {"type": "string"}}, "required": ["name"])";
  const Grammar open = compile(std::string(R"({"type": "object", )") + props + "}");
  expect_accepts(open, {R"({"name":"x"})", R"({"name":"x","age":3,"tags":[{"k":null}]})"});
  // An extra property may not repeat a declared name, in any spelling.
  expect_rejects(open, {R"({"name":"x","name":3})", R"({"name":"x","n\u0061me":3})",
                        R"({"age":3,"name":"x"})"});
  const Grammar closed =
      compile(std::string(R"({"type": "object", "additionalProperties": false, )") + props + "}");
  expect_rejects(closed, {R"({"name":"x","age":3})"});
  const Grammar typed =
      compile(std::string(R"({"type": "object", "additionalProperties": {"type": "integer"}, )") +
              props + "}");
  expect_accepts(typed, {R"({"name":"x","age":3,"n":4})"});
  expect_rejects(typed, {R"({"name":"x","age":"3"})"});
  JsonSchemaOptions strict;
  strict.strict_additional_properties = true;
  expect_rejects(compile(std::string(R"({"type": "object", )") + props + "}", strict),
                 {R"({"name":"x","age":3})"});
  // A required property that is not declared takes additionalProperties' schema.
  const Grammar undeclared = compile(
      R"({"type": "object", "required": ["id"], "additionalProperties": {"type": "integer"}})");
  expect_accepts(undeclared, {R"({"id":1})", R"({"id":1,"x":2})"});
  expect_rejects(undeclared, {R"({})", R"({"id":"1"})", R"({"x":2})"});
  // Dictionaries (Pydantic dict[str, int]).
  const Grammar dict =
      compile(R"({"type": "object", "additionalProperties": {"type": "integer"}})");
  expect_accepts(dict, {"{}", R"({"a":1,"b\"":2})"});
  expect_rejects(dict, {R"({"a":"1"})"});
}

TEST(JsonSchema, ExtraKeysExcludeTrickyDeclaredNames) {
  const Grammar g = compile(R"({"type": "object", "properties": {"a": {"type": "integer"},
      "ab": {"type": "integer"}, "q\"k": {"type": "integer"}, "\u00e9": {"type": "integer"},
      "": {"type": "integer"}}})");
  expect_accepts(g, {R"({"a":1,"ab":2,"q\"k":3,"é":4,"":5,"abc":"x","b":1,"\u0000":1,"éé":1})"});
  expect_rejects(g, {R"({"a":1,"a":"x"})", R"({"ab":1,"ab":1})", R"({"q\"k":1,"q\"k":"x"})",
                     R"({"":1,"":"x"})", R"({"é":1,"é":"x"})", R"({"a":1,"\u0061":"x"})"});
}

TEST(JsonSchema, Arrays) {
  const Grammar items = compile(
      R"({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9}, "minItems": 2, "maxItems": 4})");
  expect_accepts(items, {"[1,2]", "[1,2,3]", "[0,0,0,9]"});
  expect_rejects(items, {"[]", "[1]", "[1,2,3,4,5]", "[1,10]", "[1,2,]", "[,1,2]"});
  const Grammar tuple = compile(
      R"({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": false, "minItems": 1})");
  expect_accepts(tuple, {"[1]", R"([1,"a"])"});
  expect_rejects(tuple, {"[]", R"(["a"])", R"([1,"a",2])"});
  const Grammar open_tuple = compile(R"({"type": "array", "prefixItems": [{"type": "integer"}]})");
  expect_accepts(open_tuple, {"[]", "[1]", R"([1,"x",{}])"});
  expect_rejects(open_tuple, {R"(["x"])"});
  const Grammar draft7 = compile(
      R"({"type": "array", "items": [{"type": "integer"}, {"type": "string"}], "additionalItems": {"type": "boolean"}, "maxItems": 3})");
  expect_accepts(draft7, {"[]", "[1]", R"([1,"a",true])"});
  expect_rejects(draft7, {R"([1,"a",1])", R"([1,"a",true,false])"});
  expect_accepts(compile(R"({"type": "array", "uniqueItems": false})"), {"[1,1]"});
}

TEST(JsonSchema, BooleanSchemasAndEmptySchema) {
  expect_accepts(compile("true"), {"1", "null", R"({"a":[1,{"b":"c"}]})", R"([[[[]]]])"});
  expect_accepts(compile("{}"), {"\"x\"", "[]"});
  const Grammar g = compile(
      R"({"type": "object", "properties": {"never": false, "any": true}, "required": ["any"]})");
  expect_accepts(g, {R"({"any":[1]})"});
  expect_rejects(g, {R"({"never":1,"any":1})", R"({"any":1,"never":1})"});
}

TEST(JsonSchema, KeywordsApplyOnlyToTheirType) {
  const Grammar g = compile(R"({"minLength": 2, "minimum": 5, "maxItems": 1, "required": ["z"]})");
  expect_accepts(g, {R"("ab")", "5", "7.5", "[1]", R"({"z":0})", "null", "true"});
  expect_rejects(g, {R"("a")", "4", "[1,2]", R"({"y":0})"});
}

// ---- Composition and references ----

TEST(JsonSchema, AnyOfOptionalAndOneOf) {
  const Grammar optional = compile(
      R"({"anyOf": [{"type": "string", "maxLength": 2}, {"type": "null"}], "default": null, "title": "X"})");
  expect_accepts(optional, {"null", R"("ab")"});
  expect_rejects(optional, {R"("abc")", "1"});
  const char* pets = R"({"oneOf": [
      {"type": "object", "properties": {"t": {"const": "cat"}, "x": {"type": "integer"}}, "required": ["t"]},
      {"type": "object", "properties": {"t": {"enum": ["dog", "fox"]}}, "required": ["t"]},
      {"type": "string"}]})";
  JsonSchemaOptions strict;
  strict.strict_one_of = true;
  const Grammar g = compile(pets, strict);  // disjoint: provable
  expect_accepts(g, {R"({"t":"cat","x":1})", R"({"t":"fox"})", R"("s")"});
  expect_rejects(g, {R"({"t":"cow"})", "1"});
  // Overlapping branches: anyOf by default, an error when strict.
  const char* overlap = R"({"oneOf": [{"type": "string"}, {"type": "string", "minLength": 2}]})";
  expect_accepts(compile(overlap), {R"("abc")"});
  EXPECT_EQ(error_of(overlap, strict),
            "unsupported JSON Schema keyword 'oneOf' at the root: branches 0 and 1 may both match "
            "a value, "
            "and kiln cannot enforce 'exactly one' (use anyOf, or make the branches distinct by "
            "type or by "
            "a constant property)");
}

TEST(JsonSchema, AllOfMerges) {
  const Grammar g = compile(R"({"allOf": [
      {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
      {"properties": {"b": {"type": "string"}, "a": {"minimum": 3}}, "required": ["b"], "additionalProperties": false}]})");
  expect_accepts(g, {R"({"a":3,"b":"x"})", R"({"a":30,"b":""})"});
  expect_rejects(g,
                 {R"({"a":2,"b":"x"})", R"({"a":3})", R"({"b":"x"})", R"({"a":3,"b":"x","c":1})"});
  // A property one branch declares is "additional" to a closed branch.
  const Grammar closed = compile(R"({"type": "object", "allOf": [
      {"properties": {"a": {"type": "integer"}}, "additionalProperties": false},
      {"properties": {"b": {"type": "integer"}}}]})");
  expect_accepts(closed, {"{}", R"({"a":1})"});
  expect_rejects(closed, {R"({"b":1})", R"({"a":1,"b":1})"});
  // anyOf beside other keywords distributes over them.
  const Grammar dist =
      compile(R"({"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"],
      "anyOf": [{"properties": {"k": {"const": "x"}, "x": {"type": "integer"}}, "required": ["x"]},
                {"properties": {"k": {"const": "y"}}}]})");
  expect_accepts(dist, {R"({"k":"x","x":1})", R"({"k":"y"})", R"({"k":"y","x":"s"})"});
  expect_rejects(dist, {R"({"k":"x"})", R"({"k":"z"})", R"({"k":"x","x":"s"})"});
}

TEST(JsonSchema, ReferencesAndRecursion) {
  const Grammar tree =
      compile(R"({"$defs": {"node": {"type": "object", "additionalProperties": false,
      "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
      "required": ["v"]}}, "$ref": "#/$defs/node"})");
  expect_accepts(tree,
                 {R"({"v":1})", R"({"v":1,"kids":[{"v":2,"kids":[{"v":3,"kids":[]}]},{"v":4}]})"});
  expect_rejects(tree, {R"({"v":1,"kids":[{"kids":[]}]})", R"({"v":1,"kids":[{"v":"2"}]})"});
  const Grammar list =
      compile(R"({"type": "object", "additionalProperties": false, "required": ["n", "next"],
      "properties": {"n": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}})");
  expect_accepts(list, {R"({"n":1,"next":{"n":2,"next":null}})"});
  expect_rejects(list, {R"({"n":1,"next":{"n":2}})"});
  const Grammar defs =
      compile(R"({"definitions": {"a/b": {"type": "integer"}, "c~d": {"type": "string"}},
      "type": "array", "prefixItems": [{"$ref": "#/definitions/a~1b"}, {"$ref": "#/definitions/c~0d"},
      {"$ref": "#/prefixItems/0"}, {"$ref": "#/%64efinitions/a~1b"}], "items": false})");
  expect_accepts(defs, {R"([1,"x",2,3])"});
  expect_rejects(defs, {R"([1,2,2,3])"});
  // Pydantic: allOf with one $ref, $ref with annotations beside it.
  const Grammar pyd = compile(R"({"$defs": {"C": {"enum": ["r", "g"], "type": "string"}},
      "properties": {"a": {"allOf": [{"$ref": "#/$defs/C"}], "default": "r"}, "b": {"$ref": "#/$defs/C", "description": "x"}},
      "required": ["a", "b"], "type": "object"})");
  expect_accepts(pyd, {R"({"a":"r","b":"g"})"});
  expect_rejects(pyd, {R"({"a":"x","b":"g"})"});
  // A recursive schema reached through allOf terminates through a rule.
  const Grammar composed = compile(R"({"type": "object", "additionalProperties": false,
      "properties": {"c": {"allOf": [{"$ref": "#"}, {"required": ["d"]}]}, "d": {"type": "integer"}}})");
  expect_accepts(composed, {"{}", R"({"c":{"d":1}})", R"({"c":{"c":{"d":2},"d":1}})"});
  expect_rejects(composed, {R"({"c":{}})", R"({"c":{"c":{},"d":1}})"});
  // The root's $id prefixes a local reference.
  expect_accepts(compile(R"({"$id": "https://x.test/s.json", "$defs": {"i": {"type": "integer"}},
      "$ref": "https://x.test/s.json#/$defs/i"})"),
                 {"5"});
}

// ---- pattern and format ----

TEST(JsonSchema, PatternSearchSemantics) {
  const Grammar search = compile(R"({"type": "string", "pattern": "ab+c"})");
  expect_accepts(search, {R"("abc")", R"("xxabbbcyy")", R"("\n abc \"")"});
  expect_rejects(search, {R"("ac")", R"("ab c")"});
  const Grammar start = compile(R"({"type": "string", "pattern": "^x\\d"})");
  expect_accepts(start, {R"("x1")", R"("x9 and more")"});
  expect_rejects(start, {R"(" x1")", R"("x")"});
  const Grammar end = compile(R"({"type": "string", "pattern": "\\d$"})");
  expect_accepts(end, {R"("abc1")", R"("1")"});
  expect_rejects(end, {R"("1a")"});
  const Grammar branches = compile(R"({"type": "string", "pattern": "^a$|b$|^c"})");
  expect_accepts(branches, {R"("a")", R"("xb")", R"("cx")"});
  expect_rejects(branches, {R"("ax")", R"("bx")", R"("xc")"});
  const Grammar exact = compile(R"({"type": "string", "pattern": "^\\d{5}$"})");
  expect_accepts(exact, {R"("12345")"});
  expect_rejects(exact, {R"("1234")", R"("123456")", R"("a12345")"});
}

TEST(JsonSchema, PatternCharactersAreEscapedInTheString) {
  const Grammar g = compile(R"({"type": "string", "pattern": "^[\"\\\\\\n\\t/a]{1,3}$"})");
  expect_accepts(g, {R"("\"")", R"("\\")", R"("\n\t")", R"("a/a")"});
  expect_rejects(g, {"\"\n\"", R"(""")", R"("\/")", R"("b")", R"("\"\"\"\"")"});
  // Control characters appear as their canonical escapes (lower-case \u00xx).
  const Grammar controls = compile(R"({"type": "string", "pattern": "^[\\x00-\\x1f]$"})");
  expect_accepts(controls, {R"("\u001f")", R"("\u0000")", R"("\n")", R"("\b")"});
  expect_rejects(controls, {R"("\u001F")", R"("\u000a")", "\"\x01\"", R"("a")"});
  // Code points outside ASCII are matched as UTF-8.
  const Grammar greek = compile(R"({"type": "string", "pattern": "^[α-ω]{2,3}$"})");
  expect_accepts(greek, {"\"\xCE\xB1\xCE\xB2\""});
  expect_rejects(greek, {"\"\xCE\xB1\"", R"("ab")"});
}

TEST(JsonSchema, PatternWithLengthLimits) {
  const Grammar slug = compile(
      R"({"type": "string", "pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$", "minLength": 3, "maxLength": 8})");
  expect_accepts(slug, {R"("abc")", R"("a-b")", R"("abcdefgh")", R"("ab-cd-ef")"});
  expect_rejects(slug, {R"("ab")", R"("abcdefghi")", R"("a--b")", R"("-ab")"});
  const Grammar unanchored = compile(R"({"type": "string", "pattern": "é", "maxLength": 3})");
  expect_accepts(unanchored, {"\"\xC3\xA9\"", "\"a\xC3\xA9\\n\""});
  expect_rejects(unanchored, {R"("abc")", "\"ab\xC3\xA9\x64\""});
  // Implied lengths need no counting.
  expect_accepts(
      compile(R"({"type": "string", "pattern": "^[A-Z]{3}$", "maxLength": 3, "minLength": 1})"),
      {R"("ABC")"});
  // Too large to count exactly: every repetition is bounded instead (a subset).
  const Grammar url =
      compile(R"({"type": "string", "format": "uri", "minLength": 1, "maxLength": 2083})");
  expect_accepts(url, {R"("https://example.com/a/b?x=1#y")"});
  expect_rejects(url, {R"("not a uri")"});
}

TEST(JsonSchema, Formats) {
  auto g = [](const char* format) {
    return compile(std::string(R"({"type": "string", "format": ")") + format + "\"}");
  };
  expect_accepts(g("date"),
                 {R"("2024-02-29")", R"("2000-02-29")", R"("1999-12-31")", R"("0001-01-01")"});
  expect_rejects(g("date"), {R"("2023-02-29")", R"("1900-02-29")", R"("2024-04-31")",
                             R"("2024-13-01")", R"("0000-01-01")", R"("2024-1-01")"});
  expect_accepts(g("time"), {R"("23:59:59Z")", R"("00:00:00.123+05:30")"});
  expect_rejects(g("time"), {R"("24:00:00Z")", R"("12:00:00")", R"("12:60:00Z")"});
  expect_accepts(g("date-time"), {R"("2024-05-06T07:08:09.5-01:00")"});
  expect_rejects(g("date-time"), {R"("2024-05-06 07:08:09Z")"});
  expect_accepts(g("uuid"), {R"("123e4567-e89b-12d3-a456-426614174000")"});
  expect_rejects(g("uuid"), {R"("123e4567e89b12d3a456426614174000")"});
  expect_accepts(g("uuid4"), {R"("123e4567-e89b-42d3-a456-426614174000")"});
  expect_rejects(g("uuid4"), {R"("123e4567-e89b-12d3-a456-426614174000")"});
  expect_accepts(g("ipv4"), {R"("0.0.0.0")", R"("255.255.255.255")", R"("192.168.1.10")"});
  expect_rejects(g("ipv4"), {R"("256.1.1.1")", R"("01.1.1.1")", R"("1.1.1")"});
  expect_accepts(g("ipv6"), {R"("::")", R"("::1")", R"("fe80::1:2")", R"("1:2:3:4:5:6:7:8")",
                             R"("::ffff:192.168.0.1")", R"("1::")"});
  expect_rejects(g("ipv6"), {R"("1:2:3:4:5:6:7:8:9")", R"("1::2::3")", R"("12345::")", R"(":1")"});
  expect_accepts(g("email"), {R"("a.b+c@example.co.uk")"});
  expect_rejects(g("email"), {R"("a@b")", R"("@example.com")", R"("a..b@example.com")"});
  expect_accepts(g("hostname"), {R"("localhost")", R"("api.example-1.com")"});
  expect_rejects(g("hostname"), {R"("-a.com")", R"("a-.com")", R"("a..com")", R"("1.2.3.4")"});
  expect_accepts(g("uri"), {R"("https://user@example.com:8080/p/a%20b?q=1&r#frag")",
                            R"("urn:isbn:123")", R"("mailto:a@b.c")",
                            // '-', '~' and '!' after the scheme (a class once read "~-!"
                            // as an empty range)
                            R"("https://my-site.com/~user/a!b")"});
  expect_rejects(g("uri"), {R"("/relative")", R"("http://a b")", R"("1http://x")"});
  expect_accepts(g("duration"), {R"("P1Y2M3DT4H5M6S")", R"("PT1H")", R"("P2W")", R"("P1D")"});
  expect_rejects(g("duration"), {R"("P")", R"("PT")", R"("P1Y3D")", R"("P1H")"});
  // Unknown formats are annotations.
  expect_accepts(g("binary"), {R"("anything")"});
}

// ---- Whitespace ----

TEST(JsonSchema, Whitespace) {
  const char* schema =
      R"({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}, "required": ["a"]})";
  const Grammar compact = compile(schema);
  expect_accepts(compact, {R"({"a":[1,2]})"});
  expect_rejects(compact, {R"({"a": [1,2]})", R"({ "a":[1,2]})", R"({"a":[1, 2]})"});
  JsonSchemaOptions loose;
  loose.compact_whitespace = false;
  loose.max_whitespace = 2;
  const Grammar g = compile(schema, loose);
  expect_accepts(g,
                 {R"({"a":[1,2]})", "{ \"a\" : [ 1 ,\n2 ] }", "{\n\t\"a\":[]}", "{  \"a\":[1]  }"});
  expect_rejects(g, {"{   \"a\":[1]}", " {\"a\":[1]}", "{\"a\":[1]} ", "{\"a\":[1]\r}"});
  expect_accepts(grammar_any_json_object(loose), {"{ \"x\" : [ 1 , { } ] }"});
}

// Nested values with flexible whitespace must stay cheap to match: if inlining copied the
// whitespace rule in after a rule call, each nesting level would call the member from
// several return positions and the live stacks would grow as 5^depth (depth 12 would not
// finish).
TEST(JsonSchema, NestedValuesWithWhitespaceStayCheap) {
  JsonSchemaOptions loose;
  loose.compact_whitespace = false;
  const Grammar g = grammar_any_json_object(loose);
  std::string text;
  for (int i = 0; i < 12; ++i) text += "{ \"a\" : ";
  text += "1";
  for (int i = 0; i < 12; ++i) text += " }";
  expect_accepts(g, {text});
}

// ---- Real schemas ----

TEST(JsonSchema, PydanticModel) {
  // Customer.model_json_schema() for a model with a nested model, Optional, an enum class,
  // a Literal, a datetime, a constrained string and a discriminated union.
  const Grammar g = compile(R"json({
    "$defs": {
      "Address": {"properties": {"street": {"maxLength": 40, "title": "Street", "type": "string"},
        "postal_code": {"pattern": "^\\d{5}$", "title": "Postal Code", "type": "string"},
        "country": {"default": "US", "enum": ["US", "CA"], "title": "Country", "type": "string"}},
        "required": ["street", "postal_code"], "title": "Address", "type": "object"},
      "Cat": {"properties": {"pet_type": {"const": "cat", "title": "Pet Type", "type": "string"},
        "meows": {"maximum": 100, "minimum": 0, "title": "Meows", "type": "integer"}},
        "required": ["pet_type", "meows"], "title": "Cat", "type": "object"},
      "Dog": {"properties": {"pet_type": {"const": "dog", "title": "Pet Type", "type": "string"}},
        "required": ["pet_type"], "title": "Dog", "type": "object"},
      "Level": {"enum": ["DEBUG", "INFO"], "title": "Level", "type": "string"}
    },
    "properties": {
      "id": {"format": "uuid", "title": "Id", "type": "string"},
      "address": {"$ref": "#/$defs/Address"},
      "backup": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": null},
      "level": {"$ref": "#/$defs/Level", "default": "INFO"},
      "created": {"format": "date-time", "title": "Created", "type": "string"},
      "pet": {"discriminator": {"mapping": {"cat": "#/$defs/Cat", "dog": "#/$defs/Dog"}, "propertyName": "pet_type"},
              "oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}], "title": "Pet"},
      "tags": {"items": {"type": "string"}, "maxItems": 2, "title": "Tags", "type": "array"},
      "score": {"exclusiveMinimum": 0, "maximum": 1.5, "title": "Score", "type": "number"}
    },
    "required": ["id", "address", "created", "pet", "score"], "title": "Customer", "type": "object"})json",
                            [] {
                              JsonSchemaOptions o;
                              o.strict_one_of = true;
                              return o;
                            }());
  const std::string valid =
      R"({"id":"123e4567-e89b-12d3-a456-426614174000","address":{"street":"Main","postal_code":"12345"},)"
      R"("backup":null,"level":"DEBUG","created":"2024-01-02T03:04:05Z","pet":{"pet_type":"cat","meows":3},)"
      R"("tags":["a"],"score":0.5})";
  expect_accepts(
      g,
      {valid,
       R"({"id":"123e4567-e89b-12d3-a456-426614174000","address":{"street":"","postal_code":"00000","country":"CA"},)"
       R"("created":"2024-01-02T03:04:05Z","pet":{"pet_type":"dog"},"score":1.5})"});
  expect_rejects(
      g,
      {
          R"({"id":"x","address":{"street":"Main","postal_code":"12345"},"created":"2024-01-02T03:04:05Z","pet":{"pet_type":"dog"},"score":1})",
          R"({"id":"123e4567-e89b-12d3-a456-426614174000","address":{"street":"Main","postal_code":"1234"},"created":"2024-01-02T03:04:05Z","pet":{"pet_type":"dog"},"score":1})",
          R"({"id":"123e4567-e89b-12d3-a456-426614174000","address":{"street":"Main","postal_code":"12345"},"created":"2024-01-02T03:04:05Z","pet":{"pet_type":"cow"},"score":1})",
          R"({"id":"123e4567-e89b-12d3-a456-426614174000","address":{"street":"Main","postal_code":"12345"},"created":"2024-01-02T03:04:05Z","pet":{"pet_type":"dog"},"score":0})",
          valid.substr(0, valid.size() - 1),
      });
}

TEST(JsonSchema, OpenAiStrictSchema) {
  const Grammar g = compile(R"({"type": "object", "additionalProperties": false,
      "properties": {
        "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
        "final_answer": {"type": ["string", "null"]},
        "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
      "required": ["steps", "final_answer", "next"],
      "$defs": {"step": {"type": "object", "additionalProperties": false,
        "properties": {"explanation": {"type": "string"}, "output": {"type": "string"}},
        "required": ["explanation", "output"]}}})");
  expect_accepts(
      g,
      {R"({"steps":[{"explanation":"e","output":"o"}],"final_answer":null,"next":{"steps":[],"final_answer":"x","next":null}})"});
  expect_rejects(g, {R"({"steps":[{"explanation":"e"}],"final_answer":null,"next":null})",
                     R"({"steps":[],"final_answer":null})"});
}

TEST(JsonSchema, AnnotationsAreIgnored) {
  const Grammar g =
      compile(R"({"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:x",
      "$comment": "c", "title": "T", "description": "D", "default": 1, "examples": [1], "readOnly": true,
      "writeOnly": false, "deprecated": true, "x-vendor": {"not": 1}, "type": "integer",
      "patternProperties": {}, "propertyNames": true, "dependentRequired": {}, "unevaluatedProperties": true})");
  expect_accepts(g, {"1"});
  expect_rejects(g, {"\"1\""});
}

// ---- Other entry points ----

TEST(JsonSchema, AnyJsonObject) {
  const Grammar g = grammar_any_json_object();
  expect_accepts(g, {"{}", R"({"a":[1,2.5e3,"x",null,true,{"b":{}}]})", R"({"a":1,"a":2})"});
  expect_rejects(g, {"[]", "1", R"({"a"})", R"({"a":1,})", R"({a:1})", "{\"a\":\"\x01\"}"});
}

TEST(JsonSchema, Choices) {
  StatusOr<Grammar> g = grammar_from_choices({"yes", "no", "maybe so", ""});
  ASSERT_TRUE(g.ok()) << g.message();
  expect_accepts(*g, {"yes", "no", "maybe so", ""});
  expect_rejects(*g, {"ye", "yes ", "maybe"});
  EXPECT_EQ(grammar_from_choices({}).message(), "choice: the list of choices is empty");
}

TEST(JsonSchema, EmbeddedInALargerGrammar) {
  GrammarBuilder b;
  StatusOr<uint32_t> value =
      add_json_schema_rules(b, json::parse(R"({"type": "integer", "minimum": 1})"));
  ASSERT_TRUE(value.ok()) << value.message();
  const uint32_t root = b.add(
      "root", Expr::seq({Expr::literal("<call>"), Expr::ref(*value), Expr::literal("</call>")}));
  StatusOr<Grammar> g = b.build(root);
  ASSERT_TRUE(g.ok()) << g.message();
  expect_accepts(*g, {"<call>12</call>"});
  expect_rejects(*g, {"<call>0</call>", "12"});
}

// ---- Errors ----

TEST(JsonSchema, ErrorMessages) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"type": "object", "properties": {"tags": {"type": "object", "patternProperties": {"^a": {}}}}})",
       "unsupported JSON Schema keyword 'patternProperties' at /properties/tags"},
      {R"({"anyOf": [{"type": "string"}, {"not": {"type": "string"}}]})",
       "unsupported JSON Schema keyword 'not' at /anyOf/1"},
      {R"({"if": {"type": "string"}, "then": {"minLength": 1}})",
       "unsupported JSON Schema keyword 'if' at the root"},
      {R"({"type": "array", "uniqueItems": true})",
       "unsupported JSON Schema keyword 'uniqueItems' at the root: kiln cannot make array items "
       "distinct"},
      {R"({"type": "array", "items": {"contains": {}}})",
       "unsupported JSON Schema keyword 'contains' at /items"},
      {R"({"type": "integer", "multipleOf": 2})",
       "unsupported JSON Schema keyword 'multipleOf' at the root"},
      {R"({"propertyNames": {"pattern": "^a"}})",
       "unsupported JSON Schema keyword 'propertyNames' at the root"},
      {R"({"dependentRequired": {"a": ["b"]}})",
       "unsupported JSON Schema keyword 'dependentRequired' at the root"},
      {R"({"dependentSchemas": {"a": {}}})",
       "unsupported JSON Schema keyword 'dependentSchemas' at the root"},
      {R"({"type": "object", "unevaluatedProperties": false})",
       "unsupported JSON Schema keyword 'unevaluatedProperties' at the root"},
      {R"({"$dynamicRef": "#x"})", "unsupported JSON Schema keyword '$dynamicRef' at the root"},
      {R"({"properties": {"a/b": {"properties": {"x": {"$id": "x"}}}}})",
       "unsupported JSON Schema keyword '$id' at /properties/a~1b/properties/x: only the root "
       "schema may have an $id"},
      {R"({"type": 5})",
       "malformed JSON Schema keyword 'type' at the root: must be a type name or a non-empty array "
       "of type names"},
      {R"({"items": {"type": "strin"}})",
       "malformed JSON Schema keyword 'type' at /items: unknown type 'strin'"},
      {R"({"properties": []})",
       "malformed JSON Schema keyword 'properties' at the root: must be an object"},
      {R"({"properties": {"a": 1}})",
       "malformed JSON Schema keyword 'properties' at the root: the value of 'a' must be a schema"},
      {R"({"required": "a"})",
       "malformed JSON Schema keyword 'required' at the root: must be an array of strings"},
      {R"({"required": [1]})",
       "malformed JSON Schema keyword 'required' at the root: must be an array of strings"},
      {R"({"minItems": -1})",
       "malformed JSON Schema keyword 'minItems' at the root: must be a non-negative integer"},
      {R"({"maximum": "5"})",
       "malformed JSON Schema keyword 'maximum' at the root: must be a number"},
      {R"({"anyOf": []})", "malformed JSON Schema keyword 'anyOf' at the root: must not be empty"},
      {R"({"items": [{}], "prefixItems": [{}]})",
       "malformed JSON Schema keyword 'items' at the root: must be a schema when 'prefixItems' is "
       "present"},
      {R"({"additionalProperties": 3})",
       "malformed JSON Schema keyword 'additionalProperties' at the root: must be a schema (an "
       "object or a boolean)"},
      {R"({"properties": {"a": 7}, "type": "string"})",
       "malformed JSON Schema keyword 'properties' at the root: the value of 'a' must be a schema"},
      {R"({"$ref": 1})", "malformed JSON Schema keyword '$ref' at the root: must be a string"},
      {R"("str")", "malformed JSON Schema at the root: a schema must be an object or a boolean"},
      {R"({"allOf": [3]})",
       "malformed JSON Schema keyword 'allOf' at the root: must be an array of schemas"},
      {R"({"properties": {"a": {"$ref": "#/$defs/Missing"}}})",
       "unresolved $ref '#/$defs/Missing' at /properties/a"},
      {R"({"$ref": "other.json#/a"})",
       "unsupported JSON Schema keyword '$ref' at the root: 'other.json#/a' is not a reference "
       "within this document ('#...')"},
      {R"({"$ref": "#anchor"})",
       "unsupported JSON Schema keyword '$ref' at the root: '#anchor' names an anchor; only JSON "
       "pointers ('#/...') are supported"},
      {R"({"$defs": {"A": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"})",
       "circular $ref in the JSON Schema: grammar is left-recursive (A -> A without consuming "
       "input); rewrite it with repetition"},
      {R"({"allOf": [{"$ref": "#"}, {"type": "string"}]})",
       "circular $ref '#' at /allOf/0: the schema contains itself without nesting"},
      {R"({"minLength": 5, "maxLength": 3})",
       "unsatisfiable JSON Schema at the root: minLength 5 is greater than maxLength 3"},
      {R"({"items": {"minItems": 3, "maxItems": 2}})",
       "unsatisfiable JSON Schema at /items: minItems 3 is greater than maxItems 2"},
      {R"({"minimum": 5, "maximum": 1.5})",
       "unsatisfiable JSON Schema at the root: minimum 5 is greater than maximum 1.5"},
      {R"({"enum": []})", "unsatisfiable JSON Schema at the root: 'enum' is empty"},
      {"false",
       "unsatisfiable JSON Schema: no JSON value validates against it (the schema at the root is "
       "false)"},
      {R"({"type": "string", "enum": [1, 2]})",
       "unsatisfiable JSON Schema: no JSON value validates against it (no 'enum'/'const' value at "
       "the root satisfies the rest of its schema)"},
      {R"({"type": "object", "properties": {"a": false}, "required": ["a"]})",
       "unsatisfiable JSON Schema: no JSON value validates against it (the schema at /properties/a "
       "is false)"},
      {R"({"type": "object", "required": ["a"], "additionalProperties": false})",
       "unsatisfiable JSON Schema: no JSON value validates against it (required property 'a' at "
       "the root is not allowed by additionalProperties)"},
      {R"({"allOf": [{"type": "string"}, {"type": "integer"}]})",
       "unsatisfiable JSON Schema: no JSON value validates against it (the combined schemas at the "
       "root allow no common type)"},
      {R"({"allOf": [{"type": "number", "minimum": 3}, {"maximum": 2}]})",
       "unsatisfiable JSON Schema: no JSON value validates against it (no number lies within the "
       "bounds at the root)"},
      {R"({"type": "array", "minItems": 5000})",
       "unsupported JSON Schema keyword 'minItems' at the root: 5000 is above kiln's limit of "
       "1000"},
      {R"({"type": "array", "maxItems": 1001})",
       "unsupported JSON Schema keyword 'maxItems' at the root: 1001 is above kiln's limit of "
       "1000"},
      {R"({"type": "string", "maxLength": 100000})",
       "unsupported JSON Schema keyword 'maxLength' at the root: 100000 is above kiln's limit of "
       "10000"},
      {R"({"type": "string", "pattern": "(a"})",
       "unsupported JSON Schema keyword 'pattern' at the root: regex error at position 0: missing "
       "), unterminated group"},
      {R"j({"type": "string", "pattern": "a(?=b)"})j",
       "unsupported JSON Schema keyword 'pattern' at the root: regex error at position 1: "
       "lookahead is not supported"},
      {R"({"type": "string", "pattern": "(^a)b"})",
       "unsupported JSON Schema keyword 'pattern' at the root: anchors (^ $ \\A \\Z) are only "
       "supported at the ends of the pattern or of its top-level alternatives"},
      {R"({"type": "string", "pattern": "^a", "format": "date"})",
       "unsupported JSON Schema keyword 'format' at the root: 'format' together with 'pattern' is "
       "not supported"},
      {R"({"allOf": [{"pattern": "a"}, {"pattern": "b"}]})",
       "unsupported JSON Schema keyword 'pattern' at the root: combining two different 'pattern' "
       "values is not supported"},
      {R"({"type": "object", "properties": {"a": {}}, "required": ["a"], "minProperties": 2})",
       "unsupported JSON Schema keyword 'minProperties' at the root: only values up to the number "
       "of required properties are supported"},
      {R"({"type": "object", "maxProperties": 3})",
       "unsupported JSON Schema keyword 'maxProperties' at the root: only values that the declared "
       "properties cannot exceed are supported"},
      {R"({"type": "integer", "minimum": 1e30})",
       "unsupported JSON Schema keyword 'minimum' at the root: integer bounds beyond +-10^18 are "
       "not supported"},
      {R"({"type": "string", "pattern": "^(a|b)*$", "minLength": 9000})",
       "unsupported JSON Schema keyword 'minLength' at the root: too large to combine with the "
       "'pattern' or 'format'"},
  };
  for (const auto& [schema, message] : cases) EXPECT_EQ(error_of(schema), message) << schema;
}

TEST(JsonSchema, SupportedLimitsOfPropertyCounts) {
  const Grammar g =
      compile(R"({"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a"],
      "additionalProperties": false, "minProperties": 1, "maxProperties": 2})");
  expect_accepts(g, {R"({"a":1})", R"({"a":1,"b":2})"});
  expect_accepts(compile(R"({"type": "object", "maxProperties": 0})"), {"{}"});
  expect_rejects(compile(R"({"type": "object", "maxProperties": 0})"), {R"({"a":1})"});
}

// ---- Hostile input ----

TEST(JsonSchema, DeepNestingIsAnErrorNotACrash) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += R"({"properties": {"a": )";
  deep += "{}";
  for (int i = 0; i < 100000; ++i) deep += "}}";
  EXPECT_EQ(error_of(deep), "JSON Schema nested more than 512 levels deep");
  std::string medium;
  for (int i = 0; i < 100; ++i) medium += R"({"type": "object", "properties": {"a": )";
  medium += "{}";
  for (int i = 0; i < 100; ++i) medium += "}}";
  EXPECT_NE(error_of(medium).find(
                "JSON Schema nested more than 64 levels deep at /properties/a/properties/a"),
            std::string::npos)
      << error_of(medium);
  std::string ok_depth;
  for (int i = 0; i < 30; ++i) ok_depth += R"({"type": "object", "properties": {"a": )";
  ok_depth += R"({"type": "integer"})";
  for (int i = 0; i < 30; ++i) ok_depth += "}}";
  const Grammar g = compile(ok_depth);
  std::string value;
  for (int i = 0; i < 30; ++i) value += R"({"a":)";
  value += "1" + std::string(30, '}');
  expect_accepts(g, {value});
}

TEST(JsonSchema, CombinatorialBlowUpIsAnError) {
  // Each allOf element doubles the alternatives: 2^10 > 256.
  std::string schema = R"({"allOf": [)";
  for (int i = 0; i < 10; ++i)
    schema += std::string(i ? "," : "") + R"({"anyOf": [{"minLength": )" + std::to_string(i) +
              R"(}, {"maxLength": )" + std::to_string(100 + i) + "}]}";
  schema += "]}";
  EXPECT_EQ(
      error_of(schema),
      "JSON Schema at the root has more than 256 alternatives once anyOf/oneOf are distributed");
}

}  // namespace
}  // namespace kiln::structured
