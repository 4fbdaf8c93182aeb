// matmul throughput at SmolLM2-135M's shapes (rows x cols of the weight matrix), for the
// weight types that model ships in, one token (decode) and 512 tokens (prompt), 1 and 2
// threads. Counters: GFLOP/s (2 * rows * cols * tokens per call) and the weight bytes
// streamed per second (GB/s, meaningful for decode). Rates are per CPU second for one
// thread and per wall second for two.
//
//   kiln_micro_bench --benchmark_filter=matmul/Q4_1
// KILN_ISA=avx2|scalar caps the ISA; KILN_AMX=1 turns on the AMX prompt path.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/packed_weights.h"
#include "tensor/quants.h"
#include "util/page_arena.h"

namespace kiln::cpu {
namespace {

struct Shape {
  int64_t rows, cols;
};

// q/o, k/v, gate/up, down, and the tied output projection.
constexpr Shape kShapes[] = {{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {49152, 576}};

const std::vector<uint8_t>& weights(DType type, Shape s) {
  static std::map<std::tuple<DType, int64_t, int64_t>, std::vector<uint8_t>> cache;
  auto& w = cache[{type, s.rows, s.cols}];
  if (w.empty()) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> row(s.cols);
    const int64_t row_bytes = dtype_row_bytes(type, s.cols);
    w.resize(s.rows * row_bytes);
    for (int64_t r = 0; r < s.rows; ++r) {
      for (auto& x : row) x = dist(rng);
      quant_ops(type)->quantize(row.data(), &w[r * row_bytes], s.cols);
    }
  }
  return w;
}

ThreadPool& pool(int threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& p = pools[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return *p;
}

// Copy `copy` of the x16 packed weights(type, s), in anonymous memory as the loader makes it.
const void* packed_weights(DType type, Shape s, int copy) {
  static PageArena arena;
  static std::map<std::tuple<DType, int64_t, int64_t, int>, void*> cache;
  void*& p = cache[{type, s.rows, s.cols, copy}];
  if (p == nullptr) {
    p = arena.allocate((size_t)packed_weights_bytes(type, s.rows, s.cols));
    pack_weight_groups(type, weights(type, s).data(), s.cols, 0, s.rows / kPackRows, p);
  }
  return p;
}

// copies > 1: the calls rotate over that many packed copies of the matrix, so that each
// call reads its weights from DRAM as a model larger than the L3 does (SmolLM2's 96 MB).
void bm_matmul(benchmark::State& state, DType type, Shape s, int64_t tokens, int threads,
               bool packed, int copies = 1) {
  const auto& w = weights(type, s);
  std::vector<WeightMatrix> ms;
  for (int c = 0; c < copies; ++c)
    ms.push_back({type, w.data(), s.rows, s.cols, packed ? packed_weights(type, s, c) : nullptr});
  std::vector<float> x(tokens * s.cols), y(tokens * s.rows);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  MatmulScratch scratch;
  ThreadPool& p = pool(threads);
  size_t call = 0;
  for (auto _ : state) {
    matmul(ms[call++ % ms.size()], x.data(), tokens, y.data(), p, scratch);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double calls = (double)state.iterations();
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * s.rows * s.cols * tokens * calls / 1e9, benchmark::Counter::kIsRate);
  state.counters["GB/s"] =
      benchmark::Counter((double)w.size() * calls / 1e9, benchmark::Counter::kIsRate);
}

const bool registered = [] {
  for (DType type : {DType::Q4_1, DType::Q8_0, DType::Q4_0}) {
    for (int64_t tokens : {1, 512}) {
      for (Shape s : kShapes) {
        for (int threads : {1, 2}) {
          const std::string name = "matmul/" + std::string(dtype_name(type)) + "/" +
                                   std::to_string(s.rows) + "x" + std::to_string(s.cols) +
                                   "/tokens:" + std::to_string(tokens) +
                                   "/threads:" + std::to_string(threads);
          auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_matmul, type, s, tokens, threads,
                                                 false, 1)
                        ->Unit(benchmark::kMicrosecond);
          // NOTE: one thread is timed by its CPU time, which equals wall time on a quiet
          // machine and stays meaningful on a loaded one; two threads need wall time (and a
          // quiet machine).
          if (threads > 1) b->UseRealTime();
        }
      }
    }
  }
  // The legacy types in the x16 packed layout the AVX-512 tier reads (SmolLM2's shapes),
  // with 16 tokens: a batched decode step of 16 sequences.
  for (DType type : {DType::Q4_1, DType::Q8_0, DType::Q4_0}) {
    for (int64_t tokens : {1, 16, 512}) {
      for (Shape s : kShapes) {
        for (int threads : {1, 2}) {
          const std::string name = "matmul/" + std::string(dtype_name(type)) + "x16/" +
                                   std::to_string(s.rows) + "x" + std::to_string(s.cols) +
                                   "/tokens:" + std::to_string(tokens) +
                                   "/threads:" + std::to_string(threads);
          auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_matmul, type, s, tokens, threads,
                                                 true, 1)
                        ->Unit(benchmark::kMicrosecond);
          if (threads > 1) b->UseRealTime();
        }
      }
    }
  }
  // The packed matmuls with 16 tokens from DRAM: 128 MB of copies, the reads of a model that
  // does not fit the L3 (SmolLM2's legacy types at its shapes, the 1.5B model's k-quants at
  // its own). Each shape's copies stay allocated until exit: filter to the shapes you need.
  constexpr Shape kQwen15[] = {{1536, 1536}, {256, 1536}, {8960, 1536}, {1536, 8960}, {65536, 1536}};
  const auto dram = [](DType type, Shape s, int threads) {
    const int copies = (int)(((int64_t)128 << 20) / packed_weights_bytes(type, s.rows, s.cols)) + 1;
    const std::string name = "matmul_dram/" + std::string(dtype_name(type)) + "x16/" +
                             std::to_string(s.rows) + "x" + std::to_string(s.cols) +
                             "/tokens:16/threads:" + std::to_string(threads);
    auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_matmul, type, s, 16, threads, true,
                                           copies)
                  ->Unit(benchmark::kMicrosecond);
    if (threads > 1) b->UseRealTime();
  };
  for (int threads : {1, 2}) {
    for (DType type : {DType::Q4_1, DType::Q8_0})
      for (Shape s : kShapes) dram(type, s, threads);
    for (DType type : {DType::Q4_K, DType::Q6_K})
      for (Shape s : kQwen15) dram(type, s, threads);
  }
  // Qwen2.5-1.5B's shapes (q/o, k/v, gate/up, down) for its k-quant types, in the GGUF
  // layout (plain) and the x16 packed one.
  for (DType type : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    for (bool packed : {false, true}) {
      for (int64_t tokens : {1, 4, 5, 8, 16, 512}) {
        for (Shape s : kQwen15) {
          for (int threads : {1, 2}) {
            const std::string name = "matmul/" + std::string(dtype_name(type)) +
                                     (packed ? "x16" : "") + "/" + std::to_string(s.rows) + "x" +
                                     std::to_string(s.cols) + "/tokens:" +
                                     std::to_string(tokens) + "/threads:" + std::to_string(threads);
            auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_matmul, type, s, tokens,
                                                   threads, packed, 1)
                          ->Unit(benchmark::kMicrosecond);
            if (threads > 1) b->UseRealTime();
          }
        }
      }
    }
  }
  return true;
}();

}  // namespace
}  // namespace kiln::cpu
