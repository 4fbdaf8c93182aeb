// The matmul driver: picks the kernel for the weight type (falling back to lower ISAs; the
// packed x16 kernels where the loader made a packed copy and the tier is AVX-512),
// converts the activations once per call into scratch (once per format for several
// matrices on the same input), and splits the output into rectangles of rows x tokens
// that the thread pool hands out dynamically, every matrix's in one region. The same region
// first prepares the activations (the caller's prologue, then the conversion) over ranges
// of tokens, so a batch's row-wise work is shared between the threads too.
//
// Rectangles are sized so that a task's weight rows and activation rows stay in L2 while
// the kernel reuses them (prompt processing), and so that there are several tasks per
// thread (a late or slow thread costs at most one small task). A call of up to 16 tokens
// reads each weight once: its row chunks go out as one contiguous share per thread
// (util/task_shares.h), so each core streams its rows in order.
#include "kernels/cpu/matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/vec_dot.h"
#include "util/status.h"
#include "util/task_shares.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kRowAlign = 16;         // the legacy gemm kernels' row group
constexpr int64_t kPrefillRows = 64;      // rows per task when many tokens share them
constexpr int64_t kPrefillTokens = 64;    // tokens per task
constexpr int64_t kSmallBatchTokens = 8;  // up to this many tokens go in one chunk
// Up to this many tokens (a batched decode step), a call reads each weight once (one or two
// tiles), so its row chunks are handed out as contiguous shares per thread, and tasks keep
// at least kStreamingMinRows rows: the packed kernels prefetch the next 16-row group while
// computing one. Before the shares, when a task's first group always waited for DRAM, four
// groups a task made SmolLM2's 16-sequence step 3% faster than two; with the shares a
// thread's next task is usually the group it prefetched, and two groups a task balance
// SmolLM2's 576-row matrices better (the step 12.2-12.3 ms against 12.5-12.9, the quiet
// rounds of six alternating; the 1.5B model's step unchanged).
constexpr int64_t kStreamingTokens = 2 * kSmallBatchTokens;
constexpr int64_t kStreamingMinRows = 32;
constexpr int64_t kTasksPerThread = 8;
// Token ranges the activations are prepared and converted in, per thread.
constexpr int64_t kPrologueTasksPerThread = 2;
constexpr int kSpinsBeforeYield = 20000;  // a product task waiting for the ranges

const VecDotKernel* find_kernel(DType type, Isa isa) {
  for (int i = (int)isa; i >= 0; --i) {
    if (!isa_supported((Isa)i)) continue;
    if (const VecDotKernel* k = vec_dot_kernel(type, (Isa)i)) return k;
  }
  return nullptr;
}

