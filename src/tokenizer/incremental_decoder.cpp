#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace kiln {

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(&tokenizer), skip_special_(skip_special) {}

std::string IncrementalDecoder::push(int32_t id) {
  if (id < 0 || id >= tokenizer_->vocab_size()) return {};
  if (skip_special_ && tokenizer_->is_special(id)) return {};
  std::string_view piece = tokenizer_->token_bytes(id);
  // Must match Tokenizer::decode: the first token loses the SentencePiece prefix space.
  if (first_ && tokenizer_->add_space_prefix() &&
      tokenizer_->token_type(id) == TokenType::kNormal && !piece.empty() && piece[0] == ' ') {
    piece.remove_prefix(1);
  }
  first_ = false;
  pending_.append(piece);

  std::string out;
  const auto* p = reinterpret_cast<const uint8_t*>(pending_.data());
  const size_t n = pending_.size();
  size_t i = 0;
  while (i < n) {
    const Utf8Decoded d = utf8_decode(p + i, n - i);
    if (d.status == Utf8Status::kIncomplete) break;  // wait for the rest of the character
    if (d.status == Utf8Status::kOk)
      out.append(pending_, i, d.length);
    else
      out.append("\xEF\xBF\xBD");
    i += d.length;
  }
  pending_.erase(0, i);
  return out;
}

std::string IncrementalDecoder::flush() {
  std::string out = pending_.empty() ? std::string() : utf8_sanitize(pending_);
  pending_.clear();
  first_ = true;
  return out;
}

}  // namespace kiln
