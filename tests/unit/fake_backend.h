// A backend with no weights for engine tests. Its "KV cache" stores, per slot, the token
// and position written there, and the logits for a token are a pseudo-random function of
// the whole sequence read back through the block table. So any mistake in block tables,
// prefix sharing, copy-on-write or recompute changes the tokens a test sees, and the
// expected tokens can be computed independently from the token list alone (reference_*).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/execution_backend.h"

namespace kiln::testing {

inline uint64_t fake_mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The content hash the fake's logits depend on, from tokens [0, n).
inline uint64_t fake_prefix_hash(const int32_t* tokens, int64_t n) {
  uint64_t h = 0x1234;
  for (int64_t i = 0; i < n; ++i) h = fake_mix(h ^ ((uint64_t)(uint32_t)tokens[i] << 20) ^ (uint64_t)i);
  return h;
}

inline void fake_logits(uint64_t prefix_hash, int64_t vocab, float* out) {
  for (int64_t j = 0; j < vocab; ++j)
    out[j] = (float)(fake_mix(prefix_hash ^ (uint64_t)j * 0x51ed27) >> 40) * (1.0f / (1 << 20));
}

// The greedy continuation an engine must produce for `prompt`, computed without any KV.
inline std::vector<int32_t> reference_greedy(std::vector<int32_t> tokens, int64_t vocab,
                                             int32_t max_new, const std::vector<int32_t>& eos) {
  std::vector<int32_t> out;
  std::vector<float> logits(vocab);
  while ((int32_t)out.size() < max_new) {
    fake_logits(fake_prefix_hash(tokens.data(), (int64_t)tokens.size()), vocab, logits.data());
    const int32_t t = (int32_t)(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(t);
    tokens.push_back(t);
    if (std::find(eos.begin(), eos.end(), t) != eos.end()) break;
  }
  return out;
}

class FakeBackend final : public ExecutionBackend {
 public:
  FakeBackend(int32_t num_blocks, int32_t block_size, int64_t vocab, int32_t max_batch_tokens)
      : num_blocks_(num_blocks), block_size_(block_size), vocab_(vocab),
        max_batch_tokens_(max_batch_tokens), slots_((size_t)num_blocks * block_size, kEmpty) {}

  int64_t vocab_size() const override { return vocab_; }
  int32_t num_kv_blocks() const override { return num_blocks_; }
  int32_t kv_block_size() const override { return block_size_; }
  int32_t max_batch_tokens() const override { return max_batch_tokens_; }

  void copy_blocks(std::span<const BlockCopy> copies) override {
    for (const BlockCopy& c : copies)
      std::copy_n(slots_.begin() + (size_t)c.src * block_size_, block_size_,
                  slots_.begin() + (size_t)c.dst * block_size_);
    num_block_copies += (int64_t)copies.size();
  }

  Status forward(const ForwardBatch& batch, float* logits) override {
    const int32_t n = (int32_t)batch.token_ids.size();
    if (n == 0 || n > max_batch_tokens_) return Status::Error("bad batch size " + std::to_string(n));
    step_tokens.push_back(n);
    tokens_computed += n;
    size_t row = 0;
    for (const SequenceSlice& s : batch.sequences) {
      for (int32_t i = s.first_token; i < s.first_token + s.num_tokens; ++i) {
        const int32_t pos = batch.positions[i];
        if (pos / block_size_ >= (int32_t)s.block_table.size())
          return Status::Error("block table too short");
        slot(s.block_table, pos) = encode(batch.token_ids[i], pos);
      }
      for (int32_t i = s.first_token; i < s.first_token + s.num_tokens; ++i) {
        if (row >= batch.logit_rows.size() || batch.logit_rows[row] != i) continue;
        // Read the sequence back through its block table, as attention would.
        const int32_t pos = batch.positions[i];
        std::vector<int32_t> seen(pos + 1);
        for (int32_t p = 0; p <= pos; ++p) {
          const int64_t v = slot(s.block_table, p);
          if (v == kEmpty || v % kPosRange != p)
            return Status::Error("KV slot for position " + std::to_string(p) + " holds stale data");
          seen[p] = (int32_t)(v / kPosRange);
        }
        fake_logits(fake_prefix_hash(seen.data(), pos + 1), vocab_, logits + row * vocab_);
        ++row;
      }
    }
    if (row != batch.logit_rows.size()) return Status::Error("logit rows outside the slices");
    return Status::Ok();
  }

  std::vector<int32_t> step_tokens;  // tokens per forward call
  int64_t tokens_computed = 0;
  int64_t num_block_copies = 0;

 private:
  static constexpr int64_t kEmpty = -1;
  static constexpr int64_t kPosRange = 1 << 24;
  static int64_t encode(int32_t token, int32_t pos) { return (int64_t)token * kPosRange + pos; }
  int64_t& slot(std::span<const int32_t> table, int32_t pos) {
    return slots_[(size_t)table[pos / block_size_] * block_size_ + pos % block_size_];
  }

  int32_t num_blocks_, block_size_;
  int64_t vocab_;
  int32_t max_batch_tokens_;
  std::vector<int64_t> slots_;
};

}  // namespace kiln::testing
