// TokenVocabulary from kiln's tokenizer (kept apart so the structured core builds alone).
#include <algorithm>

#include "structured/vocabulary.h"
#include "tokenizer/tokenizer.h"

namespace kiln::structured {

std::shared_ptr<const TokenVocabulary> TokenVocabulary::from_tokenizer(
    const Tokenizer& tokenizer, std::vector<int32_t> end_tokens, int32_t mask_size) {
  std::vector<std::string> bytes((size_t)tokenizer.vocab_size());
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    const TokenType t = tokenizer.token_type(id);
    const bool text = t == TokenType::kNormal || t == TokenType::kByte ||
                      t == TokenType::kUserDefined || t == TokenType::kUndefined;
    if (text) bytes[id] = std::string(tokenizer.token_bytes(id));
  }
  return std::make_shared<TokenVocabulary>(std::move(bytes), std::move(end_tokens),
                                           std::max(mask_size, tokenizer.vocab_size()));
}

}  // namespace kiln::structured
