// The threaded engine API: concurrent submitters and readers, cancellation, stats.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "fake_backend.h"

namespace kiln {
namespace {

using testing::FakeBackend;
using testing::reference_greedy;

constexpr int64_t kVocab = 101;

GenerationRequest greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0.0f;
  r.sampling.max_tokens = max_tokens;
  return r;
}

std::vector<int32_t> read_all(RequestStream& stream, RequestOutput* final_out = nullptr) {
  std::vector<int32_t> tokens;
  while (auto out = stream.next()) {
    tokens.insert(tokens.end(), out->samples[0].token_ids.begin(), out->samples[0].token_ids.end());
    if (out->finished && final_out) *final_out = *out;
  }
  return tokens;
}

void wait_for_idle_pool(const Engine& engine) { engine.wait_until_idle(); }

EngineConfig with_step_budget(int32_t tokens) {
  EngineConfig config;
  config.scheduler.max_num_batched_tokens = tokens;
  return config;
}

// Four greedy requests for max_tokens tokens each; request i's prompt is ten (3 + i)s.
std::vector<GenerationRequest> four_prompts(int32_t max_tokens) {
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 4; ++i)
    requests.push_back(greedy(std::vector<int32_t>(10, 3 + i), max_tokens));
  return requests;
}

TEST(Engine, ConcurrentClientsEachGetTheirOwnTokens) {
  FakeBackend backend(256, 16, kVocab, 256);
  Engine engine(backend, nullptr, with_step_budget(64));
  std::vector<std::thread> clients;
  std::vector<int> ok(24, 0);
  for (int c = 0; c < 24; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 rng(c);
      std::vector<int32_t> prompt(5 + c * 3);
      for (auto& t : prompt) t = (int32_t)(rng() % kVocab);
      auto stream = engine.submit(greedy(prompt, 12));
      ASSERT_TRUE(stream.ok()) << stream.message();
      RequestOutput final_out;
      const auto tokens = read_all(**stream, &final_out);
      ok[c] = tokens == reference_greedy(prompt, kVocab, 12, {}) && final_out.finished &&
              final_out.num_prompt_tokens == (int32_t)prompt.size();
    });
  }
  for (auto& t : clients) t.join();
  for (int c = 0; c < 24; ++c) EXPECT_TRUE(ok[c]) << "client " << c;
  wait_for_idle_pool(engine);
  const EngineStats stats = engine.stats();
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.generation_tokens, 24 * 12);
  EXPECT_EQ(stats.requests_finished_length, 24);
}

// A FakeBackend whose forward passes after the first two wait until release(), so a test
// can act on a request that is certainly still running (the fake is fast enough to finish
// hundreds of tokens before a reader wakes up).
class GatedBackend final : public ExecutionBackend {
 public:
  explicit GatedBackend(FakeBackend& inner) : inner_(inner) {}
  int64_t vocab_size() const override { return inner_.vocab_size(); }
  int32_t num_kv_blocks() const override { return inner_.num_kv_blocks(); }
  int32_t kv_block_size() const override { return inner_.kv_block_size(); }
  int32_t max_batch_tokens() const override { return inner_.max_batch_tokens(); }
  void copy_blocks(std::span<const BlockCopy> copies) override { inner_.copy_blocks(copies); }
  Status forward(const ForwardBatch& batch, float* logits) override {
    {
      std::unique_lock lock(mu_);
      if (++steps_ > 2) released_cv_.wait(lock, [this] { return released_; });
    }
    return inner_.forward(batch, logits);
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    released_cv_.notify_all();
  }

 private:
  FakeBackend& inner_;
  std::mutex mu_;
  std::condition_variable released_cv_;
  int steps_ = 0;
  bool released_ = false;
};

