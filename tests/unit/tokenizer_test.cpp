// Tokenizers on tiny hand-built vocabularies (tests/reference/test_tokenizer.py checks the
// real ones against reference tokenizers): byte-level BPE and its pre-tokenizers,
// SentencePiece BPE with byte fallback, special tokens, decoding and IncrementalDecoder.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode.h"

namespace kiln {
namespace {

using Ids = std::vector<int32_t>;

std::string byte_level(std::string_view raw) {
  std::string out;
  for (char c : raw) utf8_append(out, byte_to_unicode(static_cast<uint8_t>(c)));
  return out;
}

// A byte-level vocabulary: the 256 byte tokens (id = byte value), then merged tokens and
// specials appended by the tests.
TokenizerData byte_level_data() {
  TokenizerData d;
  d.model = "gpt2";
  d.pre = "gpt2";
  for (int b = 0; b < 256; ++b)
    d.tokens.push_back(byte_level(std::string(1, static_cast<char>(b))));
  d.token_types.assign(256, 1);
  return d;
}

int32_t add_token(TokenizerData& d, const std::string& text, int32_t type = 1, float score = 0) {
  d.tokens.push_back(text);
  if (!d.token_types.empty() || type != 1) {
    d.token_types.resize(d.tokens.size() - 1, 1);
    d.token_types.push_back(type);
  }
  if (!d.scores.empty() || d.model == "llama") {
    d.scores.resize(d.tokens.size() - 1, 0);
    d.scores.push_back(score);
  }
  return static_cast<int32_t>(d.tokens.size() - 1);
}

// Adds the merge "left right" (in byte-level spelling) and the merged token.
int32_t add_merge(TokenizerData& d, const std::string& left, const std::string& right) {
  d.merges.push_back(byte_level(left) + " " + byte_level(right));
  return add_token(d, byte_level(left + right));
}

Tokenizer make(TokenizerData d) {
  auto t = Tokenizer::from_data(std::move(d));
  EXPECT_TRUE(t.ok()) << t.message();
  return std::move(t).value();
}

std::vector<std::string> words(PreTokenizerKind kind, std::string_view text) {
  PreTokenizerScratch scratch;
  std::vector<WordSpan> spans;
  pre_tokenize(kind, text, scratch, spans);
  std::vector<std::string> out;
  size_t expected_begin = 0;
  for (const WordSpan& w : spans) {
    EXPECT_EQ(w.begin, expected_begin) << "spans must tile the text";
    expected_begin = w.end;
    out.emplace_back(text.substr(w.begin, w.end - w.begin));
  }
  EXPECT_EQ(expected_begin, text.size());
  return out;
}

using Words = std::vector<std::string>;

// ---------------------------------------------------------------- unicode

TEST(Unicode, Categories) {
  EXPECT_EQ(unicode_category('A'), UnicodeCategory::kLu);
  EXPECT_EQ(unicode_category('z'), UnicodeCategory::kLl);
  EXPECT_EQ(unicode_category('7'), UnicodeCategory::kNd);
  EXPECT_EQ(unicode_category(0x4E2D), UnicodeCategory::kLo);   // 中
  EXPECT_EQ(unicode_category(0x0301), UnicodeCategory::kMn);   // combining acute
  EXPECT_EQ(unicode_category(0x00BD), UnicodeCategory::kNo);   // ½
  EXPECT_EQ(unicode_category(0x2160), UnicodeCategory::kNl);   // Ⅰ
  EXPECT_EQ(unicode_category(0x1F600), UnicodeCategory::kSo);  // 😀
  EXPECT_EQ(unicode_category(0xE000), UnicodeCategory::kCo);
  EXPECT_EQ(unicode_category(0x10FFFF), UnicodeCategory::kCn);
  EXPECT_EQ(unicode_category(0x110000), UnicodeCategory::kCn);
  EXPECT_EQ(unicode_flags(0x0661), kCharNumber);  // Arabic-Indic one
  // \s as Oniguruma has it: includes NBSP, NEL, ideographic space; not U+001C or ZWSP.
  for (uint32_t cp : {0x09u, 0x0Bu, 0x20u, 0x85u, 0xA0u, 0x2003u, 0x2028u, 0x3000u}) {
    EXPECT_EQ(unicode_flags(cp), kCharWhitespace) << cp;
  }
  EXPECT_EQ(unicode_flags(0x1C), 0);
  EXPECT_EQ(unicode_flags(0x200B), 0);
}

TEST(Unicode, Utf8DecodeMaximalSubparts) {
  auto dec = [](std::string_view s) {
    return utf8_decode(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(dec("\xE2\x82\xAC").cp, 0x20ACu);
  EXPECT_EQ(dec("\xE2\x82\xAC").length, 3u);
  EXPECT_EQ(dec("\xF0\x9F\x98\x80").cp, 0x1F600u);
  EXPECT_EQ(dec("\xE2\x82").status, Utf8Status::kIncomplete);
  EXPECT_EQ(dec("\xE2\x82").length, 2u);
  EXPECT_EQ(dec("\xE2\x82x").status, Utf8Status::kInvalid);
  EXPECT_EQ(dec("\xE2\x82x").length, 2u);
  EXPECT_EQ(dec("\xE0\x80\x80").length, 1u);      // overlong: E0 needs A0..BF next
  EXPECT_EQ(dec("\xED\xA0\x80").length, 1u);      // surrogate
  EXPECT_EQ(dec("\xF4\x90\x80\x80").length, 1u);  // above U+10FFFF
  EXPECT_EQ(dec("\xC0\xAF").length, 1u);
  EXPECT_EQ(dec("\x80").status, Utf8Status::kInvalid);
  EXPECT_EQ(utf8_sanitize("a\xC3(b\xF0\x9F\x98"), "a\xEF\xBF\xBD(b\xEF\xBF\xBD");
  EXPECT_EQ(utf8_sanitize("\xE0\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8_incomplete_tail("ab\xF0\x9F\x98"), 3u);
  EXPECT_EQ(utf8_incomplete_tail("ab\xC3\xA9"), 0u);
  EXPECT_EQ(utf8_incomplete_tail("ab\xC3"), 1u);
}

TEST(Unicode, ByteLevelAlphabetIsABijection) {
  EXPECT_EQ(byte_to_unicode(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(byte_to_unicode('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(byte_to_unicode('A'), static_cast<uint32_t>('A'));
  for (int b = 0; b < 256; ++b)
    EXPECT_EQ(unicode_to_byte(byte_to_unicode(static_cast<uint8_t>(b))), b);
  EXPECT_EQ(unicode_to_byte(0x4E2D), -1);
}

// ---------------------------------------------------------------- pre-tokenizers
// Expected splits were produced by Hugging Face tokenizers (Oniguruma) on the same text.

TEST(PreTokenizer, Gpt2) {
  const auto k = PreTokenizerKind::kGpt2;
  EXPECT_EQ(words(k, "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(words(k, "it's 'S"), (Words{"it", "'s", " '", "S"}));
  EXPECT_EQ(words(k, "a  \n  b"), (Words{"a", "  \n ", " b"}));
  EXPECT_EQ(words(k, "a  1"), (Words{"a", " ", " 1"}));
  EXPECT_EQ(words(k,
                  "x\xE3\x80\x80\xE3\x80\x80"
                  "b"),
            (Words{"x", "\xE3\x80\x80", "\xE3\x80\x80", "b"}));
  EXPECT_EQ(words(k,
                  "x\x1c\x1c"
                  "b"),
            (Words{"x", "\x1c\x1c", "b"}));
  EXPECT_EQ(words(k, "12345 abc!!  "), (Words{"12345", " abc", "!!", "  "}));
  EXPECT_EQ(words(k, ""), Words{});
}

TEST(PreTokenizer, SmolLmSplitsDigitsFirst) {
  const auto k = PreTokenizerKind::kSmolLm;
  EXPECT_EQ(words(k, "a  12 x\xD9\xA3"), (Words{"a", "  ", "1", "2", " x", "\xD9\xA3"}));
  EXPECT_EQ(words(k, "year 2024!"), (Words{"year", " ", "2", "0", "2", "4", "!"}));
}

TEST(PreTokenizer, Llama3) {
  const auto k = PreTokenizerKind::kLlama3;
  EXPECT_EQ(words(k, "12345 ab"), (Words{"123", "45", " ab"}));
  EXPECT_EQ(words(k, "a \n \n  x"), (Words{"a", " \n \n", " ", " x"}));
  // (?i:...) contractions, with Oniguruma's case folding of U+017F (long s) to 's'.
  EXPECT_EQ(words(k, "x'\xC5\xBF 'S 'Re"), (Words{"x", "'\xC5\xBF", " '", "S", " '", "Re"}));
  EXPECT_EQ(words(k, "x'S x'RE"), (Words{"x", "'S", " x", "'RE"}));
  EXPECT_EQ(words(k, "\tfoo;\n\nbar"), (Words{"\tfoo", ";\n\n", "bar"}));
}

TEST(PreTokenizer, Qwen2SingleDigits) {
  EXPECT_EQ(words(PreTokenizerKind::kQwen2, "x 123"), (Words{"x", " ", "1", "2", "3"}));
}

TEST(PreTokenizer, Names) {
  EXPECT_EQ(pre_tokenizer_from_name("smollm").value(), PreTokenizerKind::kSmolLm);
  EXPECT_EQ(pre_tokenizer_from_name("llama-bpe").value(), PreTokenizerKind::kLlama3);
  EXPECT_EQ(pre_tokenizer_from_name("").value(), PreTokenizerKind::kGpt2);
  auto bad = pre_tokenizer_from_name("klingon");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("klingon"), std::string::npos);
}

// ---------------------------------------------------------------- byte-level BPE

struct ByteLevelFixture {
  TokenizerData d = byte_level_data();
  int32_t he, ll, hell, hello, sp_w, or_, sp_wor, ld, sp_world, im_start, im_end, think;
  ByteLevelFixture() {
    he = add_merge(d, "h", "e");
    ll = add_merge(d, "l", "l");
    hell = add_merge(d, "he", "ll");
    hello = add_merge(d, "hell", "o");
    sp_w = add_merge(d, " ", "w");
    or_ = add_merge(d, "o", "r");
    sp_wor = add_merge(d, " w", "or");
    ld = add_merge(d, "l", "d");
    sp_world = add_merge(d, " wor", "ld");
    im_start = add_token(d, "<|im_start|>", 3);
    im_end = add_token(d, "<|im_end|>", 3);
    think = add_token(d, "<think>", 4);
    d.bos_id = im_start;
    d.eos_id = im_end;
  }
};

TEST(ByteLevelBpe, MergesByRank) {
  ByteLevelFixture f;
  const Tokenizer t = make(std::move(f.d));
  EXPECT_EQ(t.encode("hello world", false, false), (Ids{f.hello, f.sp_world}));
  // "hellx": merges stop at "hell"; unmerged bytes stay byte tokens.
  EXPECT_EQ(t.encode("hellx", false, false), (Ids{f.hell, 'x'}));
  EXPECT_EQ(t.encode("", false, false), Ids{});
  EXPECT_EQ(t.decode(t.encode("hello world", false, false)), "hello world");
}

TEST(ByteLevelBpe, LeftmostWinsAmongEqualRanks) {
  TokenizerData d = byte_level_data();
  const int32_t aa = add_merge(d, "a", "a");
  const Tokenizer t = make(std::move(d));
  EXPECT_EQ(t.encode("aaa", false, false), (Ids{aa, 'a'}));
  EXPECT_EQ(t.encode("aaaa", false, false), (Ids{aa, aa}));
}

TEST(ByteLevelBpe, LowerRankFirst) {
  // "abc": with "b c" ranked before "a b" the result is a + bc; swapped, ab + c.
  for (bool bc_first : {true, false}) {
    TokenizerData d = byte_level_data();
    int32_t ab, bc;
    if (bc_first) {
      bc = add_merge(d, "b", "c");
      ab = add_merge(d, "a", "b");
    } else {
      ab = add_merge(d, "a", "b");
      bc = add_merge(d, "b", "c");
    }
    const Tokenizer t = make(std::move(d));
    EXPECT_EQ(t.encode("abc", false, false), bc_first ? (Ids{'a', bc}) : (Ids{ab, 'c'}));
  }
}

TEST(ByteLevelBpe, AnyBytesRoundTrip) {
  const Tokenizer t = make(byte_level_data());
  const std::string text = "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\xA4\x97\n\t\x01";
  const Ids ids = t.encode(text, false, false);
  EXPECT_EQ(ids.size(), text.size());  // no merges: one token per byte
  EXPECT_EQ(t.decode(ids), text);
  // Bytes that are not UTF-8 still encode, and decode to U+FFFD.
  EXPECT_EQ(t.encode("a\xFF", false, false), (Ids{'a', 0xFF}));
  EXPECT_EQ(t.decode(Ids{'a', 0xFF}), "a\xEF\xBF\xBD");
}

TEST(ByteLevelBpe, SpecialTokensOnlyWhenParsed) {
  ByteLevelFixture f;
  const Tokenizer t = make(std::move(f.d));
  const std::string text = "<|im_start|>hello<|im_end|>";
  EXPECT_EQ(t.encode(text, false, true), (Ids{f.im_start, f.hello, f.im_end}));
  const Ids plain = t.encode(text, false, false);
  for (int32_t id : plain) {
    EXPECT_NE(id, f.im_start);
    EXPECT_NE(id, f.im_end);
  }
  EXPECT_EQ(t.decode(plain), text);
  // User-defined tokens are matched whole either way.
  EXPECT_EQ(t.encode("<think>hello", false, false), (Ids{f.think, f.hello}));
  EXPECT_EQ(t.encode("<think>hello", false, true), (Ids{f.think, f.hello}));
  // Decoding: specials are kept unless skip_special.
  EXPECT_EQ(t.decode(Ids{f.im_start, f.hello}), "<|im_start|>hello");
  EXPECT_EQ(t.decode(Ids{f.im_start, f.hello}, /*skip_special=*/true), "hello");
}

TEST(ByteLevelBpe, AddSpecialAndEndOfGeneration) {
  ByteLevelFixture f;
  f.d.add_bos = true;
  f.d.add_eos = true;
  const int32_t eot = add_token(f.d, "<|eot_id|>", 3);
  const int32_t other = add_token(f.d, "<|other|>", 3);
  const Tokenizer t = make(std::move(f.d));
  EXPECT_EQ(t.encode("hello", true, false), (Ids{f.im_start, f.hello, f.im_end}));
  EXPECT_EQ(t.encode("hello", false, false), (Ids{f.hello}));
  EXPECT_TRUE(t.add_bos());
  EXPECT_EQ(t.bos_id(), f.im_start);
  EXPECT_EQ(t.eos_id(), f.im_end);
  EXPECT_TRUE(t.is_end_of_generation(f.im_end));
  EXPECT_TRUE(t.is_end_of_generation(eot));
  EXPECT_FALSE(t.is_end_of_generation(other));
  EXPECT_FALSE(t.is_end_of_generation(f.hello));
  EXPECT_FALSE(t.is_end_of_generation(-1));
  EXPECT_FALSE(t.is_end_of_generation(1 << 20));
}

TEST(ByteLevelBpe, DefaultFlags) {
  const Tokenizer t = make(byte_level_data());
  EXPECT_FALSE(t.add_bos());
  EXPECT_FALSE(t.add_eos());
  EXPECT_EQ(t.bos_id(), -1);
  EXPECT_EQ(t.vocab_size(), 256);
  EXPECT_EQ(t.token_text(' '), "\xC4\xA0");  // "Ġ"
  EXPECT_EQ(t.token_bytes(' '), " ");
  EXPECT_EQ(t.token_text(-1), "");
  EXPECT_EQ(t.token_id("\xC4\xA0"), ' ');
  EXPECT_EQ(t.token_id("nope"), -1);
}

TEST(ByteLevelBpe, IgnoreMergesForLlama3) {
  // "abc" is in the vocabulary but no merge builds it: Llama 3 (ignore_merges) emits it
  // whole; GPT-2 runs the merges.
  for (const char* pre : {"llama-bpe", "gpt2"}) {
    TokenizerData d = byte_level_data();
    d.pre = pre;
    const int32_t ab = add_merge(d, "a", "b");
    const int32_t abc = add_token(d, byte_level("abc"));
    const Tokenizer t = make(std::move(d));
    EXPECT_EQ(t.encode("abc", false, false),
              std::string(pre) == "gpt2" ? (Ids{ab, 'c'}) : (Ids{abc}));
  }
}

TEST(ByteLevelBpe, PreTokenizerBoundsMerges) {
  // Merges never cross words: " 1" stays two tokens under smollm (digits split first).
  TokenizerData d = byte_level_data();
  d.pre = "smollm";
  const int32_t sp1 = add_merge(d, " ", "1");
  Tokenizer smollm = make(d);
  EXPECT_EQ(smollm.encode("a 1", false, false), (Ids{'a', ' ', '1'}));
  d.pre = "gpt2";
  Tokenizer gpt2 = make(std::move(d));
  EXPECT_EQ(gpt2.encode("a 1", false, false), (Ids{'a', sp1}));
}

TEST(ByteLevelBpe, Errors) {
  {
    TokenizerData d = byte_level_data();
    d.pre = "klingon";
    auto t = Tokenizer::from_data(std::move(d));
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.message().find("tokenizer.ggml.pre"), std::string::npos);
    EXPECT_NE(t.message().find("klingon"), std::string::npos);
  }
  {
    TokenizerData d = byte_level_data();
    d.merges.push_back("x zz");
    auto t = Tokenizer::from_data(std::move(d));
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.message().find("tokenizer.ggml.merges[0]"), std::string::npos);
  }
  {
    TokenizerData d = byte_level_data();
    d.eos_id = 999;
    auto t = Tokenizer::from_data(std::move(d));
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.message().find("tokenizer.ggml.eos_token_id"), std::string::npos);
  }
  {
    TokenizerData d = byte_level_data();
    d.model = "bert";
    auto t = Tokenizer::from_data(std::move(d));
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.message().find("bert"), std::string::npos);
  }
  {
    TokenizerData d = byte_level_data();
    d.token_types.pop_back();
    EXPECT_FALSE(Tokenizer::from_data(std::move(d)).ok());
  }
}

// ---------------------------------------------------------------- SentencePiece BPE

// ▁ is U+2581, "\xE2\x96\x81".
#define SP "\xE2\x96\x81"

struct SpmFixture {
  TokenizerData d;
  int32_t unk, bos, eos, sp, h, e, l, o, w, r, dd, sp_h, he, ll, sp_he, sp_hell, sp_hello, sp_w,
      or_, sp_wor, sp_world, start_turn;
  SpmFixture() {
    d.model = "llama";
    unk = add_token(d, "<unk>", 2);
    bos = add_token(d, "<s>", 3);
    eos = add_token(d, "</s>", 3);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", b);
      add_token(d, name, 6);
    }
    // Scores: higher merges first.
    sp = add_token(d, SP, 1, -1);
    h = add_token(d, "h", 1, -2);
    e = add_token(d, "e", 1, -2);
    l = add_token(d, "l", 1, -2);
    o = add_token(d, "o", 1, -2);
    w = add_token(d, "w", 1, -2);
    r = add_token(d, "r", 1, -2);
    dd = add_token(d, "d", 1, -2);
    sp_h = add_token(d, SP "h", 1, -10);
    he = add_token(d, "he", 1, -5);
    ll = add_token(d, "ll", 1, -6);
    sp_he = add_token(d, SP "he", 1, -7);
    sp_hell = add_token(d, SP "hell", 1, -8);
    sp_hello = add_token(d, SP "hello", 1, -9);
    sp_w = add_token(d, SP "w", 1, -11);
    or_ = add_token(d, "or", 1, -12);
    sp_wor = add_token(d, SP "wor", 1, -13);
    sp_world = add_token(d, SP "world", 1, -14);
    add_token(d, "ld", 1, -15);
    start_turn = add_token(d, "<start_of_turn>", 3);
    d.unk_id = unk;
    d.bos_id = bos;
    d.eos_id = eos;
  }
  int32_t byte(int b) const { return 3 + b; }
};

TEST(SentencePiece, MergesByScoreWithSpacePrefix) {
  SpmFixture f;
  const Tokenizer t = make(std::move(f.d));
  EXPECT_TRUE(t.add_bos());  // llama default
  EXPECT_TRUE(t.add_space_prefix());
  EXPECT_EQ(t.encode("hello world", false, false), (Ids{f.sp_hello, f.sp_world}));
  EXPECT_EQ(t.encode("hello world", true, false), (Ids{f.bos, f.sp_hello, f.sp_world}));
  EXPECT_EQ(t.decode(Ids{f.bos, f.sp_hello, f.sp_world}, true), "hello world");
  EXPECT_EQ(t.decode(Ids{f.sp_hello, f.sp_world}), "hello world");
  // Only the first token loses its space.
  EXPECT_EQ(t.decode(Ids{f.sp_world, f.sp_world}), "world world");
  EXPECT_EQ(t.encode("", false, false), Ids{});
}

TEST(SentencePiece, NoSpacePrefixWhenDisabled) {
  SpmFixture f;
  f.d.add_space_prefix = false;
  f.d.add_bos = false;
  const Tokenizer t = make(std::move(f.d));
  EXPECT_EQ(t.encode("hello world", true, false), (Ids{f.he, f.ll, f.o, f.sp_world}));
  EXPECT_EQ(t.decode(Ids{f.sp_world}), " world");
}

TEST(SentencePiece, HigherScoreFirstAndLeftmostOnTies) {
  for (bool bc_higher : {true, false}) {
    TokenizerData d;
    d.model = "llama";
    d.add_space_prefix = false;
    const int32_t a = add_token(d, "a");
    const int32_t c = add_token(d, "c");
    add_token(d, "b");
    const int32_t ab = add_token(d, "ab", 1, bc_higher ? -2.f : -1.f);
    const int32_t bc = add_token(d, "bc", 1, bc_higher ? -1.f : -2.f);
    const Tokenizer t = make(std::move(d));
    EXPECT_EQ(t.encode("abc", false, false), bc_higher ? (Ids{a, bc}) : (Ids{ab, c}));
  }
  TokenizerData d;
  d.model = "llama";
  d.add_space_prefix = false;
  const int32_t a = add_token(d, "a");
  const int32_t aa = add_token(d, "aa", 1, -1);
  const Tokenizer t = make(std::move(d));
  EXPECT_EQ(t.encode("aaa", false, false), (Ids{aa, a}));
}

TEST(SentencePiece, ByteFallback) {
  SpmFixture f;
  const Tokenizer t = make(std::move(f.d));
  // "é" is not in the vocabulary: its UTF-8 bytes C3 A9 become <0xC3><0xA9>.
  EXPECT_EQ(t.encode("h\xC3\xA9", false, false), (Ids{f.sp_h, f.byte(0xC3), f.byte(0xA9)}));
  EXPECT_EQ(t.decode(Ids{f.sp_h, f.byte(0xC3), f.byte(0xA9)}), "h\xC3\xA9");
  EXPECT_EQ(t.token_bytes(f.byte(0x0A)), "\n");
  EXPECT_EQ(t.token_text(f.byte(0x0A)), "<0x0A>");
  // Without byte tokens, an unknown character becomes <unk>.
  TokenizerData d;
  d.model = "llama";
  d.add_space_prefix = false;
  const int32_t unk = add_token(d, "<unk>", 2);
  const int32_t x = add_token(d, "x");
  d.unk_id = unk;
  const Tokenizer no_bytes = make(std::move(d));
  EXPECT_EQ(no_bytes.encode("x\xC3\xA9x", false, false), (Ids{x, unk, x}));
}

TEST(SentencePiece, SpecialTokens) {
  SpmFixture f;
  const Tokenizer t = make(std::move(f.d));
  // Parsed: the control token, and the text after it gets the space prefix again.
  EXPECT_EQ(t.encode("<start_of_turn>hello", false, true), (Ids{f.start_turn, f.sp_hello}));
  // Not parsed: never the control token (merging cannot produce control tokens either).
  const Ids plain = t.encode("<start_of_turn>hello", false, false);
  for (int32_t id : plain) EXPECT_NE(id, f.start_turn);
  EXPECT_EQ(t.decode(plain), "<start_of_turn>hello");
  EXPECT_TRUE(t.is_end_of_generation(f.eos));
  EXPECT_FALSE(t.is_end_of_generation(f.start_turn));
  EXPECT_TRUE(t.is_special(f.bos));
  EXPECT_TRUE(t.is_special(f.unk));
  EXPECT_FALSE(t.is_special(f.sp_hello));
}

TEST(SentencePiece, UserDefinedTokensAreMatchedWholeInRawText) {
  // As in Gemma: whitespace runs and HTML tags are user-defined, spelled with raw spaces.
  TokenizerData d;
  d.model = "llama";
  d.add_space_prefix = false;
  const int32_t x = add_token(d, "x");
  const int32_t two = add_token(d, "  ", 4);
  const int32_t three = add_token(d, "   ", 4);
  const int32_t td = add_token(d, "<td>", 4);
  const int32_t sp = add_token(d, SP);
  const Tokenizer t = make(std::move(d));
  EXPECT_EQ(t.encode("x     x", false, false), (Ids{x, three, two, x}));
  EXPECT_EQ(t.encode("x x", false, false), (Ids{x, sp, x}));
  EXPECT_EQ(t.encode("<td>x", false, false), (Ids{td, x}));
  EXPECT_EQ(t.decode(Ids{x, three, td}), "x   <td>");
}

TEST(SentencePiece, UserDefinedPiecesMatchAfterEscapingAndPrefix) {
  // SentencePiece matches user-defined pieces in the escaped text, dummy prefix included:
  // " hello" reads "▁▁hello", whose "▁▁" is the user-defined piece; and text starting with
  // a user-defined piece still gets the prefix, as a symbol of its own.
  SpmFixture f;
  f.d.add_bos = false;
  const int32_t two_spaces = add_token(f.d, "  ", 4);
  const int32_t newlines = add_token(f.d, "\n\n", 4);
  const Tokenizer t = make(std::move(f.d));
  EXPECT_EQ(t.encode(" hello", true, false), (Ids{two_spaces, f.he, f.ll, f.o}));
  EXPECT_EQ(t.encode("\n\nhello", true, false), (Ids{f.sp, newlines, f.he, f.ll, f.o}));
  EXPECT_EQ(t.encode("hello\n\nhello", true, false), (Ids{f.sp_hello, newlines, f.he, f.ll, f.o}));
  EXPECT_EQ(t.decode(Ids{f.sp_hello, two_spaces, newlines}), "hello  \n\n");
}

TEST(SentencePiece, Errors) {
  SpmFixture f;
  f.d.scores.pop_back();
  auto t = Tokenizer::from_data(std::move(f.d));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("tokenizer.ggml.scores"), std::string::npos);
}

// ---------------------------------------------------------------- IncrementalDecoder

std::string stream(const Tokenizer& t, const Ids& ids, std::vector<std::string>* pieces = nullptr) {
  IncrementalDecoder dec(t);
  std::string out;
  for (int32_t id : ids) {
    std::string s = dec.push(id);
    if (pieces) pieces->push_back(s);
    out += s;
  }
  std::string tail = dec.flush();
  if (pieces) pieces->push_back(tail);
  return out + tail;
}

TEST(IncrementalDecoder, HoldsBackSplitCharacters) {
  SpmFixture f;
  const Tokenizer t = make(std::move(f.d));
  // "é" as two byte tokens, then "😀" (F0 9F 98 80) as four.
  const Ids ids = {f.sp_h,       f.byte(0xC3), f.byte(0xA9), f.byte(0xF0),
                   f.byte(0x9F), f.byte(0x98), f.byte(0x80), f.sp_world};
  std::vector<std::string> pieces;
  EXPECT_EQ(stream(t, ids, &pieces), "h\xC3\xA9\xF0\x9F\x98\x80 world");
  EXPECT_EQ(pieces, (std::vector<std::string>{"h", "", "\xC3\xA9", "", "", "", "\xF0\x9F\x98\x80",
                                              " world", ""}));
  EXPECT_EQ(stream(t, ids), t.decode(ids));
}

TEST(IncrementalDecoder, ByteLevelPieces) {
  const Tokenizer t = make(byte_level_data());
  const std::string text = "\xE6\x97\xA5\xE6\x9C\xAC!";  // 日本!
  const Ids ids = t.encode(text, false, false);
  std::vector<std::string> pieces;
  EXPECT_EQ(stream(t, ids, &pieces), text);
  EXPECT_EQ(pieces,
            (std::vector<std::string>{"", "", "\xE6\x97\xA5", "", "", "\xE6\x9C\xAC", "!", ""}));
}

TEST(IncrementalDecoder, InvalidSequencesBecomeReplacementCharacters) {
  SpmFixture f;
  const Tokenizer t = make(std::move(f.d));
  IncrementalDecoder dec(t);
  EXPECT_EQ(dec.push(f.byte(0xFF)), "\xEF\xBF\xBD");  // never valid: replaced at once
  EXPECT_EQ(dec.push(f.byte(0xC3)), "");              // may still complete
  EXPECT_EQ(dec.push(f.byte(0x41)),
            "\xEF\xBF\xBD"
            "A");  // did not: replaced, 'A' kept
  EXPECT_EQ(dec.push(f.byte(0xE2)), "");
  EXPECT_EQ(dec.push(f.byte(0x82)), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");  // cut off at the end
  EXPECT_EQ(dec.flush(), "");
  const Ids ids = {f.byte(0xFF), f.byte(0xC3), f.byte(0x41), f.byte(0xE2), f.byte(0x82)};
  EXPECT_EQ(stream(t, ids), t.decode(ids));
}

TEST(IncrementalDecoder, SkipSpecialAndPrefixSpace) {
  SpmFixture f;
  const Tokenizer t = make(std::move(f.d));
  IncrementalDecoder dec(t, /*skip_special=*/true);
  EXPECT_EQ(dec.push(f.bos), "");
  EXPECT_EQ(dec.push(f.sp_hello), "hello");  // the prefix space of the first word goes
  EXPECT_EQ(dec.push(f.sp_world), " world");
  EXPECT_EQ(dec.push(f.eos), "");
  IncrementalDecoder keep(t);
  EXPECT_EQ(keep.push(f.bos), "<s>");
  EXPECT_EQ(keep.push(f.sp_hello), " hello");  // as decode(): only the first token is stripped
}

}  // namespace
}  // namespace kiln
