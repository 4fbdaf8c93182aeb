// The engine API (DESIGN.md): submit a request, read its outputs from a stream, cancel it.
// Thread-safe; the engine loop runs EngineCore on its own thread and the model's compute
// uses the kernel thread pool the backend was built with. The server, `kiln run`, the
// offline benchmark and the tests all use this and never reach into the scheduler.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine_core.h"
#include "engine/engine_stats.h"
#include "engine/request.h"
#include "structured/grammar_compiler.h"

namespace kiln {

class Engine {
 public:
  // The backend and the tokenizer must outlive the engine.
  Engine(ExecutionBackend& backend, const Tokenizer* tokenizer, const EngineConfig& config);
  // Aborts whatever is still running and joins the loop.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  int32_t max_model_len() const { return core_.max_model_len(); }
  int32_t block_size() const { return core_.kv_cache().block_size(); }

  // Checks the request (a caller's mistake comes back as an error naming the field) and
  // queues it. The stream delivers its outputs until one with `finished`.
  StatusOr<std::shared_ptr<RequestStream>> submit(GenerationRequest request);
  // Submits several requests as one arrival: the loop takes every valid one in the same
  // iteration, so the schedule no longer depends on how fast a caller's threads submit
  // (offline batches and tests that must preempt rely on this). One result per request, in
  // order; an invalid request gets its error and does not hold back the others.
  std::vector<StatusOr<std::shared_ptr<RequestStream>>> submit_all(
      std::vector<GenerationRequest> requests);
  // Aborts the request in the loop's next iteration; its blocks return to the pool and its
  // stream ends with finish reason abort. Ids already finished are ignored.
  void cancel(uint64_t request_id);
  // Compiles structured-output grammars for this model's vocabulary (thread-safe, cached);
  // the vocabulary's trie is built on first use. Null when the engine has no tokenizer.
  structured::GrammarCompiler* grammar_compiler() const;
  // The compiler's counters; zeros until the first structured request created it.
  structured::GrammarCompilerStats grammar_compiler_stats() const;

  // The counters as of the last completed step.
  EngineStats stats() const;
  // Blocks until nothing is queued or running, so stats() covers every finished request.
  void wait_until_idle() const;

 private:
  void loop();

  EngineCore core_;  // touched only by the loop thread, except its immutable validate()
  const Tokenizer* tokenizer_;
  mutable std::once_flag grammar_once_;
  mutable std::unique_ptr<structured::GrammarCompiler> grammar_compiler_;
  mutable std::atomic<bool> grammar_created_{false};
  std::atomic<uint64_t> next_id_{1};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  mutable std::condition_variable idle_cv_;  // signalled after each step's stats are published
  struct Submission {
    uint64_t id;
    GenerationRequest request;
    std::shared_ptr<RequestStream> stream;
  };
  std::vector<Submission> submissions_;
  std::vector<uint64_t> cancellations_;
  bool stop_ = false;
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace kiln