uint8_t* aligned_scratch(MatmulScratch& scratch, size_t bytes) {
  if (scratch.act.size() < bytes + 64) scratch.act.resize(bytes + 64);
  const auto p = reinterpret_cast<uintptr_t>(scratch.act.data());
  return reinterpret_cast<uint8_t*>((p + 63) & ~uintptr_t{63});
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

struct Split {
  int64_t rows_per_task;
  int64_t tokens_per_task;
  int64_t row_tasks;
  int64_t token_tasks;
};

Split split_work(int64_t rows, int64_t num_tokens, int num_threads) {
  Split s;
  if (num_tokens <= kSmallBatchTokens) {
    // Decode-like: stream the weights once; many row chunks keep both threads busy.
    s.tokens_per_task = num_tokens;
    s.rows_per_task =
        std::max(kRowAlign, round_up(ceil_div(rows, kTasksPerThread * num_threads), kRowAlign));
  } else {
    s.tokens_per_task = std::min(num_tokens, kPrefillTokens);
    s.rows_per_task = kPrefillRows;
    // Small matrices: shrink the row chunk until there is enough work to share.
    const int64_t token_tasks = ceil_div(num_tokens, s.tokens_per_task);
    const int64_t min_rows = num_tokens <= kStreamingTokens ? kStreamingMinRows : kRowAlign;
    while (s.rows_per_task > min_rows &&
           ceil_div(rows, s.rows_per_task) * token_tasks < kTasksPerThread * num_threads) {
      s.rows_per_task /= 2;
    }
  }
  s.rows_per_task = std::min(s.rows_per_task, rows);
  s.row_tasks = ceil_div(rows, s.rows_per_task);
  s.token_tasks = ceil_div(num_tokens, s.tokens_per_task);
  return s;
}

// One matmul call's work, shared by its tasks.
struct MatmulJob {
  const VecDotKernel* k;
  PackedGemmFn packed_gemm;  // set when the weights are read in their packed layout
  Split split;
  int64_t rows, cols, num_tokens;
  const uint8_t* w;
  int64_t w_stride;
  const uint8_t* act;
  int64_t act_stride;
  float* y;

  // Row chunks outermost: consecutive tasks (often on the two threads at once) share the
  // same weight rows.
  void run_task(int64_t task) const {
    const int64_t r0 = task / split.token_tasks * split.rows_per_task;
    const int64_t t0 = task % split.token_tasks * split.tokens_per_task;
    const int64_t nr = std::min(split.rows_per_task, rows - r0);
    const int64_t nt = std::min(split.tokens_per_task, num_tokens - t0);
    const uint8_t* at = act + t0 * act_stride;
    float* out = y + t0 * rows + r0;
    if (packed_gemm != nullptr) {
      // w is the packed matrix, w_stride the bytes of one 16-row group.
      packed_gemm(cols, w + r0 / kPackRows * w_stride, nr / kPackRows, at, act_stride, nt, out,
                  rows, r0 + nr < rows);
      return;
    }
    const uint8_t* wr = w + r0 * w_stride;
    if (k->gemm != nullptr) {
      k->gemm(cols, nr, nt, wr, w_stride, at, act_stride, out, rows);
      return;
    }
    for (int64_t r = 0; r < nr; ++r) {
      for (int64_t t = 0; t < nt; ++t)
        k->vec_dot(cols, out + t * rows + r, wr + r * w_stride, at + t * act_stride);
    }
  }
};

// How the activations are converted for a matrix: the function and row stride (nullptr:
// the kernel reads the F32 rows as they are).
struct ActFormat {
  void (*convert)(const float*, void*, int64_t) = nullptr;
  int64_t stride = 0;
  bool operator==(const ActFormat&) const = default;
};

bool use_packed(const WeightMatrix& w, Isa isa) {
  return w.packed != nullptr && isa == Isa::kAvx512 && isa_supported(Isa::kAvx512);
}

ActFormat act_format(const WeightMatrix& w, const VecDotKernel* k, bool packed) {
  if (packed) {
    // The k-quants read panel records of their own; the legacy types the Q8 panel of the
    // plain AVX-512 gemm, whose zero-point bias is per type.
    if (packed_record_elements(w.type) == kQK_K)
      return {quantize_packed_act_avx512, w.cols / kQK_K * kPackedActBytes};
    return {k->gemm_quantize_act, k->gemm_act_row_bytes(w.cols)};
  }
  if (k->gemm != nullptr) {
    if (k->gemm_quantize_act != nullptr)
      return {k->gemm_quantize_act, k->gemm_act_row_bytes(w.cols)};
    return {};
  }
  if (k->act_type != DType::F32) return {k->quantize_act, dtype_row_bytes(k->act_type, w.cols)};
  return {};
}

// A job for w without its activations (act, act_stride are filled in by the caller).
// The x16 packed path (packed_weights.h) splits into 16-row groups: every row chunk of
// split_work is a multiple of kRowAlign = 16.
MatmulJob make_job(const WeightMatrix& w, const VecDotKernel* k, bool packed, int64_t num_tokens,
                   float* y, int num_threads) {
  static_assert(kRowAlign % kPackRows == 0);
  if (packed) KILN_CHECK(weights_packable(w.type, w.rows, w.cols));
  return MatmulJob{.k = k,
                   .packed_gemm = packed ? packed_gemm_avx512(w.type) : nullptr,
                   .split = split_work(w.rows, num_tokens, num_threads),
                   .rows = w.rows,
                   .cols = w.cols,
                   .num_tokens = num_tokens,
                   .w = static_cast<const uint8_t*>(packed ? w.packed : w.data),
                   .w_stride = packed ? packed_weights_bytes(w.type, kPackRows, w.cols)
                                      : dtype_row_bytes(w.type, w.cols),
                   .act = nullptr,
                   .act_stride = 0,
                   .y = y};
}

int64_t num_tasks(const MatmulJob& j) { return j.split.row_tasks * j.split.token_tasks; }

// What happens to activation rows before the products read them: the caller's prologue,
// then each distinct conversion (quantization to the kernels' activation format).
struct Prologue {
  struct Conversion {
    void (*convert)(const float*, void*, int64_t);
    uint8_t* dst;
    int64_t stride;
  };
  ActivationPrologue user;
  const float* x;
  int64_t cols, num_tokens;
  Conversion conversions[kMaxSameInput] = {};
  int num_conversions = 0;

  void run(int64_t t0, int64_t t1) const {
    if (t0 >= t1) return;
    if (user.prepare != nullptr) user.prepare(user.context, t0, t1);
    for (int c = 0; c < num_conversions; ++c)
      for (int64_t t = t0; t < t1; ++t)
        conversions[c].convert(x + t * cols, conversions[c].dst + t * conversions[c].stride, cols);
  }
};

}  // namespace

