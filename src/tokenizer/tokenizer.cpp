#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace kiln {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// Control tokens that end a turn in the common chat formats, besides EOS/EOT themselves.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|im_end|>", "<|endoftext|>",   "<end_of_turn>", "<|eot_id|>", "<|eom_id|>",
    "<|end|>",    "<|end_of_text|>", "</s>",          "<eos>",      "<EOT>",
};

bool is_control_like(TokenType t) { return t == TokenType::kControl || t == TokenType::kUnknown; }

// "<0x41>" -> 0x41; -1 if `text` is not a byte token's spelling.
int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else
      return -1;
    value = value * 16 + digit;
  }
  return value;
}

// The bytes a byte-level token spells: each code point of its text mapped back through
// GPT-2's alphabet (a code point outside it, which a well-formed vocabulary never has,
// stands for itself).
void append_byte_level_bytes(std::string_view text, std::string& out) {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  for (size_t i = 0; i < text.size();) {
    const Utf8Decoded d = utf8_decode(p + i, text.size() - i);
    const int byte = d.status == Utf8Status::kOk ? unicode_to_byte(d.cp) : -1;
    if (byte >= 0)
      out.push_back(static_cast<char>(byte));
    else
      out.append(text.substr(i, d.length));
    i += d.length;
  }
}

void append_spm_bytes(std::string_view text, std::string& out) {
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, kSpmSpace.size(), kSpmSpace) == 0) {
      out.push_back(' ');
      i += kSpmSpace.size();
    } else {
      out.push_back(text[i++]);
    }
  }
}

// SentencePiece's whitespace escaping: ' ' -> "▁".
void append_spm_escaped(std::string_view text, std::string& out) {
  for (char c : text) {
    if (c == ' ')
      out.append(kSpmSpace);
    else
      out.push_back(c);
  }
}

Status check_id(int32_t id, int32_t n_vocab, const char* what) {
  if (id < -1 || id >= n_vocab) {
    return Status::Error(std::string("tokenizer: ") + what + " = " + std::to_string(id) +
                         " is outside the vocabulary of " + std::to_string(n_vocab) + " tokens");
  }
  return Status::Ok();
}

}  // namespace

void TokenMatcher::add(std::string_view text, int32_t id) {
  if (text.empty()) return;
  by_text_[text] = id;
}

void TokenMatcher::finish() {
  for (auto& lengths : lengths_) lengths.clear();
  for (const auto& [s, id] : by_text_) {
    if (s.size() >= 2) {
      const uint32_t pair = static_cast<uint8_t>(s[0]) << 8 | static_cast<uint8_t>(s[1]);
      prefix2_[pair / 64] |= uint64_t{1} << (pair % 64);
    }
    if (s.size() >= 4) {
      const uint32_t h = hash4(reinterpret_cast<const uint8_t*>(s.data()));
      prefix4_[h / 64] |= uint64_t{1} << (h % 64);
    }
    auto& lengths = lengths_[static_cast<uint8_t>(s[0])];
    if (std::find(lengths.begin(), lengths.end(), s.size()) == lengths.end()) {
      lengths.push_back(static_cast<uint32_t>(s.size()));
    }
  }
  for (auto& lengths : lengths_) std::sort(lengths.rbegin(), lengths.rend());
}

