// The structured-output compilers (structured/) on arbitrary input: JSON Schema, regular
// expressions, GBNF and Lark EBNF compile to a grammar or fail with a message; what
// compiles is built into a CompiledGrammar over a small vocabulary and driven by a
// GrammarMatcher. Properties beyond "no crash":
//   - the token mask and accept_token agree: a token in the mask is accepted, one outside
//     it is refused (and leaves the matcher as it was);
//   - the end token is in the mask exactly when the matcher says the grammar can end.
// Input: a selector byte (which compiler), a byte steering the matcher's walk, the text.
// Compiles that time out are bugs too: libFuzzer's -timeout catches them.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "structured/compiled_grammar.h"
#include "structured/ebnf_parser.h"
#include "structured/grammar_matcher.h"
#include "structured/json_schema_compiler.h"
#include "structured/matcher.h"
#include "structured/regex_compiler.h"
#include "structured/vocabulary.h"

namespace {

using namespace kiln::structured;

// Every byte, pieces of JSON and of the seeds' regexes and grammars (multi-byte UTF-8
// whole and split), a control token (no bytes) and the end token.
const std::shared_ptr<const TokenVocabulary>& vocab() {
  static const auto* v = [] {
    std::vector<std::string> tokens;
    for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, (char)b));
    for (const char* piece :
         {"{\"", "\":", "\",", "\"}", "true", "false", "null", "  ", "\n", "12", "-1", ".5",
          "e+", "ab", "abc", "\\u00", "\\n", "\xC3\xA9", "\xCE", "\xB1", "\xF0\x9F\x98\x80",
          "[1,", "],", "{}", "[]", "name", "\"a\"", "yes", "no", "0-9", "x"})
      tokens.push_back(piece);
    tokens.push_back("");  // a control token
    tokens.push_back("");  // the end token
    const int32_t eos = (int32_t)tokens.size() - 1;
    const int32_t mask = (int32_t)tokens.size() + 5;  // a logits row wider than the vocabulary
    return new std::shared_ptr<const TokenVocabulary>(
        std::make_shared<TokenVocabulary>(std::move(tokens), std::vector<int32_t>{eos}, mask));
  }();
  return *v;
}

kiln::StatusOr<Grammar> compile(uint8_t which, std::string_view text) {
  switch (which % 5) {
    case 0: {
      auto schema = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (schema.is_discarded()) return kiln::Status::Error("not JSON");
      return grammar_from_json_schema(schema);
    }
    case 1:
      return grammar_from_regex(text);
    case 2:
      return grammar_from_gbnf(text);
    case 3:
      return grammar_from_lark(text);
    default:
      return grammar_from_ebnf(text);
  }
}

// Walks the matcher for a few tokens, choosing among the allowed ones by `steer`.
void walk(const Grammar& g, uint32_t steer) {
  // No eager classification (a time budget): positions are classified as the walk reaches them.
  const auto compiled = std::make_shared<const CompiledGrammar>(g, vocab(), /*eager_seconds=*/0.0);
  GrammarMatcher m(compiled);
  const int32_t eos = vocab()->end_tokens()[0];
  TokenMask mask;
  for (int step = 0; step < 12 && !m.finished(); ++step) {
    m.fill_mask(mask);
    kiln::fuzz::check(mask.test(eos) == m.can_end(), "end token in the mask != can_end()");
    std::vector<int32_t> allowed;
    for (int32_t t = 0; t < mask.size(); ++t)
      if (mask.test(t)) allowed.push_back(t);
    // A token outside the mask must be refused.
    const int32_t probe = (int32_t)((steer * 2654435761u) % (uint32_t)vocab()->mask_size());
    if (!mask.test(probe)) {
      GrammarMatcher copy(m);
      kiln::fuzz::check(!copy.accept_token(probe),
                        "token " + std::to_string(probe) + " is outside the mask but accepted");
    }
    if (allowed.empty()) break;
    const int32_t pick = allowed[steer % allowed.size()];
    steer = steer * 1103515245u + 12345u;
    kiln::fuzz::check(m.accept_token(pick),
                      "token " + std::to_string(pick) + " is in the mask but refused");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzz::Input in(data, size);
  const uint8_t which = in.byte();
  const uint32_t steer = in.byte();
  const std::string_view text = in.rest();
  auto g = compile(which, text);
  if (!g.ok()) {
    kiln::fuzz::check(!g.message().empty(), "a compile error without a message");
    return 0;
  }
  // The reference matcher on a few texts, then the token-level one.
  for (std::string_view t : {std::string_view(""), std::string_view("{\"a\": 1}"), text.substr(0, 16)}) {
    grammar_accepts(g.value(), t);
    grammar_accepts_prefix(g.value(), t);
  }
  walk(g.value(), steer);
  return 0;
}
