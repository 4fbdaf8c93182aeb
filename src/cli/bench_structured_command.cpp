// `kiln bench structured MODEL`: structured output's costs on a model's real vocabulary,
// without loading its weights. For a schema, regex or grammar (or a JSONL file of schemas)
// it reports the compile time and the time to compute a token mask along random walks
// (each step draws a random allowed token), and with --check compares every mask with a
// brute-force oracle: each token's bytes fed to the plain automaton from the walk's text.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/loaded_model.h"
#include "cli/structured_flags.h"
#include "gguf/reader.h"
#include "structured/automaton.h"
#include "structured/grammar_compiler.h"
#include "structured/grammar_matcher.h"
#include "structured/json_schema_compiler.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

struct Options {
  std::string model;
  StructuredFlags structured;
  std::string schemas_file;  // JSONL: {"name", "schema"} per line
  int walks = 4;
  int steps = 64;
  bool check = false;
  uint64_t seed = 1;
  std::string dump_file;  // JSONL: each mask with the walk's tokens, for other engines
  double eager_ms = structured::CompiledGrammar::kDefaultEagerSeconds * 1e3;
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / (double)v.size();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, (size_t)(p * (double)v.size()))];
}

// The oracle's view: its own automaton and arena, so nothing is shared with the matcher
// but the grammar.
class BruteForce {
 public:
  explicit BruteForce(const structured::Grammar& g) : automaton_(g), arena_(automaton_) {}
  void set_text(const std::string& text) {
    state_ = arena_.initial_state();
    for (unsigned char c : text) step(state_, c);
  }
  bool can_end() const {
    return std::binary_search(state_.begin(), state_.end(), structured::kAccept);
  }
  bool allows(std::string_view bytes) {
    std::vector<structured::StackId> s = state_;
    for (unsigned char c : bytes)
      if (!step(s, c)) return false;
    return true;
  }

 private:
  bool step(std::vector<structured::StackId>& s, uint8_t c) {
    std::vector<structured::StackId> next;
    arena_.step_state(s, c, next);
    s.swap(next);
    return !s.empty();
  }
  structured::Automaton automaton_;
  structured::StackArena arena_;
  std::vector<structured::StackId> state_;
};

struct WalkStats {
  std::vector<double> mask_seconds;
  // Masks that classified no new position (positions are classified on first use), i.e.
  // what a grammar costs per token once the cache holds it.
  std::vector<double> warm_mask_seconds;
  // Masks allowing exactly one token: the engine appends it without a forward pass.
  int64_t forced_masks = 0;
  int64_t masks_checked = 0, mismatches = 0;
  std::string first_mismatch;
};

