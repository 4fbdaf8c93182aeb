// The tokenizers (tokenizer/) on arbitrary input: encode arbitrary bytes, decode arbitrary
// token ids, and decode them incrementally. Properties beyond "no crash":
//   - byte-level BPE is lossless: decode(encode(text)) == text for any valid UTF-8 whose
//     every byte the vocabulary can spell (encoding without parsing specials; a byte without
//     a token is dropped, as Hugging Face's BPE does: SmolLM2's vocabulary has no 0x04);
//   - IncrementalDecoder's pushes and flush concatenate to Tokenizer::decode of the same ids;
//   - decode always gives valid UTF-8.
// Vocabularies: tiny ones built here (byte-level BPE with merges, under each pre-tokenizer,
// and a SentencePiece-style one with byte fallback), plus the GGUF files named in
// $KILN_FUZZ_TOKENIZER_GGUFS (colon-separated; scripts/fuzz.sh passes the test models when
// they are on disk) for real vocabularies and merges.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "gguf/reader.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

using kiln::Tokenizer;
using kiln::TokenizerData;

std::string byte_level(std::string_view s) {
  std::string out;
  for (unsigned char c : s) kiln::utf8_append(out, kiln::byte_to_unicode(c));
  return out;
}

void add(TokenizerData& d, const std::string& text, int32_t type = 1, float score = 0) {
  d.tokens.push_back(text);
  d.token_types.push_back(type);
  if (d.model == "llama") d.scores.push_back(score);
}

Tokenizer must(kiln::StatusOr<Tokenizer> t) {
  if (!t.ok()) kiln::fuzz::fail("building a fuzz vocabulary: " + t.message());
  return std::move(t).value();
}

// Byte-level BPE: the 256 byte tokens, merges building a few English and multi-byte pieces,
// ChatML's control tokens and a user-defined token.
Tokenizer make_bpe(const char* pre) {
  TokenizerData d;
  d.model = "gpt2";
  d.pre = pre;
  for (int b = 0; b < 256; ++b) add(d, byte_level(std::string(1, (char)b)));
  const std::pair<const char*, const char*> merges[] = {
      {" ", "t"}, {"h", "e"}, {" t", "he"}, {"i", "n"}, {" ", "a"}, {"e", "r"}, {"\n", "\n"},
      {" ", " "}, {"  ", "  "}, {"\xC3", "\xA9"}, {"\xE2\x96", "\x81"}, {"\xE2", "\x96"},
      {"1", "2"}, {"12", "3"}, {"o", "n"}, {" the", "n"}};
  for (const auto& [l, r] : merges) {
    d.merges.push_back(byte_level(l) + " " + byte_level(r));
    add(d, byte_level(std::string(l) + r));
  }
  add(d, "<|im_start|>", 3);
  add(d, "<|im_end|>", 3);
  add(d, "<tool_call>", 4);
  d.bos_id = (int32_t)d.tokens.size() - 3;
  d.eos_id = (int32_t)d.tokens.size() - 2;
  return must(Tokenizer::from_data(std::move(d)));
}

// SentencePiece-style: <unk>, <s>, </s>, the 256 <0xXX> byte tokens, then scored pieces.
Tokenizer make_spm(bool add_space_prefix) {
  TokenizerData d;
  d.model = "llama";
  d.add_space_prefix = add_space_prefix;
  add(d, "<unk>", 2);
  add(d, "<s>", 3);
  add(d, "</s>", 3);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    add(d, name, 6);
  }
  const char* pieces[] = {"\xE2\x96\x81", "h",  "e",  "l",  "o",  "\xE2\x96\x81h", "he",
                          "ll",           "lo", "\xE2\x96\x81hello", "\xC3\xA9", "\xE2\x96\x81\xE2\x96\x81",
                          "<start_of_turn>"};
  float score = -1;
  for (const char* p : pieces) add(d, p, std::strcmp(p, "<start_of_turn>") == 0 ? 3 : 1, score--);
  d.unk_id = 0;
  d.bos_id = 1;
  d.eos_id = 2;
  return must(Tokenizer::from_data(std::move(d)));
}

