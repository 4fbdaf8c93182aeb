#include "structured/grammar_compiler.h"

#include <chrono>

namespace kiln::structured {

GrammarCompiler::GrammarCompiler(std::shared_ptr<const TokenVocabulary> vocab, size_t capacity,
                                 double eager_seconds)
    : vocab_(std::move(vocab)), capacity_(capacity), eager_seconds_(eager_seconds) {}

std::shared_ptr<const CompiledGrammar> GrammarCompiler::compile(const Grammar& grammar) {
  std::string key = grammar.to_string();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++stats_.cache_hits;
      return it->second->second;
    }
  }
  // Compile outside the lock: two threads may compile the same grammar at once, which costs
  // time but never blocks other grammars behind a slow one.
  const auto start = std::chrono::steady_clock::now();
  auto compiled = std::make_shared<const CompiledGrammar>(grammar, vocab_, eager_seconds_);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.compiles;
  stats_.compile_seconds += seconds;
  if (index_.count(key)) return compiled;
  lru_.emplace_front(key, compiled);
  index_.emplace(std::move(key), lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return compiled;
}

GrammarCompilerStats GrammarCompiler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace kiln::structured