// The mask's bitset (bit t of byte t/8, little-endian within bytes) in base64.
std::string mask_base64(const structured::TokenMask& mask) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(((size_t)mask.size() + 7) / 8, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = (char)(mask.words()[i / 8] >> (8 * (i % 8)));
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = (uint32_t)(uint8_t)bytes[i] << 16;
    if (i + 1 < bytes.size()) v |= (uint32_t)(uint8_t)bytes[i + 1] << 8;
    if (i + 2 < bytes.size()) v |= (uint8_t)bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

void walk(const std::string& name, const std::shared_ptr<const structured::CompiledGrammar>& g,
          const Options& o, std::mt19937_64& rng, WalkStats& stats, std::FILE* dump) {
  const structured::TokenVocabulary& vocab = g->vocab();
  for (int w = 0; w < o.walks; ++w) {
    structured::GrammarMatcher m(g);
    BruteForce oracle(g->grammar());
    structured::TokenMask mask;
    std::string text;
    std::vector<int32_t> tokens;
    for (int step = 0; step < o.steps; ++step) {
      const size_t classified = g->classified_positions();
      const auto t0 = Clock::now();
      m.fill_mask(mask);
      stats.mask_seconds.push_back(seconds_since(t0));
      if (g->classified_positions() == classified)
        stats.warm_mask_seconds.push_back(stats.mask_seconds.back());
      stats.forced_masks += mask.count() == 1;
      if (dump)
        std::fprintf(dump, "%s\n",
                     ordered_json{{"grammar", name},
                                  {"walk", w},
                                  {"tokens", tokens},
                                  {"allowed", mask.count()},
                                  {"mask_base64", mask_base64(mask)}}
                         .dump()
                         .c_str());
      std::vector<int32_t> text_tokens;
      bool end_allowed = false;
      for (int32_t t = 0; t < mask.size(); ++t) {
        if (!mask.test(t)) continue;
        if (vocab.bytes(t).empty())
          end_allowed = true;
        else
          text_tokens.push_back(t);
      }
      if (o.check) {
        oracle.set_text(text);
        ++stats.masks_checked;
        for (int32_t t = 0; t < mask.size(); ++t) {
          const bool is_end =
              std::binary_search(vocab.end_tokens().begin(), vocab.end_tokens().end(), t);
          const bool expect = is_end ? oracle.can_end()
                                     : t < vocab.num_tokens() && !vocab.bytes(t).empty() &&
                                           oracle.allows(vocab.bytes(t));
          if (expect == mask.test(t)) continue;
          if (stats.mismatches++ == 0)
            stats.first_mismatch =
                "token " + std::to_string(t) + " after " +
                ordered_json(text).dump(-1, ' ', false, ordered_json::error_handler_t::replace) +
                (expect ? ": oracle allows, mask refuses" : ": mask allows, oracle refuses");
        }
      }
      if (text_tokens.empty()) break;  // only the end is left (or nothing)
      // Mostly continue; sometimes stop early when the grammar may end.
      if (end_allowed && rng() % 8 == 0) break;
      const int32_t pick = text_tokens[rng() % text_tokens.size()];
      m.accept_token(pick);
      text += vocab.bytes(pick);
      tokens.push_back(pick);
    }
  }
}

int run(const Options& o) {
  auto file = gguf::File::open(o.model);
  if (!file.ok()) {
    print_error(file.message());
    return 1;
  }
  auto tokenizer = Tokenizer::from_gguf(*file);
  if (!tokenizer.ok()) {
    print_error(o.model + ": " + tokenizer.message());
    return 1;
  }
  std::vector<int32_t> eos;
  for (int32_t id = 0; id < tokenizer->vocab_size(); ++id)
    if (tokenizer->is_end_of_generation(id)) eos.push_back(id);
  auto t0 = Clock::now();
  auto vocab =
      structured::TokenVocabulary::from_tokenizer(*tokenizer, eos, tokenizer->vocab_size());
  const double vocab_seconds = seconds_since(t0);
  structured::GrammarCompiler compiler(vocab, /*capacity=*/1, o.eager_ms / 1e3);

  // name -> grammar
  std::vector<std::pair<std::string, structured::Grammar>> grammars;
  if (!o.schemas_file.empty()) {
    std::ifstream in(o.schemas_file);
    if (!in) {
      print_error(o.schemas_file + ": cannot open");
      return 1;
    }
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.empty()) continue;
      auto j = ordered_json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("schema")) {
        print_error(o.schemas_file + ":" + std::to_string(n) + ": expected {\"name\", \"schema\"}");
        return 1;
      }
      auto g = structured::grammar_from_json_schema(j["schema"]);
      const std::string name = j.value("name", std::to_string(n));
      if (!g.ok()) {
        print_error(o.schemas_file + ":" + std::to_string(n) + " (" + name + "): " + g.message());
        return 1;
      }
      grammars.emplace_back(name, std::move(*g));
    }
  } else {
    auto g = grammar_from_structured_flags(o.structured);
    if (!g.ok()) {
      print_error(g.message());
      return 1;
    }
    grammars.emplace_back("grammar", std::move(*g));
  }

  std::FILE* dump = nullptr;
  if (!o.dump_file.empty() && !(dump = std::fopen(o.dump_file.c_str(), "w"))) {
    print_error(o.dump_file + ": cannot write");
    return 1;
  }
  std::mt19937_64 rng(o.seed);
  std::vector<double> compile_seconds;
  WalkStats stats;
  for (auto& [name, grammar] : grammars) {
    t0 = Clock::now();
    auto compiled = compiler.compile(grammar);
    compile_seconds.push_back(seconds_since(t0));
    walk(name, compiled, o, rng, stats, dump);
  }
  if (dump) std::fclose(dump);
  ordered_json report = {
      {"model", o.model},
      {"vocab_tokens", vocab->num_tokens()},
      {"vocab_seconds", vocab_seconds},
      {"grammars", grammars.size()},
      {"compile_ms_p50", 1e3 * percentile(compile_seconds, 0.5)},
      {"compile_ms_p99", 1e3 * percentile(compile_seconds, 0.99)},
      {"compile_ms_max", 1e3 * percentile(compile_seconds, 1.0)},
      {"masks", stats.mask_seconds.size()},
      {"mask_us_p50", 1e6 * percentile(stats.mask_seconds, 0.5)},
      {"mask_us_p99", 1e6 * percentile(stats.mask_seconds, 0.99)},
      {"mask_us_mean", 1e6 * mean(stats.mask_seconds)},
      {"forced_masks", stats.forced_masks},
      {"warm_masks", stats.warm_mask_seconds.size()},
      {"warm_mask_us_p50", 1e6 * percentile(stats.warm_mask_seconds, 0.5)},
      {"warm_mask_us_p99", 1e6 * percentile(stats.warm_mask_seconds, 0.99)},
      {"warm_mask_us_mean", 1e6 * mean(stats.warm_mask_seconds)},
  };
  if (o.check) {
    report["masks_checked"] = stats.masks_checked;
    report["mismatches"] = stats.mismatches;
    if (stats.mismatches) report["first_mismatch"] = stats.first_mismatch;
  }
  std::printf("%s\n", report.dump().c_str());
  return stats.mismatches == 0 ? 0 : 1;
}

}  // namespace

void register_bench_structured_command(CLI::App* bench, int& exit_code) {
  auto opts = std::make_shared<Options>();
  CLI::App* cmd =
      bench->add_subcommand("structured",
                            "Structured output on a model's vocabulary: compile time, mask time, "
                            "and (--check) masks against a brute-force oracle");
  cmd->add_option("model", opts->model, "GGUF model file (only its tokenizer is read)")->required();
  add_structured_options(cmd, opts->structured);
  cmd->add_option("--schemas", opts->schemas_file, "JSONL file of {\"name\", \"schema\"} lines");
  cmd->add_option("--walks", opts->walks, "random walks per grammar")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--steps", opts->steps, "tokens per walk at most")->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--check", opts->check, "compare every mask with the brute-force oracle");
  cmd->add_option("--seed", opts->seed, "seed of the walks");
  cmd->add_option("--eager-ms", opts->eager_ms,
                  "time each compile may spend classifying positions ahead of use")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--dump", opts->dump_file,
                  "write every mask as JSONL ({grammar, walk, tokens, allowed, mask_base64}) "
                  "to compare with other engines");
  cmd->callback([opts, &exit_code] {
    if (!resolve_model_arg(opts->model)) {
      exit_code = 1;
      return;
    }
    if (opts->schemas_file.empty() == !opts->structured.any()) {
      print_error(
          "bench structured: give exactly one of --json-schema, --regex, --grammar or --schemas");
      exit_code = 2;
      return;
    }
    exit_code = run(*opts);
  });
}

}  // namespace kiln::cli