void Tokenizer::Impl::build_lookup() {
  uint64_t size = 16;
  while (size < static_cast<uint64_t>(n_vocab) * 2) size *= 2;  // load factor <= 0.5
  lookup_slots.assign(size, 0);
  lookup_mask = size - 1;
  for (int32_t id = 0; id < n_vocab; ++id) {
    const std::string_view s = text(id);
    const uint64_t h = hash(s);
    const uint64_t slot = (h >> 32) << 32 | static_cast<uint64_t>(id + 1);
    for (uint64_t i = h & lookup_mask;; i = (i + 1) & lookup_mask) {
      const uint64_t old = lookup_slots[i];
      if (old == 0 ||
          ((old >> 32) == (h >> 32) && text(static_cast<int32_t>(old & 0xFFFFFFFFu) - 1) == s)) {
        lookup_slots[i] = slot;
        break;
      }
    }
  }
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

StatusOr<Tokenizer> Tokenizer::from_data(TokenizerData data) {
  auto impl = std::make_unique<Impl>();
  Impl& t = *impl;
  if (data.model == "gpt2") {
    t.kind = Impl::Kind::kByteLevelBpe;
  } else if (data.model == "llama") {
    t.kind = Impl::Kind::kSentencePiece;
  } else {
    return Status::Error("unsupported tokenizer model tokenizer.ggml.model = \"" + data.model +
                         "\" (kiln supports \"gpt2\" and \"llama\")");
  }
  const bool spm = t.kind == Impl::Kind::kSentencePiece;
  t.model = data.model;
  const size_t n = data.tokens.size();
  if (n == 0) return Status::Error("tokenizer: the vocabulary (tokenizer.ggml.tokens) is empty");
  if (n > static_cast<size_t>(INT32_MAX / 2))
    return Status::Error("tokenizer: vocabulary too large");
  t.n_vocab = static_cast<int32_t>(n);
  if (!data.token_types.empty() && data.token_types.size() != n) {
    return Status::Error("tokenizer: tokenizer.ggml.token_type has " +
                         std::to_string(data.token_types.size()) + " entries for " +
                         std::to_string(n) + " tokens");
  }
  if (spm && data.scores.size() != n) {
    return Status::Error("tokenizer: tokenizer.ggml.scores has " +
                         std::to_string(data.scores.size()) + " entries for " + std::to_string(n) +
                         " tokens");
  }
  for (auto [id, what] : {std::pair{data.bos_id, "tokenizer.ggml.bos_token_id"},
                          {data.eos_id, "tokenizer.ggml.eos_token_id"},
                          {data.eot_id, "tokenizer.ggml.eot_token_id"},
                          {data.unk_id, "tokenizer.ggml.unknown_token_id"},
                          {data.pad_id, "tokenizer.ggml.padding_token_id"}}) {
    KILN_RETURN_IF_ERROR(check_id(id, t.n_vocab, what));
  }
  if (!spm) {
    auto pre = pre_tokenizer_from_name(data.pre);
    if (!pre.ok()) return pre.status();
    t.pre = *pre;
    t.pre_name = data.pre.empty() ? "default" : data.pre;
    t.ignore_merges = t.pre == PreTokenizerKind::kLlama3;
  }

  t.types.resize(n, TokenType::kNormal);
  for (size_t i = 0; i < data.token_types.size(); ++i) {
    const int32_t v = data.token_types[i];
    if (v < 0 || v > 6) {
      return Status::Error("tokenizer: tokenizer.ggml.token_type[" + std::to_string(i) +
                           "] = " + std::to_string(v) + " is not a known token type (0..6)");
    }
    t.types[i] = static_cast<TokenType>(v);
  }
  t.scores = std::move(data.scores);

  // Pack texts and their bytes.
  size_t total = 0;
  for (const auto& s : data.tokens) total += s.size();
  if (total > UINT32_MAX / 2) return Status::Error("tokenizer: vocabulary text too large");
  t.text_arena.reserve(total);
  t.text_off.reserve(n + 1);
  t.bytes_arena.reserve(total);
  t.bytes_off.reserve(n + 1);
  t.byte_ids.fill(-1);
  for (size_t i = 0; i < n; ++i) {
    const std::string& s = data.tokens[i];
    t.text_off.push_back(static_cast<uint32_t>(t.text_arena.size()));
    t.text_arena += s;
    t.bytes_off.push_back(static_cast<uint32_t>(t.bytes_arena.size()));
    const TokenType type = t.types[i];
    if (is_control_like(type) || (type == TokenType::kUserDefined && !spm)) {
      t.bytes_arena += s;  // specials are stored as the raw text they stand for
    } else if (spm) {
      const int byte = parse_byte_token(s);
      if (type == TokenType::kByte && byte >= 0) {
        t.bytes_arena.push_back(static_cast<char>(byte));
        t.byte_ids[byte] = static_cast<int32_t>(i);
      } else {
        append_spm_bytes(s, t.bytes_arena);
      }
    } else {
      append_byte_level_bytes(s, t.bytes_arena);
    }
  }
  t.text_off.push_back(static_cast<uint32_t>(t.text_arena.size()));
  t.bytes_off.push_back(static_cast<uint32_t>(t.bytes_arena.size()));
  t.build_lookup();

  if (!spm) {
    for (int b = 0; b < 256; ++b) {
      std::string spelled;
      utf8_append(spelled, byte_to_unicode(static_cast<uint8_t>(b)));
      t.byte_ids[b] = t.find(spelled);
    }
    t.merges.reserve(data.merges.size());
    std::string joined;
    for (size_t rank = 0; rank < data.merges.size(); ++rank) {
      const std::string& m = data.merges[rank];
      // NOTE: split at the first space after the first character, as llama.cpp does, so a
      // left part that is itself a space-like code point still parses.
      const size_t space = m.find(' ', 1);
      if (space == std::string::npos) {
        return Status::Error("tokenizer: tokenizer.ggml.merges[" + std::to_string(rank) + "] = \"" +
                             m + "\" is not \"left right\"");
      }
      const std::string_view left = std::string_view(m).substr(0, space);
      const std::string_view right = std::string_view(m).substr(space + 1);
      const int32_t left_id = t.find(left);
      const int32_t right_id = t.find(right);
      joined.assign(left);
      joined.append(right);
      const int32_t merged_id = t.find(joined);
      if (left_id < 0 || right_id < 0 || merged_id < 0) {
        return Status::Error("tokenizer: tokenizer.ggml.merges[" + std::to_string(rank) + "] = \"" +
                             m + "\" names a token that is not in the vocabulary");
      }
      const uint64_t key = (static_cast<uint64_t>(left_id) << 32) | static_cast<uint32_t>(right_id);
      t.merges.emplace(key, Impl::Merge{static_cast<int32_t>(rank), merged_id});  // first rank wins
    }
  }

  // Tokens matched whole before BPE.
  std::vector<std::pair<size_t, int32_t>> user_defined;  // (arena offset, id), llama only
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    const TokenType type = t.types[i];
    if (is_control_like(type) || (type == TokenType::kUserDefined && !spm)) {
      t.raw_specials.add(t.text(id), id);
    } else if (type == TokenType::kUserDefined) {
      // NOTE: llama.cpp's converter writes user-defined pieces with real spaces (Gemma's
      // "  "); SentencePiece matches them in the escaped text, where they read "▁▁".
      user_defined.emplace_back(t.spm_user_defined_arena.size(), id);
      append_spm_escaped(t.text(id), t.spm_user_defined_arena);
    }
  }
  for (size_t k = 0; k < user_defined.size(); ++k) {
    const size_t begin = user_defined[k].first;
    const size_t end =
        k + 1 < user_defined.size() ? user_defined[k + 1].first : t.spm_user_defined_arena.size();
    t.spm_user_defined.add(std::string_view(t.spm_user_defined_arena).substr(begin, end - begin),
                           user_defined[k].second);
  }
  t.raw_specials.finish();
  t.spm_user_defined.finish();

  t.bos_id = data.bos_id;
  t.eos_id = data.eos_id;
  t.eot_id = data.eot_id;
  t.unk_id = data.unk_id;
  t.pad_id = data.pad_id;
  t.add_bos = data.add_bos.value_or(spm);
  t.add_eos = data.add_eos.value_or(false);
  t.add_space_prefix = spm && data.add_space_prefix.value_or(true);

  t.end_of_generation.assign(n, 0);
  if (t.eos_id >= 0) t.end_of_generation[t.eos_id] = 1;
  if (t.eot_id >= 0) t.end_of_generation[t.eot_id] = 1;
  for (std::string_view s : kEndOfTurnTexts) {
    const int32_t id = t.raw_specials.find(s);
    if (id >= 0 && t.types[id] == TokenType::kControl) t.end_of_generation[id] = 1;
  }
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const Impl& t = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && t.add_bos && t.bos_id >= 0) out.push_back(t.bos_id);
  // Split the text at special tokens: at each position the longest one that matches wins
  // (leftmost-longest, as Hugging Face's added-token matcher does).
  size_t raw_begin = 0;
  bool after_special = true;
  auto accept = [&](int32_t id) { return parse_special || !is_control_like(t.types[id]); };
  // NOTE: a SentencePiece vocabulary's raw specials are all control tokens, so without
  // parse_special there is nothing to look for.
  const bool scan =
      !t.raw_specials.empty() && (parse_special || t.kind == Impl::Kind::kByteLevelBpe);
  for (size_t i = 0; scan && i < text.size();) {
    const auto [match, match_len] = t.raw_specials.match(text, i, accept);
    if (match < 0) {
      ++i;
      continue;
    }
    if (i > raw_begin) t.encode_text(text.substr(raw_begin, i - raw_begin), after_special, out);
    out.push_back(match);
    after_special = true;
    i += match_len;
    raw_begin = i;
  }
  if (raw_begin < text.size()) t.encode_text(text.substr(raw_begin), after_special, out);
  if (add_special && t.add_eos && t.eos_id >= 0) out.push_back(t.eos_id);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  const Impl& t = *impl_;
  std::string bytes;
  bool first = true;
  for (int32_t id : ids) {
    if (id < 0 || id >= t.n_vocab) continue;
    if (skip_special && is_control_like(t.types[id])) continue;
    std::string_view piece = t.bytes(id);
    // NOTE: like Hugging Face's Metaspace decoder, only the very first token loses the
    // space that add_space_prefix put before the text.
    if (first && t.add_space_prefix && t.types[id] == TokenType::kNormal && !piece.empty() &&
        piece[0] == ' ') {
      piece.remove_prefix(1);
    }
    first = false;
    bytes.append(piece);
  }
  return utf8_sanitize(bytes);
}