struct Vocabularies {
  std::vector<std::unique_ptr<Tokenizer>> all;
  std::vector<bool> lossless;  // byte-level BPE: a round trip is promised
  std::vector<std::vector<bool>> spellable;  // per byte: the vocabulary has its token

  void add(std::unique_ptr<Tokenizer> t, bool is_byte_level) {
    std::vector<bool> bytes(256);
    for (int b = 0; b < 256; ++b)
      bytes[b] = is_byte_level && t->token_id(byte_level(std::string(1, (char)b))) >= 0;
    all.push_back(std::move(t));
    lossless.push_back(is_byte_level);
    spellable.push_back(std::move(bytes));
  }
};

const Vocabularies& vocabularies() {
  static const Vocabularies* v = [] {
    auto* out = new Vocabularies;
    for (const char* pre : {"gpt2", "smollm", "llama3", "qwen2"})
      out->add(std::make_unique<Tokenizer>(make_bpe(pre)), true);
    for (bool prefix : {true, false}) out->add(std::make_unique<Tokenizer>(make_spm(prefix)), false);
    if (const char* paths = std::getenv("KILN_FUZZ_TOKENIZER_GGUFS")) {
      std::string list = paths;
      for (size_t at = 0; at <= list.size();) {
        size_t end = list.find(':', at);
        if (end == std::string::npos) end = list.size();
        const std::string path = list.substr(at, end - at);
        at = end + 1;
        if (path.empty()) continue;
        auto file = kiln::gguf::File::open(path);
        if (!file.ok()) kiln::fuzz::fail(file.message());
        auto t = Tokenizer::from_gguf(file.value());
        if (!t.ok()) kiln::fuzz::fail(t.message());
        std::fprintf(stderr, "tokenizer_fuzz: also using %s (%s)\n", path.c_str(),
                     t.value().model().c_str());
        const bool is_byte_level = t.value().model() == "gpt2";
        out->add(std::make_unique<Tokenizer>(std::move(t).value()), is_byte_level);
      }
    }
    return out;
  }();
  return *v;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < n; ++k) {
      const unsigned char cc = s[i + k];
      if ((cc >> 6) != 2) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

void check_decode(const Tokenizer& t, const std::vector<int32_t>& ids, bool skip_special) {
  const std::string whole = t.decode(ids, skip_special);
  kiln::fuzz::check(valid_utf8(whole), "decode gave invalid UTF-8");
  kiln::IncrementalDecoder dec(t, skip_special);
  std::string pieces;
  for (int32_t id : ids) pieces += dec.push(id);
  pieces += dec.flush();
  kiln::fuzz::check(pieces == whole, "incremental decode '" + pieces + "' != decode '" + whole + "'");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzz::Input in(data, size);
  const uint8_t mode = in.byte();
  const Vocabularies& v = vocabularies();
  const size_t which = (mode >> 2) % v.all.size();
  const Tokenizer& t = *v.all[which];
  const std::string_view rest = in.rest();
  if ((mode & 3) != 3) {
    // Encode the bytes, then decode what came out.
    const bool parse_special = mode & 1, add_special = mode & 2;
    const std::vector<int32_t> ids = t.encode(rest, add_special, parse_special);
    for (int32_t id : ids)
      kiln::fuzz::check(id >= 0 && id < t.vocab_size(), "encode gave id " + std::to_string(id));
    bool spellable = v.lossless[which];
    for (unsigned char c : rest) spellable = spellable && v.spellable[which][c];
    if (spellable && !parse_special && !add_special && valid_utf8(rest))
      kiln::fuzz::check(t.decode(ids) == rest, "byte-level BPE did not round-trip");
    check_decode(t, ids, false);
    check_decode(t, ids, true);
  } else {
    // Arbitrary ids (little-endian 16-bit, so most land inside a small vocabulary; the top
    // values go past the end and below zero).
    std::vector<int32_t> ids;
    for (size_t i = 0; i + 1 < rest.size(); i += 2) {
      const int32_t raw = (uint8_t)rest[i] | ((uint8_t)rest[i + 1] << 8);
      ids.push_back(raw >= 0xFF00 ? raw - 0x10000 : raw % (t.vocab_size() + 8));
    }
    check_decode(t, ids, false);
    check_decode(t, ids, true);
  }
  return 0;
}
