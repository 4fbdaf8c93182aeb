// kiln's tokenizers, built from a model's vocabulary metadata (GGUF tokenizer.ggml.*):
//   - "gpt2": byte-level BPE with ranked merges and a named pre-tokenizer (pre_tokenizer.h);
//   - "llama": SentencePiece-style BPE driven by token scores, with "▁" for spaces and
//     <0xXX> byte fallback.
// Control tokens (<|im_start|>, <end_of_turn>, ...) written in the text become their ids only
// when encode() is asked to parse specials; user-defined tokens are always matched whole, as
// Hugging Face tokenizers and SentencePiece do.
//
// A Tokenizer is immutable after construction, so any number of threads may use one at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace kiln {

namespace gguf {
class File;
}

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything a Tokenizer is made from. from_gguf fills one from the metadata; tests build
// one by hand.
struct TokenizerData {
  std::string model;                 // "gpt2" or "llama"
  std::string pre;                   // gpt2 only: tokenizer.ggml.pre; empty = "default"
  std::vector<std::string> tokens;   // token texts: byte-level spelling for gpt2's normal
                                     // tokens, "▁" for spaces in llama's; raw for specials
  std::vector<float> scores;         // llama: one per token (merge priority, higher first)
  std::vector<int32_t> token_types;  // TokenType per token; empty = all normal
  std::vector<std::string> merges;   // gpt2: "left right", rank = index
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t eot_id = -1;
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  // Unset: the model kind's default (add_bos: llama yes, gpt2 no; add_eos: no;
  // add_space_prefix: llama yes, gpt2 no).
  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
  std::optional<bool> add_space_prefix;
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* from the file; errors name the missing or malformed key.
  static StatusOr<Tokenizer> from_gguf(const gguf::File& file);
  static StatusOr<TokenizerData> data_from_gguf(const gguf::File& file);
  // Validates `data` (sizes, ids in range, merges naming known tokens, a known pre).
  static StatusOr<Tokenizer> from_data(TokenizerData data);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  ~Tokenizer();

  // add_special: prepend BOS / append EOS as add_bos() / add_eos() say.
  // parse_special: control tokens written in `text` become their ids; otherwise they are
  // tokenized as plain text. Bytes that are not valid UTF-8 are kept as bytes.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The text of `ids` as valid UTF-8 (ill-formed byte sequences become U+FFFD). skip_special
  // drops control and unknown tokens. For llama vocabularies with add_space_prefix, the
  // space that encoding added before the first word is removed again.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The vocabulary entry as stored (e.g. "Ġhello", "▁hello", "<0x0A>"); empty if out of range.
  std::string_view token_text(int32_t id) const;
  // The bytes the token stands for ("Ġhello" -> " hello", "<0x0A>" -> "\n"); may be part of
  // a UTF-8 character. Empty if out of range.
  std::string_view token_bytes(int32_t id) const;
  TokenType token_type(int32_t id) const;  // kUndefined if out of range
  // The id of the vocabulary entry spelled exactly `text`, or -1.
  int32_t token_id(std::string_view text) const;

  int32_t vocab_size() const;
  int32_t bos_id() const;  // -1 if none
  int32_t eos_id() const;
  int32_t eot_id() const;
  int32_t unk_id() const;
  int32_t pad_id() const;
  bool add_bos() const;
  bool add_eos() const;
  bool add_space_prefix() const;
  const std::string& model() const;  // "gpt2" or "llama"
  std::string_view pre() const;      // pre-tokenizer name (gpt2 only)

  // Control or unknown: what decode(skip_special=true) drops.
  bool is_special(int32_t id) const;
  // EOS, EOT, and control tokens that end a turn in the common chat formats
  // (<|im_end|>, <|endoftext|>, <end_of_turn>, <|eot_id|>, ...).
  bool is_end_of_generation(int32_t id) const;

  struct Impl;  // defined in tokenizer_impl.h, shared by the encoders

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Streaming detokenization: fed one token id at a time, emits only complete UTF-8 text. A
// character split across tokens (byte-fallback <0xXX> tokens, byte-level BPE pieces) is held
// back until its last byte arrives; a sequence that can never become valid is emitted as
// U+FFFD as soon as that is certain, and flush() turns a cut-off tail into U+FFFD.
// The concatenation of all push() results and flush() equals Tokenizer::decode of the same
// ids. One decoder per sequence; not thread-safe; the Tokenizer must outlive it.
class IncrementalDecoder {
 public:
  // skip_special: drop control and unknown tokens, as decode(ids, true) does.
  explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special = false);

  // The text that `id` completes (possibly empty).
  std::string push(int32_t id);
  // Whatever is still held back, as U+FFFD; then the decoder starts afresh.
  std::string flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  bool first_ = true;    // no token has produced output yet (for the prefix-space strip)
  std::string pending_;  // bytes of an incomplete character, at most 3
};

}  // namespace kiln