std::string_view Tokenizer::token_text(int32_t id) const {
  return id >= 0 && id < impl_->n_vocab ? impl_->text(id) : std::string_view();
}
std::string_view Tokenizer::token_bytes(int32_t id) const {
  return id >= 0 && id < impl_->n_vocab ? impl_->bytes(id) : std::string_view();
}
TokenType Tokenizer::token_type(int32_t id) const {
  return id >= 0 && id < impl_->n_vocab ? impl_->types[id] : TokenType::kUndefined;
}
int32_t Tokenizer::token_id(std::string_view text) const { return impl_->find(text); }
int32_t Tokenizer::vocab_size() const { return impl_->n_vocab; }
int32_t Tokenizer::bos_id() const { return impl_->bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->eos_id; }
int32_t Tokenizer::eot_id() const { return impl_->eot_id; }
int32_t Tokenizer::unk_id() const { return impl_->unk_id; }
int32_t Tokenizer::pad_id() const { return impl_->pad_id; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
bool Tokenizer::add_space_prefix() const { return impl_->add_space_prefix; }
const std::string& Tokenizer::model() const { return impl_->model; }
std::string_view Tokenizer::pre() const { return impl_->pre_name; }

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < impl_->n_vocab && is_control_like(impl_->types[id]);
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
  return id >= 0 && id < impl_->n_vocab && impl_->end_of_generation[id] != 0;
}

}  // namespace kiln
