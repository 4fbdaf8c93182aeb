#include "bench/workload.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/tokenizer.h"

namespace kiln::bench {
namespace {

using nlohmann::json;

// Common English words, each one token in the usual BPE vocabularies.
constexpr const char* kWords[] = {
    "the",   "of",    "and",   "to",    "in",    "is",    "you",   "that",  "it",    "he",
    "was",   "for",   "on",    "are",   "as",    "with",  "his",   "they",  "at",    "be",
    "this",  "have",  "from",  "or",    "one",   "had",   "by",    "word",  "but",   "not",
    "what",  "all",   "were",  "we",    "when",  "your",  "can",   "said",  "there", "use",
    "an",    "each",  "which", "she",   "do",    "how",   "their", "if",    "will",  "up",
    "other", "about", "out",   "many",  "then",  "them",  "these", "so",    "some",  "her",
    "would", "make",  "like",  "him",   "into",  "time",  "has",   "look",  "two",   "more",
    "write", "go",    "see",   "number", "no",   "way",   "could", "people", "my",   "than",
    "first", "water", "been",  "call",  "who",   "its",   "now",   "find",  "long",  "down",
    "day",   "did",   "get",   "come",  "made",  "may",   "part",  "over",  "new",   "sound",
    "take",  "only",  "little", "work", "know",  "place", "year",  "live",  "me",    "back",
    "give",  "most",  "very",  "after", "thing", "our",   "just",  "name",  "good",  "man",
    "think", "say",   "great", "where", "help",  "through", "much", "before", "line", "right",
    "too",   "mean",  "old",   "any",   "same",  "tell",  "boy",   "follow", "came", "want",
    "show",  "also",  "around", "form", "three", "small", "set",   "put",   "end",   "does",
    "another", "well", "large", "must", "big",   "even",  "such",  "because", "turn", "here",
    "why",   "ask",   "went",  "men",   "read",  "need",  "land",  "different", "home", "us",
    "move",  "try",   "kind",  "hand",  "picture", "again", "change", "off", "play",  "spell",
    "air",   "away",  "animal", "house", "point", "page", "letter", "mother", "answer", "found",
    "study", "still", "learn", "should", "world", "high", "every", "near",  "add",   "food",
};
constexpr size_t kNumWords = std::size(kWords);
// Short pieces for the last tokens of an exact-length prompt.
constexpr const char* kFillers[] = {" a", " I", " 1", ".", ",", "a", "s", "1"};

// " word", or "word" at the start of the text.
std::string spaced(bool first, const std::string& word) {
  std::string piece;
  if (!first) piece.push_back(' ');
  piece.append(word);
  return piece;
}

int32_t draw_len(std::mt19937_64& rng, int32_t len, double ratio) {
  const auto lo = (int64_t)std::floor(len * (1.0 - ratio));
  const auto hi = (int64_t)std::floor(len * (1.0 + ratio));
  const int64_t v = hi > lo ? lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)) : lo;
  return (int32_t)std::max<int64_t>(1, v);
}

// `where`: "FILE:LINE" or "FILE: entry N".
StatusOr<std::optional<WorkItem>> parse_entry(const json& v, const std::string& where,
                                              int32_t default_output_len, const Tokenizer* tok) {
  auto error = [&](const std::string& what) { return Status::Error(where + ": " + what); };
  if (!v.is_object()) return error("expected a JSON object");
  auto count = [&](const std::string& text) -> int32_t {
    return tok ? (int32_t)tok->encode(text, false, false).size() : -1;
  };
  WorkItem item;
  if (auto p = v.find("prompt"); p != v.end()) {
    if (!p->is_string()) return error("\"prompt\" must be a string");
    item.prompt = p->get<std::string>();
    item.output_len = default_output_len;
    if (auto o = v.find("output_len"); o != v.end() && !o->is_null()) {
      if (!o->is_number_integer() || o->get<int64_t>() < 1 || o->get<int64_t>() > (1 << 24)) {
        return error("\"output_len\" must be a positive integer");
      }
      item.output_len = (int32_t)o->get<int64_t>();
    }
    item.prompt_tokens = count(item.prompt);
    return std::optional<WorkItem>(std::move(item));
  }
  auto c = v.find("conversations");
  if (c == v.end()) return error("expected \"prompt\" or \"conversations\"");
  if (!c->is_array()) return error("\"conversations\" must be an array");
  for (size_t i = 0; i < c->size(); ++i) {
    const json& turn = (*c)[i];
    if (!turn.is_object() || !turn.contains("from") || !turn.contains("value") ||
        !turn["from"].is_string() || !turn["value"].is_string()) {
      return error("conversation turn " + std::to_string(i) + " needs string \"from\" and \"value\"");
    }
  }
  for (size_t i = 0; i + 1 < c->size(); ++i) {
    if ((*c)[i]["from"] != "human") continue;
    if ((*c)[i + 1]["from"] != "gpt") return std::optional<WorkItem>();
    item.prompt = (*c)[i]["value"].get<std::string>();
    const std::string& reply = (*c)[i + 1]["value"].get_ref<const std::string&>();
    item.output_len = std::max<int32_t>(1, tok ? count(reply) : (int32_t)(reply.size() / 4));
    item.prompt_tokens = count(item.prompt);
    return std::optional<WorkItem>(std::move(item));
  }
  return std::optional<WorkItem>();  // no human turn answered by gpt: skipped, as vLLM does
}

}  // namespace

PromptSynthesizer::PromptSynthesizer(uint64_t seed, const Tokenizer* tokenizer)
    : rng_(seed), tokenizer_(tokenizer) {}