bool matmul_supported(DType type) { return find_kernel(type, Isa::kAvx512) != nullptr; }

bool matmul_wants_packed(DType type, int64_t rows, int64_t cols) {
  static const bool enabled = [] {
    const char* env = std::getenv("KILN_PACK");
    return env == nullptr || std::string_view(env) != "0";
  }();
  return enabled && weights_packable(type, rows, cols) && best_isa() == Isa::kAvx512 &&
         isa_supported(Isa::kAvx512);
}

void matmul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch, Isa isa) {
  matmul_same_input({&w, 1}, {&y, 1}, x, num_tokens, pool, scratch, ActivationPrologue{}, isa);
}

void matmul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch, const ActivationPrologue& prologue, Isa isa) {
  matmul_same_input({&w, 1}, {&y, 1}, x, num_tokens, pool, scratch, prologue, isa);
}

void matmul_same_input(std::span<const WeightMatrix> ws, std::span<float* const> ys, const float* x,
                       int64_t num_tokens, ThreadPool& pool, MatmulScratch& scratch, Isa isa) {
  matmul_same_input(ws, ys, x, num_tokens, pool, scratch, ActivationPrologue{}, isa);
}

void matmul_same_input(std::span<const WeightMatrix> ws, std::span<float* const> ys, const float* x,
                       int64_t num_tokens, ThreadPool& pool, MatmulScratch& scratch,
                       const ActivationPrologue& prologue, Isa isa) {
  KILN_CHECK(ws.size() == ys.size() && ws.size() <= kMaxSameInput);
  if (num_tokens <= 0) return;
  MatmulJob jobs[kMaxSameInput];
  ActFormat formats[kMaxSameInput];
  int num_jobs = 0;
  size_t act_bytes = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    const WeightMatrix& w = ws[i];
    KILN_CHECK(w.cols == ws[0].cols);
    if (w.rows <= 0) continue;
    const VecDotKernel* k = find_kernel(w.type, isa);
    KILN_CHECK(k != nullptr);
    KILN_CHECK(w.cols % dtype_block_size(w.type) == 0);
    const bool packed = use_packed(w, isa);
    formats[num_jobs] = act_format(w, k, packed);
    jobs[num_jobs] = make_job(w, k, packed, num_tokens, ys[i], pool.num_threads());
    act_bytes += round_up(formats[num_jobs].stride * num_tokens, 64);
    ++num_jobs;
  }
  if (num_jobs == 0) {
    if (prologue.prepare != nullptr) prologue.prepare(prologue.context, 0, num_tokens);
    return;
  }
  // The activations, converted once per distinct format (q/k/v of one type share them), by
  // the prologue.
  Prologue pre{.user = prologue, .x = x, .cols = jobs[0].cols, .num_tokens = num_tokens};
  uint8_t* buf = aligned_scratch(scratch, act_bytes);
  for (int i = 0; i < num_jobs; ++i) {
    const ActFormat& f = formats[i];
    MatmulJob& j = jobs[i];
    if (f.convert == nullptr) {
      j.act = reinterpret_cast<const uint8_t*>(x);
      j.act_stride = j.cols * (int64_t)sizeof(float);
      continue;
    }
    int same = 0;
    while (same < i && !(formats[same] == f)) ++same;
    if (same < i) {
      j.act = jobs[same].act;
    } else {
      pre.conversions[pre.num_conversions++] = {f.convert, buf, f.stride};
      j.act = buf;
      buf += round_up(f.stride * num_tokens, 64);
    }
    j.act_stride = f.stride;
  }
  // One region for the prologue's token ranges and then every job's tasks; a product task
  // waits until every range is ready. Tasks are handed out in order, so by the time one
  // waits, every range has been taken by a running thread.
  // NOTE: one token (decode of one sequence) is prepared here, before the region: there is
  // nothing to share.
  const int64_t ranges = num_tokens < 2 || pool.num_threads() == 1
                             ? 0
                             : std::min(num_tokens, kPrologueTasksPerThread * pool.num_threads());
  if (ranges == 0) pre.run(0, num_tokens);
  std::atomic<int64_t> ranges_done{0};
  int64_t products = 0;
  for (int i = 0; i < num_jobs; ++i) products += num_tasks(jobs[i]);
  // Each thread walks a contiguous share of the row chunks (util/task_shares.h), so its
  // hardware prefetchers keep one stream.
  TaskShares shares;
  const bool use_shares = num_tokens <= kStreamingTokens && pool.num_threads() > 1 &&
                          shares.init(products, pool.num_threads());
  struct Region {
    const MatmulJob* jobs;
    int num_jobs;
    const Prologue* pre;
    int64_t ranges;
    std::atomic<int64_t>* ranges_done;
    TaskShares* shares;
  } const region{jobs, num_jobs, &pre, ranges, &ranges_done, use_shares ? &shares : nullptr};
  // NOTE: one captured pointer keeps the std::function in its small buffer (no allocation).
  const Region* r = &region;
  pool.parallel_for(ranges + products, [r](int64_t task, int thread) {
    if (task < r->ranges) {
      const int64_t n = r->pre->num_tokens;
      r->pre->run(task * n / r->ranges, (task + 1) * n / r->ranges);
      r->ranges_done->fetch_add(1, std::memory_order_release);
      return;
    }
    task -= r->ranges;
    // NOTE: yield after a while, as the pool does: a thread holding a range may be
    // descheduled on a busy host, and spinning would keep it off the core longer.
    for (int spin = 0; r->ranges_done->load(std::memory_order_acquire) < r->ranges; ++spin) {
      if (spin < kSpinsBeforeYield)
        _mm_pause();
      else
        std::this_thread::yield();
    }
    if (r->shares != nullptr) task = r->shares->take(thread);
    int i = 0;
    while (task >= num_tasks(r->jobs[i])) task -= num_tasks(r->jobs[i++]);
    r->jobs[i].run_task(task);
  });
}

}  // namespace kiln::cpu
