// A bounded fuzz pass over the structured-output compilers, run with every unit test build
// (and so under ASan and UBSan in CI): random mutations of valid regexes, GBNF and Lark
// grammars and JSON Schemas must compile or fail with a message, never crash, hang or
// leak, and what compiles must then run through the matcher on random input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "structured/ebnf_parser.h"
#include "structured/json_schema_compiler.h"
#include "structured/matcher.h"
#include "structured/regex_compiler.h"

namespace kiln::structured {
namespace {

constexpr int kIterations = 4000;  // per compiler: seconds under ASan

// Deletes, duplicates, swaps or inserts bytes (often syntax characters) a few times.
std::string mutate(std::string s, std::mt19937& rng) {
  static const std::string kSyntax = "()[]{}|*+?.^$\\-:=,\"'/#~ \n0123456789azAZ\xCE\xB1";
  const int edits = 1 + (int)(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 4) {
      case 0:
        if (!s.empty() && at < s.size()) s.erase(at, 1 + rng() % 3);
        break;
      case 1:
        s.insert(at, 1, kSyntax[rng() % kSyntax.size()]);
        break;
      case 2:
        if (!s.empty() && at < s.size()) s.insert(at, s.substr(at, 1 + rng() % 8));
        break;
      default:
        s.insert(at, 1, (char)(rng() % 256));
        break;
    }
  }
  return s;
}

std::string random_text(std::mt19937& rng) {
  static const std::string kAlphabet = "abc019{}[]\":,-.x \xCE\xB1";
  std::string t;
  const int n = (int)(rng() % 12);
  for (int i = 0; i < n; ++i) t += kAlphabet[rng() % kAlphabet.size()];
  return t;
}

// Returns whether it compiled.
bool exercise(const StatusOr<Grammar>& g, std::mt19937& rng) {
  if (!g.ok()) {
    EXPECT_FALSE(g.message().empty());
    return false;
  }
  for (int i = 0; i < 4; ++i) {
    const std::string t = random_text(rng);
    grammar_accepts_prefix(g.value(), t);
    grammar_accepts(g.value(), t);
  }
  return true;
}

TEST(StructuredFuzz, MutatedRegexes) {
  const std::vector<std::string> seeds = {
      R"(\d{3}-\d{4})", R"([A-Za-z_][A-Za-z0-9_]*)", R"((?:ab|cd)+e?)", R"(^[^@\s]+@\w+\.com$)",
      R"(\(\d{3}\) \d{3}-\d{4})", R"((a|b){2,5}[α-ω]*\x41\u00e9.)"};
  std::mt19937 rng(1);
  int compiled = 0;
  for (int i = 0; i < kIterations; ++i)
    compiled += exercise(grammar_from_regex(mutate(seeds[rng() % seeds.size()], rng)), rng);
  // Both outcomes must be exercised.
  EXPECT_GT(compiled, kIterations / 20);
  EXPECT_LT(compiled, kIterations);
}

TEST(StructuredFuzz, MutatedGrammars) {
  const std::vector<std::string> seeds = {
      "root ::= \"[\" item (\",\" item)* \"]\"\nitem ::= [0-9]+ | \"x\"\n",
      "root ::= expr\nexpr ::= term ((\"+\"|\"-\") term)*\nterm ::= [0-9]{1,3} | \"(\" expr \")\"\n",
      "start: pair (\",\" pair)*\npair: KEY \"=\" VALUE\nKEY: /[a-z]+/\nVALUE: /[0-9]+/\n",
      "start: \"yes\" | \"no\" | NUMBER\n%import common.NUMBER\n"};
  std::mt19937 rng(2);
  int compiled = 0;
  for (int i = 0; i < kIterations; ++i)
    compiled += exercise(grammar_from_ebnf(mutate(seeds[rng() % seeds.size()], rng)), rng);
  EXPECT_GT(compiled, kIterations / 20);
  EXPECT_LT(compiled, kIterations);
}

TEST(StructuredFuzz, MutatedJsonSchemas) {
  const std::vector<std::string> seeds = {
      R"({"type":"object","properties":{"a":{"type":"integer","minimum":-5,"maximum":300},"b":{"type":"string","maxLength":4}},"required":["a"]})",
      R"({"$defs":{"n":{"type":"object","properties":{"v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/n"},{"type":"null"}]}}}},"$ref":"#/$defs/n"})",
      R"({"type":"array","items":{"enum":["x","y",1,null]},"minItems":1,"maxItems":3})",
      R"({"type":"string","pattern":"^[a-z]{2}\\d$","format":"date"})",
      R"({"allOf":[{"type":"object","properties":{"a":{"const":true}}},{"required":["a"]}]})"};
  std::mt19937 rng(3);
  int parsed = 0, compiled = 0;
  for (int i = 0; i < kIterations; ++i) {
    const std::string text = mutate(seeds[rng() % seeds.size()], rng);
    auto schema = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (schema.is_discarded()) continue;
    ++parsed;
    compiled += exercise(grammar_from_json_schema(schema), rng);
  }
  EXPECT_GT(parsed, kIterations / 10);  // the mutations must not all break the JSON
  EXPECT_GT(compiled, parsed / 20);
}

}  // namespace
}  // namespace kiln::structured
