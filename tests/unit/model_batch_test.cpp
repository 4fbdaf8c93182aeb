// Model::forward over ragged multi-sequence batches on tiny random models: a sequence's
// logits are the same bits in a batch (mixing decode rows and prefill chunks, each
// sequence on its own shuffled, non-contiguous blocks) as alone, for every architecture and
// KV element type; the KV element type is really used; malformed batches are rejected with
// a message naming the field, before anything is written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/session.h"
#include "model/kv_storage.h"
#include "model/model.h"
#include "tiny_model.h"
#include "util/thread_pool.h"

namespace kiln {
namespace {

using testing_tiny::load;
using testing_tiny::temp_path;
using testing_tiny::TinySpec;
using testing_tiny::write_tiny;

TinySpec spec_for(const std::string& arch) {
  TinySpec s = arch == "gemma3" ? testing_tiny::gemma3_spec() : TinySpec{};
  s.arch = arch;
  s.qkv_bias = arch == "qwen2";
  s.qk_norm = s.qk_norm || arch == "qwen3";
  if (arch == "qwen3") s.head_dim = 12;
  return s;
}

// One sequence's tokens in a step.
struct Chunk {
  int seq;  // index into the sequences' block tables
  int32_t first_pos;
  std::vector<int32_t> ids;
};

// Runs the chunks as one batch over `kv` with logits for every token of `logit_chunks`
// (all chunks when empty: every token); returns [rows][vocab].
std::vector<float> run_step(Model& model, KvStorage& kv, const std::vector<Chunk>& chunks,
                            const std::vector<std::vector<int32_t>>& tables, bool last_only) {
  std::vector<int32_t> ids, positions, logit_rows;
  std::vector<SequenceSlice> slices;
  for (const Chunk& c : chunks) {
    slices.push_back({(int32_t)ids.size(), (int32_t)c.ids.size(), tables[c.seq]});
    for (size_t i = 0; i < c.ids.size(); ++i) {
      if (!last_only || i + 1 == c.ids.size()) logit_rows.push_back((int32_t)ids.size());
      ids.push_back(c.ids[i]);
      positions.push_back(c.first_pos + (int32_t)i);
    }
  }
  ForwardBatch batch{ids, positions, slices, logit_rows};
  std::vector<float> logits(logit_rows.size() * model.config().vocab_size, NAN);
  const Status s = model.forward(batch, kv, logits.data());
  EXPECT_TRUE(s.ok()) << s.message();
  return logits;
}

// Each sequence's blocks: disjoint, shuffled, non-contiguous, drawn from [0, num_blocks).
std::vector<std::vector<int32_t>> make_tables(int num_seqs, int blocks_each, int num_blocks,
                                              uint32_t seed) {
  std::vector<int32_t> all(num_blocks);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  std::vector<std::vector<int32_t>> tables;
  for (int s = 0; s < num_seqs; ++s)
    tables.emplace_back(all.begin() + s * blocks_each, all.begin() + (s + 1) * blocks_each);
  return tables;
}

struct BatchParam {
  std::string arch;
  KvDType dtype;
};

class RaggedBatchTest : public testing::TestWithParam<BatchParam> {};

TEST_P(RaggedBatchTest, EachSequenceGetsTheBitsItGetsAlone) {
  const TinySpec spec = spec_for(GetParam().arch);
  const std::string path = write_tiny(spec, temp_path("_" + spec.arch));
  ThreadPool pool(2);
  auto l = load(path, pool);
  ASSERT_TRUE(l.ok()) << l.message();
  Model& model = *l->model;
  const int64_t vocab = spec.vocab;
  constexpr int kSeqs = 5, kBlockSize = 4, kBlocksEach = 16;
  auto token = [&](int seq, int pos) { return (int32_t)((seq * 131 + pos * 37 + 11) % vocab); };
  auto ids = [&](int seq, int first, int n) {
    std::vector<int32_t> v;
    for (int p = first; p < first + n; ++p) v.push_back(token(seq, p));
    return v;
  };
  // Prefixes each sequence already holds before the ragged steps (0: a new sequence).
  const int prefix[kSeqs] = {20, 0, 13, 3, 9};
  // Batch and alone runs use different pools and block layouts: the table is only a map.
  KvStorage kv_batch(model.config(), kSeqs * kBlocksEach + 3, kBlockSize, GetParam().dtype);
  KvStorage kv_alone(model.config(), kSeqs * kBlocksEach + 7, kBlockSize, GetParam().dtype);
  const auto tables_batch = make_tables(kSeqs, kBlocksEach, kSeqs * kBlocksEach + 3, 1);
  const auto tables_alone = make_tables(kSeqs, kBlocksEach, kSeqs * kBlocksEach + 7, 2);
  for (int s = 0; s < kSeqs; ++s) {
    if (prefix[s] == 0) continue;
    run_step(model, kv_batch, {{s, 0, ids(s, 0, prefix[s])}}, tables_batch, true);
    run_step(model, kv_alone, {{s, 0, ids(s, 0, prefix[s])}}, tables_alone, true);
  }
  // Step 1: decode rows and prefill chunks (from 0 and mid-sequence, one longer than an
  // attention tile), in an order unrelated to the sequence ids. Step 2: every sequence
  // decodes one token, logits of the last tokens only.
  std::vector<Chunk> step1 = {{2, 13, ids(2, 13, 5)},
                              {0, 20, ids(0, 20, 1)},
                              {1, 0, ids(1, 0, 23)},
                              {4, 9, ids(4, 9, 1)},
                              {3, 3, ids(3, 3, 7)}};
  std::vector<Chunk> step2;
  for (const Chunk& c : step1) {
    const int32_t pos = c.first_pos + (int32_t)c.ids.size();
    step2.push_back({c.seq, pos, ids(c.seq, pos, 1)});
  }
  std::reverse(step2.begin(), step2.end());
  for (const auto& [step, last_only] : {std::pair{&step1, false}, std::pair{&step2, true}}) {
    const std::vector<float> batch = run_step(model, kv_batch, *step, tables_batch, last_only);
    size_t row = 0;
    for (const Chunk& c : *step) {
      const std::vector<float> alone = run_step(model, kv_alone, {c}, tables_alone, last_only);
      ASSERT_TRUE(
          std::all_of(alone.begin(), alone.end(), [](float x) { return std::isfinite(x); }));
      ASSERT_LE((row * vocab + alone.size()), batch.size());
      EXPECT_EQ(0,
                std::memcmp(alone.data(), batch.data() + row * vocab, alone.size() * sizeof(float)))
          << "sequence " << c.seq << " at position " << c.first_pos << " (" << c.ids.size()
          << " tokens)";
      row += alone.size() / vocab;
    }
    EXPECT_EQ(row * vocab, batch.size());
  }
}

std::vector<BatchParam> batch_params() {
  std::vector<BatchParam> v;
  for (const char* arch : {"llama", "qwen2", "qwen3", "gemma3"})
    for (KvDType t : {KvDType::kF32, KvDType::kF16, KvDType::kBF16}) v.push_back({arch, t});
  return v;
}

INSTANTIATE_TEST_SUITE_P(ArchitecturesAndKvTypes, RaggedBatchTest,
                         testing::ValuesIn(batch_params()),
                         [](const testing::TestParamInfo<BatchParam>& info) {
                           return info.param.arch + "_" + kv_dtype_name(info.param.dtype);
                         });

// The stored element type reaches the arithmetic: F16 and BF16 KV move the logits a little
// from F32 KV (BF16 more than F16), and every one is deterministic.
TEST(KvDTypeTest, ReducedPrecisionKvIsCloseToF32AndDistinct) {
  const TinySpec spec = spec_for("llama");
  const std::string path = write_tiny(spec, temp_path(""));
  ThreadPool pool(2);
  auto l = load(path, pool);
  ASSERT_TRUE(l.ok()) << l.message();
  std::vector<int32_t> ids;
  for (int i = 0; i < 30; ++i) ids.push_back((i * 37 + 11) % (int)spec.vocab);
  auto logits = [&](KvDType dtype) {
    Session session(*l->model, 64, dtype);
    EXPECT_TRUE(session.append(ids).ok());
    return std::vector<float>(session.last_logits().begin(), session.last_logits().end());
  };
  const auto f32 = logits(KvDType::kF32), f16 = logits(KvDType::kF16),
             bf16 = logits(KvDType::kBF16);
  EXPECT_EQ(f16, logits(KvDType::kF16));
  auto rel = [&](const std::vector<float>& x) {
    double num = 0, den = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      num += ((double)x[i] - f32[i]) * ((double)x[i] - f32[i]);
      den += (double)f32[i] * f32[i];
    }
    return std::sqrt(num / den);
  };
  EXPECT_GT(rel(f16), 0.0);
  EXPECT_LT(rel(f16), 3e-3);
  EXPECT_GT(rel(bf16), rel(f16));
  EXPECT_LT(rel(bf16), 3e-2);
}

// Malformed batches: each is a Status naming the problem, and the KV pool is untouched.
TEST(ForwardValidationTest, RejectsMalformedBatchesBeforeWriting) {
  const TinySpec spec = spec_for("llama");
  const std::string path = write_tiny(spec, temp_path(""));
  ThreadPool pool(1);
  auto l = load(path, pool, /*max_batch=*/8);
  ASSERT_TRUE(l.ok()) << l.message();
  Model& model = *l->model;
  KvStorage kv(model.config(), 6, 2, KvDType::kF16);
  const std::vector<int32_t> table = {3, 1, 5}, short_table = {3}, bad_table = {3, 6};
  std::vector<int32_t> ids = {1, 2, 3, 4}, positions = {0, 1, 2, 3}, rows = {3};
  std::vector<SequenceSlice> slices = {{0, 4, table}};
  std::vector<float> logits(8 * spec.vocab);
  auto expect_error = [&](ForwardBatch b, const std::string& needle) {
    const Status s = model.forward(b, kv, logits.data());
    ASSERT_FALSE(s.ok()) << "accepted; expected an error with '" << needle << "'";
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  };
  const ForwardBatch good{ids, positions, slices, rows};
  const std::vector<int32_t> two_rows = {1, 3}, bad_ids = {1, 2, 99, 4}, neg_pos = {-1, 0, 1, 2},
                             gap_pos = {0, 1, 3, 4}, far_pos = {12, 13, 14, 15}, nine(9, 1),
                             nine_pos = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<SequenceSlice> split = {{0, 2, table}, {2, 2, table}},
                                   short_cover = {{0, 3, table}},
                                   gap = {{0, 2, table}, {3, 1, table}},
                                   empty_slice = {{0, 4, table}, {4, 0, table}},
                                   too_long = {{0, 5, table}}, short_tab = {{0, 4, short_table}},
                                   bad_tab = {{0, 4, bad_table}}, nine_slice = {{0, 9, table}};
  const std::vector<int32_t> decreasing = {3, 1}, repeated = {2, 2}, out_of_range = {4},
                             negative_row = {-1}, five_rows = {0, 1, 2, 3, 3};
  expect_error({ids, positions, short_cover, rows}, "cover 3 of the batch's 4 tokens");
  expect_error({ids, positions, gap, rows},
               "sequences[1]: tokens [3, 4) do not continue from token 2");
  expect_error({ids, positions, empty_slice, rows}, "sequences[1]");
  expect_error({ids, positions, too_long, rows}, "sequences[0]");
  expect_error({ids, positions, {}, rows}, "cover 0 of the batch's 4 tokens");
  expect_error({bad_ids, positions, slices, rows}, "token_ids[2]: 99 is outside the vocabulary");
  expect_error({ids, neg_pos, slices, rows}, "negative position -1");
  expect_error({ids, gap_pos, slices, rows}, "positions[2] is 3, not 2 (consecutive)");
  expect_error({ids, positions, short_tab, rows},
               "block table of 1 blocks does not reach position 3 (needs 2)");
  expect_error({ids, far_pos, slices, rows}, "does not reach position 15 (needs 8)");
  expect_error({ids, positions, bad_tab, rows}, "block_table[1] = 6 is outside the KV pool of 6");
  expect_error({ids, positions, slices, decreasing}, "logit_rows[1] = 1 is not an increasing");
  expect_error({ids, positions, slices, repeated}, "logit_rows[1] = 2");
  expect_error({ids, positions, slices, out_of_range}, "logit_rows[0] = 4");
  expect_error({ids, positions, slices, negative_row}, "logit_rows[0] = -1");
  expect_error({ids, positions, slices, five_rows}, "logit_rows: 5 rows for a batch of 4 tokens");
  expect_error({nine, nine_pos, nine_slice, rows}, "batch of 9 tokens exceeds the maximum of 8");
  expect_error({ids, std::span<const int32_t>(positions).first(3), slices, rows},
               "positions: 3 for 4");
  expect_error({{}, {}, {}, {}}, "empty batch");
  // Nothing of the rejected batches reached the pool.
  for (int32_t b = 0; b < kv.num_blocks(); ++b)
    for (int64_t o = 0; o < kv.block_size(); ++o) {
      const uint8_t* k = kv.k_row(0, b, o);
      ASSERT_TRUE(std::all_of(k, k + kv.row_elements() * 2, [](uint8_t x) { return x == 0; }));
    }
  // The well-formed ones run: one sequence, two sequences sharing a table, no logits.
  EXPECT_TRUE(model.forward(good, kv, logits.data()).ok());
  EXPECT_TRUE(model.forward({ids, positions, split, two_rows}, kv, logits.data()).ok());
  EXPECT_TRUE(model.forward({ids, positions, slices, {}}, kv, logits.data()).ok());
}

}  // namespace
}  // namespace kiln