std::string PromptSynthesizer::random_word() { return kWords[rng_() % kNumWords]; }

int32_t PromptSynthesizer::count_tokens(const std::string& text) const {
  return tokenizer_ ? (int32_t)tokenizer_->encode(text, false, false).size() : -1;
}

std::string PromptSynthesizer::make(int32_t num_tokens) {
  std::string text;
  if (num_tokens <= 0) return text;
  if (!tokenizer_) {
    for (int32_t i = 0; i < num_tokens; ++i) {
      if (i) text += ' ';
      text += random_word();
    }
    return text;
  }
  // NOTE: appending " word" to text leaves the earlier tokens as they were in BPE
  // vocabularies (pre-tokenizers split before spaces), so the count grows by the new word's
  // tokens. Words go in bulk while far from the target, then one at a time, then fillers.
  std::vector<size_t> ends;  // text.size() after each piece, to take pieces back
  int32_t count = 0;
  auto append = [&](std::string piece) {
    text += piece;
    ends.push_back(text.size());
  };
  while (num_tokens - count > 8) {
    const int32_t words = std::max<int32_t>(1, (num_tokens - count) / 2);
    for (int32_t i = 0; i < words; ++i) append(spaced(text.empty(), random_word()));
    count = count_tokens(text);
    while (count > num_tokens && !ends.empty()) {  // overshot: take words back
      ends.pop_back();
      text.resize(ends.empty() ? 0 : ends.back());
      count = count_tokens(text);
    }
  }
  for (int tries = 0; count < num_tokens && tries < 4 * num_tokens + 32; ++tries) {
    std::string piece;
    if (tries % 3 != 2) {
      piece = spaced(text.empty(), random_word());
    } else {
      std::string_view filler = kFillers[rng_() % std::size(kFillers)];
      if (text.empty() && filler.front() == ' ') filler.remove_prefix(1);
      piece.assign(filler);
    }
    const int32_t next = count_tokens(text + piece);
    if (next <= num_tokens && next > count) {
      append(piece);
      count = next;
    }
  }
  return text;
}

StatusOr<std::vector<WorkItem>> read_dataset_file(const std::string& path,
                                                  int32_t default_output_len,
                                                  const Tokenizer* tokenizer) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("--dataset: cannot open " + path);
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<WorkItem> items;
  const size_t first = content.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && content[first] == '[') {
    json all = json::parse(content, nullptr, /*allow_exceptions=*/false);
    if (all.is_discarded()) return Status::Error(path + ": not valid JSON");
    for (size_t i = 0; i < all.size(); ++i) {
      auto item = parse_entry(all[i], path + ": entry " + std::to_string(i), default_output_len,
                              tokenizer);
      if (!item.ok()) return item.status();
      if (*item) items.push_back(std::move(**item));
    }
  } else {
    std::istringstream lines(content);
    std::string line;
    for (size_t line_no = 1; std::getline(lines, line); ++line_no) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = path + ":" + std::to_string(line_no);
      json v = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (v.is_discarded()) return Status::Error(where + ": not valid JSON");
      auto item = parse_entry(v, where, default_output_len, tokenizer);
      if (!item.ok()) return item.status();
      if (*item) items.push_back(std::move(**item));
    }
  }
  if (items.empty()) return Status::Error(path + ": no usable entries");
  return items;
}

StatusOr<std::vector<WorkItem>> build_workload(const WorkloadOptions& o, size_t count,
                                               const Tokenizer* tokenizer) {
  std::vector<WorkItem> items;
  items.reserve(count);
  if (o.dataset == "random") {
    std::mt19937_64 lengths(o.seed);
    PromptSynthesizer synth(o.seed + 1, tokenizer);
    for (size_t i = 0; i < count; ++i) {
      WorkItem item;
      const int32_t in_len = draw_len(lengths, o.input_len, o.range_ratio);
      item.output_len = draw_len(lengths, o.output_len, o.range_ratio);
      item.prompt = synth.make(in_len);
      item.prompt_tokens = synth.count_tokens(item.prompt);
      items.push_back(std::move(item));
    }
    return items;
  }
  if (o.dataset == "shared-prefix") {
    // A seed stream of its own: with the random dataset's, the same --seed would make a
    // prefix start with that dataset's first prompt, and a server that saw one would find
    // the other in its cache.
    PromptSynthesizer synth(o.seed ^ 0x5bd1e9955bd1e995ULL, tokenizer);
    std::vector<std::string> prefixes;
    for (int32_t g = 0; g < std::max(1, o.num_prefixes); ++g) prefixes.push_back(synth.make(o.prefix_len));
    for (size_t i = 0; i < count; ++i) {
      WorkItem item;
      // The "\n" keeps BPE from merging across the boundary, so every request of a group
      // starts with the same prefix tokens; with a tokenizer it counts toward the suffix's
      // --input-len tokens.
      const std::string& prefix = prefixes[i % prefixes.size()];
      const int32_t separator =
          tokenizer ? synth.count_tokens(prefix + "\n") - synth.count_tokens(prefix) : 0;
      item.prompt = prefix + "\n" + synth.make(std::max(0, o.input_len - separator));
      item.output_len = std::max(1, o.output_len);
      item.prompt_tokens = synth.count_tokens(item.prompt);
      items.push_back(std::move(item));
    }
    return items;
  }
  auto file = read_dataset_file(o.dataset, o.output_len, tokenizer);
  if (!file.ok()) return file.status();
  for (size_t i = 0; i < count; ++i) items.push_back((*file)[i % file->size()]);
  return items;
}

}  // namespace kiln::bench