TEST(Engine, CancelEndsTheStreamAndReturnsItsBlocks) {
  FakeBackend fake(64, 16, kVocab, 256);
  GatedBackend backend(fake);
  Engine engine(backend, nullptr, EngineConfig{});
  struct ReleaseOnExit {  // even when an assertion returns early, or ~Engine would wait
    GatedBackend& backend;
    ~ReleaseOnExit() { backend.release(); }
  } release_on_exit{backend};
  auto stream = engine.submit(greedy(std::vector<int32_t>(50, 3), 900));
  ASSERT_TRUE(stream.ok());
  auto first = (*stream)->next();  // the request is running, held at its third step
  ASSERT_TRUE(first);
  ASSERT_FALSE(first->finished);
  engine.cancel((*stream)->id());
  backend.release();
  RequestOutput final_out;
  read_all(**stream, &final_out);
  ASSERT_TRUE(final_out.finished);
  ASSERT_EQ(final_out.samples.size(), 1u);
  wait_for_idle_pool(engine);
  EXPECT_EQ(engine.stats().kv_blocks_used, 0);
  EXPECT_EQ(engine.stats().requests_finished_abort, 1);
}

TEST(Engine, SubmitRejectsABadRequestAtOnce) {
  FakeBackend backend(8, 16, kVocab, 256);
  Engine engine(backend, nullptr, EngineConfig{});
  auto r = engine.submit(greedy({}, 4));
  EXPECT_FALSE(r.ok());
}

TEST(Engine, SubmitAllQueuesTheValidRequestsAsOneArrival) {
  FakeBackend backend(64, 16, kVocab, 256);
  Engine engine(backend, nullptr, with_step_budget(64));
  std::vector<GenerationRequest> requests = four_prompts(6);
  requests.insert(requests.begin() + 2, greedy({}, 4));  // empty prompt: refused alone
  auto streams = engine.submit_all(std::move(requests));
  ASSERT_EQ(streams.size(), 5u);
  EXPECT_FALSE(streams[2].ok());
  for (int i : {0, 1, 3, 4}) {
    ASSERT_TRUE(streams[i].ok()) << streams[i].message();
    const int k = i < 2 ? i : i - 1;
    EXPECT_EQ(read_all(*streams[i].value()),
              reference_greedy(std::vector<int32_t>(10, 3 + k), kVocab, 6, {}));
  }
  engine.wait_until_idle();
  // All four prompts were prefilled in the first step together.
  EXPECT_EQ(engine.stats().max_step_tokens, 40);
}

TEST(Engine, StatsSplitForwardPassesByWhetherTheyComputedPromptTokens) {
  FakeBackend backend(64, 16, kVocab, 256);
  Engine engine(backend, nullptr, with_step_budget(64));
  auto streams = engine.submit_all(four_prompts(6));
  int64_t generated = 0;
  for (auto& s : streams) {
    ASSERT_TRUE(s.ok()) << s.message();
    generated += (int64_t)read_all(*s.value()).size();
  }
  engine.wait_until_idle();
  const EngineStats st = engine.stats();
  // One step prefills the four prompts (and samples each one's first token); every later
  // step decodes one token a sequence.
  EXPECT_EQ(st.prompt_steps.steps, 1);
  EXPECT_EQ(st.prompt_steps.tokens, 40);
  EXPECT_EQ(st.decode_steps.tokens, generated - 4);
  EXPECT_EQ(st.decode_steps.steps + st.prompt_steps.steps, st.num_steps);
  EXPECT_EQ(st.decode_steps.tokens + st.prompt_steps.tokens, st.num_batched_tokens);
  EXPECT_GE(st.decode_steps.steps, 5);
  EXPECT_GE(st.decode_steps.seconds, 0.0);
  EXPECT_GE(st.prompt_steps.seconds, 0.0);
}

TEST(Engine, DestroyingTheEngineAbortsWhatIsLeft) {
  FakeBackend backend(64, 16, kVocab, 256);
  std::shared_ptr<RequestStream> stream;
  {
    Engine engine(backend, nullptr, EngineConfig{});
    auto s = engine.submit(greedy(std::vector<int32_t>(10, 3), 900));
    ASSERT_TRUE(s.ok());
    stream = *s;
  }
  RequestOutput final_out;
  read_all(*stream, &final_out);
  EXPECT_TRUE(final_out.finished);
}

}  // namespace
}  // namespace kiln
