// Compiles grammars for one vocabulary and keeps the results: requests that repeat a
// schema (the common case: one tool set, one extraction schema) reuse the precomputed
// token classes. Thread-safe; compilation runs on the caller's thread (an HTTP worker or
// the CLI), never on the engine loop.
#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "structured/compiled_grammar.h"

namespace kiln::structured {

struct GrammarCompilerStats {
  int64_t compiles = 0;  // cache misses that compiled
  int64_t cache_hits = 0;
  double compile_seconds = 0;  // total time spent compiling
};

class GrammarCompiler {
 public:
  // eager_seconds: CompiledGrammar's classification budget at compile time.
  explicit GrammarCompiler(std::shared_ptr<const TokenVocabulary> vocab, size_t capacity = 32,
                           double eager_seconds = CompiledGrammar::kDefaultEagerSeconds);

  // The compiled form of `grammar`, from the cache when an identical grammar was compiled
  // before (keyed by the grammar's canonical text; the vocabulary is fixed per compiler).
  std::shared_ptr<const CompiledGrammar> compile(const Grammar& grammar);

  const TokenVocabulary& vocab() const { return *vocab_; }
  GrammarCompilerStats stats() const;

 private:
  std::shared_ptr<const TokenVocabulary> vocab_;
  const size_t capacity_;
  const double eager_seconds_;
  mutable std::mutex mu_;
  // Least recently used at the back.
  std::list<std::pair<std::string, std::shared_ptr<const CompiledGrammar>>> lru_;
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
  GrammarCompilerStats stats_;
};

}  // namespace kiln::structured
