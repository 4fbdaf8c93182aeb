#include <algorithm>
#include <cmath>

#include "kernels/cpu/vector_kernels.h"
#include "util/fp16.h"

namespace kiln::cpu {
namespace {

void dot_rows(const float* q, const float* k, int64_t k_stride, int64_t num_rows, int64_t dim,
              float scale, float* out) {
  for (int64_t i = 0; i < num_rows; ++i) {
    const float* row = k + i * k_stride;
    float acc = 0;
    for (int64_t d = 0; d < dim; ++d) acc += q[d] * row[d];
    out[i] = acc * scale;
  }
}

void axpy_rows(const float* p, const float* v, int64_t v_stride, int64_t num_rows, int64_t dim,
               float* out) {
  for (int64_t i = 0; i < num_rows; ++i) {
    const float* row = v + i * v_stride;
    for (int64_t d = 0; d < dim; ++d) out[d] += p[i] * row[d];
  }
}

float exp_sum(float* x, int64_t n, float max) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  return sum;
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// Row-major: q[r][d].
void load_queries(const QueryTile& t, float* q) {
  for (int64_t r = 0; r < t.num_rows; ++r) {
    const float* src = t.src + r / t.group * t.token_stride + r % t.group * t.head_dim;
    for (int64_t d = 0; d < t.head_dim; ++d) q[r * t.head_dim + d] = src[d] * t.scale;
  }
}

// Element d of a stored K or V row, as a float.
template <KvDType D>
inline float kv_at(const void* row, int64_t d) {
  if constexpr (D == KvDType::kF32) return static_cast<const float*>(row)[d];
  if constexpr (D == KvDType::kF16) return fp16_to_fp32(static_cast<const uint16_t*>(row)[d]);
  return bf16_to_fp32(static_cast<const uint16_t*>(row)[d]);
}

// The definition of one online-softmax step: each row sees keys [first, num_valid) of the
// chunk; a new maximum rescales what the row has accumulated so far.
template <KvDType D>
void attend_chunk_typed(const AttendChunk& a) {
  const int64_t dim = a.head_dim;
  float* s = a.work;
  for (int64_t r = 0; r < a.num_rows; ++r) {
    const int64_t num_valid = std::clamp<int64_t>(a.row_pos[r] - a.kv_pos + 1, 0, a.num_keys);
    const int64_t first =
        a.row_first_pos ? std::clamp<int64_t>(a.row_first_pos[r] - a.kv_pos, 0, num_valid) : 0;
    if (first == num_valid) continue;
    const float* q = a.q + r * dim;
    float mx = a.m[r];
    for (int64_t c = first; c < num_valid; ++c) {
      float acc = 0;
      for (int64_t d = 0; d < dim; ++d) acc += q[d] * kv_at<D>(a.k_rows[c], d);
      s[c] = acc;
      mx = std::max(mx, acc);
    }
    const float alpha = mx == a.m[r] ? 1.0f : std::exp(a.m[r] - mx);
    float sum = 0;
    for (int64_t c = first; c < num_valid; ++c) sum += (s[c] = std::exp(s[c] - mx));
    a.m[r] = mx;
    a.l[r] = a.l[r] * alpha + sum;
    float* o = a.o + r * dim;
    for (int64_t d = 0; d < dim; ++d) o[d] *= alpha;
    for (int64_t c = first; c < num_valid; ++c)
      for (int64_t d = 0; d < dim; ++d) o[d] += s[c] * kv_at<D>(a.v_rows[c], d);
  }
}

void attend_chunk(const AttendChunk& a) {
  switch (a.kv_dtype) {
    case KvDType::kF32:
      return attend_chunk_typed<KvDType::kF32>(a);
    case KvDType::kF16:
      return attend_chunk_typed<KvDType::kF16>(a);
    case KvDType::kBF16:
      return attend_chunk_typed<KvDType::kBF16>(a);
  }
}

void convert_kv(const float* src, void* dst, int64_t n, KvDType dtype) {
  if (dtype == KvDType::kF32) {
    std::copy(src, src + n, static_cast<float*>(dst));
    return;
  }
  auto* out = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i)
    out[i] = dtype == KvDType::kF16 ? fp32_to_fp16(src[i]) : fp32_to_bf16(src[i]);
}

constexpr VectorKernels kKernels{dot_rows,     axpy_rows,    exp_sum,   silu_mul,
                                 load_queries, attend_chunk, convert_kv};

}  // namespace

const VectorKernels* vector_kernels_scalar() { return &kKernels; }

const VectorKernels& vector_kernels(Isa isa) {
  if (isa >= Isa::kAvx512 && isa_supported(Isa::kAvx512)) return *vector_kernels_avx512();
  if (isa >= Isa::kAvx2 && isa_supported(Isa::kAvx2)) return *vector_kernels_avx2();
  return kKernels;
}

}  // namespace kiln::cpu
