// Packing GGUF rows into the x16 layouts and k-quant activations into panel records (see
// packed_weights.h). Baseline code: packing runs once at load, word by word so that a 1.5B
// model packs in a fraction of a second.
#include "kernels/cpu/packed_weights.h"

#include <cstring>

#include "tensor/quants.h"
#include "util/fp16.h"
#include "util/status.h"

namespace kiln::cpu {
namespace {

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void store_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

constexpr uint32_t kLow4 = 0x0F0F0F0F;

// Lane r of one Q4_K or Q5_K record from one GGUF block: all but Q5_K's fifth bits.
// Sub-block j's nibbles start at kQ4KQuants + sub_bytes * j.
template <class Block>
void pack_k4_lane(const Block& x, int r, uint8_t* rec, int64_t sub_bytes) {
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k4_scale_min(j, x.scales, &sc, &m);
    rec[kQ4KScales + 16 * j + r] = sc;
    rec[kQ4KMins + 32 * (j / 2) + 2 * r + j % 2] = m;
    // Sub-block j = 2k + s is nibble s of qs[32k .. 32k + 31].
    const uint8_t* q = x.qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    for (int c = 0; c < 4; ++c) {
      const uint32_t lo = (load_u32(q + 4 * c) >> shift) & kLow4;
      const uint32_t hi = (load_u32(q + 16 + 4 * c) >> shift) & kLow4;
      store_u32(rec + kQ4KQuants + sub_bytes * j + 64 * c + 4 * r, lo | hi << 4);
    }
  }
  std::memcpy(rec + 2 * r, &x.d, 2);
  std::memcpy(rec + 32 + 2 * r, &x.dmin, 2);
}

// Lane r of one Q5_K record: Q4_K's part, then the fifth bits. In GGUF, bit j of qh[i] is
// that of element 32j + i.
void pack_q5_k_lane(const BlockQ5_K& x, int r, uint8_t* rec) {
  pack_k4_lane(x, r, rec, kQ5KSubBlockBytes);
  for (int j = 0; j < 8; ++j) {
    for (int b = 0; b < 4; ++b) {
      uint8_t bits = 0;
      for (int c = 0; c < 4; ++c) {
        bits |= static_cast<uint8_t>(((x.qh[4 * c + b] >> j) & 1) << c);
        bits |= static_cast<uint8_t>(((x.qh[16 + 4 * c + b] >> j) & 1) << (4 + c));
      }
      rec[kQ4KQuants + kQ5KSubBlockBytes * j + 256 + 4 * r + b] = bits;
    }
  }
}

// Lane r of one Q2_K record from one GGUF block. Element e = 128 half + 32 k2 + l is
// (qs[32 half + l] >> 2 k2) & 3; sub-block j = e / 16.
void pack_q2_k_lane(const BlockQ2_K& x, int r, uint8_t* rec) {
  for (int j = 0; j < 16; ++j) {
    rec[kQ2KScales + 32 * (j / 2) + 2 * r + j % 2] = x.scales[j];
    for (int b = 0; b < 4; ++b) {
      uint8_t low = 0;
      for (int k = 0; k < 4; ++k) {
        const int e = 16 * j + 4 * k + b, half = e / 128, k2 = e % 128 / 32, l = e % 32;
        low |= static_cast<uint8_t>(((x.qs[32 * half + l] >> (2 * k2)) & 3) << (2 * k));
      }
      rec[kQ2KQuants + kQ2KPairBytes * (j / 2) + 64 * (j % 2) + 4 * r + b] = low;
    }
  }
  const float d = fp16_to_fp32(x.d), dmin = fp16_to_fp32(x.dmin);
  std::memcpy(rec + 4 * r, &d, 4);
  std::memcpy(rec + kQ2KDmin + 4 * r, &dmin, 4);
}

// Lane r of one Q3_K record from one GGUF block.
void pack_q3_k_lane(const BlockQ3_K& x, int r, uint8_t* rec) {
  // Element e = 128 half + 32 k2 + l: low bits (qs[32 half + l] >> 2 k2) & 3, and q = low - 4
  // unless bit 4 half + k2 of hmask[l] is set; u = q + 4 = low + 4 * that bit.
  uint8_t u[kQK_K];
  for (int e = 0; e < kQK_K; ++e) {
    const int half = e / 128, k2 = e % 128 / 32, l = e % 32;
    const int low = (x.qs[32 * half + l] >> (2 * k2)) & 3;
    u[e] = static_cast<uint8_t>(low | ((x.hmask[l] >> (4 * half + k2)) & 1) << 2);
  }
  for (int p = 0; p < 8; ++p) {
    uint8_t* pair = rec + kQ6KQuants + kQ3KPairBytes * p;
    for (int b = 0; b < 4; ++b) {
      uint8_t third = 0;
      for (int s = 0; s < 2; ++s) {
        const uint8_t* sub = u + 16 * (2 * p + s);
        uint8_t low = 0;
        for (int k = 0; k < 4; ++k) {
          low |= static_cast<uint8_t>((sub[4 * k + b] & 3) << (2 * k));
          third |= static_cast<uint8_t>((sub[4 * k + b] >> 2) << (4 * s + k));
        }
        pair[64 * s + 4 * r + b] = low;
      }
      pair[128 + 4 * r + b] = third;
    }
  }
  int8_t scales[16];
  unpack_q3_k_scales(x.scales, scales);
  for (int j = 0; j < 16; ++j)
    rec[kQ6KScales + 32 * (j / 2) + 2 * r + j % 2] = static_cast<uint8_t>(scales[j]);
  const float d = fp16_to_fp32(x.d);
  std::memcpy(rec + 4 * r, &d, 4);
}

// Lane r of one Q6_K record from one GGUF block.
void pack_q6_k_lane(const BlockQ6_K& x, int r, uint8_t* rec) {
  // The 6-bit quants in element order, 4 at a time.
  uint8_t q[kQK_K];
  for (int half = 0; half < 2; ++half) {
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; l += 4) {
        const uint32_t lo =
            (load_u32(x.ql + 64 * half + 32 * (s & 1) + l) >> (4 * (s >> 1))) & kLow4;
        const uint32_t hi = (load_u32(x.qh + 32 * half + l) >> (2 * s)) & 0x03030303;
        store_u32(q + 128 * half + 32 * s + l, lo | hi << 4);
      }
    }
  }
  for (int j = 0; j < 16; ++j) {
    uint8_t* sub = rec + kQ6KQuants + kQ6KSubBlockBytes * j;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* e = q + 16 * j + 8 * half;
      store_u32(sub + 64 * half + 4 * r, (load_u32(e) & kLow4) | (load_u32(e + 4) & kLow4) << 4);
    }
    uint32_t h = 0;
    for (int k = 0; k < 4; ++k) h |= ((load_u32(q + 16 * j + 4 * k) >> 4) & 0x03030303) << (2 * k);
    store_u32(sub + 128 + 4 * r, h);
    rec[kQ6KScales + 32 * (j / 2) + 2 * r + j % 2] = static_cast<uint8_t>(x.scales[j]);
  }
  const float d = fp16_to_fp32(x.d);
  std::memcpy(rec + 4 * r, &d, 4);
}

// Lane r of a legacy record from its two GGUF blocks (`blocks` points at the first).
// Every legacy block starts with its fp16 d.
void pack_legacy_lane(DType type, const uint8_t* blocks, int r, uint8_t* rec) {
  const int64_t block_bytes = dtype_row_bytes(type, 32);
  for (int k = 0; k < 2; ++k) {
    const uint8_t* b = blocks + k * block_bytes;
    std::memcpy(rec + 32 * k + 2 * r, b, 2);
    switch (type) {
      case DType::Q4_0:
        for (int c = 0; c < 4; ++c)
          std::memcpy(rec + 64 + 256 * k + 64 * c + 4 * r, b + 2 + 4 * c, 4);
        break;
      case DType::Q4_1:
        std::memcpy(rec + 64 + 32 * k + 2 * r, b + 2, 2);
        for (int c = 0; c < 4; ++c)
          std::memcpy(rec + 128 + 256 * k + 64 * c + 4 * r, b + 4 + 4 * c, 4);
        break;
      case DType::Q5_0: {
        uint8_t* blk = rec + 64 + 320 * k;
        for (int c = 0; c < 4; ++c) std::memcpy(blk + 64 * c + 4 * r, b + 6 + 4 * c, 4);
        const uint32_t qh = load_u32(b + 2);
        for (int j = 0; j < 4; ++j) {
          uint8_t bits = 0;
          for (int c = 0; c < 4; ++c) {
            bits |= static_cast<uint8_t>(((qh >> (4 * c + j)) & 1) << c);
            bits |= static_cast<uint8_t>(((qh >> (16 + 4 * c + j)) & 1) << (4 + c));
          }
          blk[256 + 4 * r + j] = bits;
        }
        break;
      }
      case DType::Q8_0:
        for (int c = 0; c < 8; ++c)
          store_u32(rec + 64 + 512 * k + 64 * c + 4 * r, load_u32(b + 2 + 4 * c) ^ 0x80808080u);
        break;
      default:
        KILN_CHECK(false);
    }
  }
}

}  // namespace

int64_t packed_record_bytes(DType type) {
  switch (type) {
    case DType::Q2_K:
      return kQ2KPackedBytes;
    case DType::Q3_K:
      return kQ3KPackedBytes;
    case DType::Q4_K:
      return kQ4KPackedBytes;
    case DType::Q5_K:
      return kQ5KPackedBytes;
    case DType::Q6_K:
      return kQ6KPackedBytes;
    case DType::Q4_0:
      return kQ4_0PackedBytes;
    case DType::Q4_1:
      return kQ4_1PackedBytes;
    case DType::Q5_0:
      return kQ5_0PackedBytes;
    case DType::Q8_0:
      return kQ8_0PackedBytes;
    default:
      return 0;
  }
}

int64_t packed_record_elements(DType type) {
  switch (type) {
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
      return kQK_K;
    default:
      return 2 * kQK;
  }
}

bool weights_packable(DType type, int64_t rows, int64_t cols) {
  return packed_record_bytes(type) > 0 && rows > 0 && rows % kPackRows == 0 && cols > 0 &&
         cols % packed_record_elements(type) == 0;
}

int64_t packed_weights_bytes(DType type, int64_t rows, int64_t cols) {
  KILN_CHECK(weights_packable(type, rows, cols));
  return rows / kPackRows * (cols / packed_record_elements(type)) * packed_record_bytes(type);
}

void pack_weight_groups(DType type, const void* src, int64_t cols, int64_t first_group,
                        int64_t num_groups, void* dst) {
  const int64_t nrec = cols / packed_record_elements(type);
  const int64_t row_bytes = dtype_row_bytes(type, cols);
  const int64_t rec = packed_record_bytes(type);
  const int64_t src_rec = row_bytes / nrec;  // GGUF bytes of one record's share of a row
  for (int64_t g = first_group; g < first_group + num_groups; ++g) {
    uint8_t* out = static_cast<uint8_t*>(dst) + g * nrec * rec;
    for (int r = 0; r < kPackRows; ++r) {
      const uint8_t* row = static_cast<const uint8_t*>(src) + (g * kPackRows + r) * row_bytes;
      for (int64_t i = 0; i < nrec; ++i) {
        if (type == DType::Q4_K)
          pack_k4_lane(reinterpret_cast<const BlockQ4_K*>(row)[i], r, out + i * rec,
                       kQ4KSubBlockBytes);
        else if (type == DType::Q5_K)
          pack_q5_k_lane(reinterpret_cast<const BlockQ5_K*>(row)[i], r, out + i * rec);
        else if (type == DType::Q6_K)
          pack_q6_k_lane(reinterpret_cast<const BlockQ6_K*>(row)[i], r, out + i * rec);
        else if (type == DType::Q3_K)
          pack_q3_k_lane(reinterpret_cast<const BlockQ3_K*>(row)[i], r, out + i * rec);
        else if (type == DType::Q2_K)
          pack_q2_k_lane(reinterpret_cast<const BlockQ2_K*>(row)[i], r, out + i * rec);
        else
          pack_legacy_lane(type, row + i * src_rec, r, out + i * rec);
      }
    }
  }
}

void quantize_packed_act(const float* x, void* dst, int64_t n) {
  static const QuantOps* const q8k = kquant_quant_ops(DType::Q8_K);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K, out += kPackedActBytes) {
    BlockQ8_K b;
    q8k->quantize(x, &b, kQK_K);
    std::memcpy(out, b.qs, kQK_K);
    std::memcpy(out + kPackedActD, &b.d, 4);
    int16_t sum16[16], sum32[8];
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int k = 0; k < 16; ++k) s += b.qs[16 * j + k];
      sum16[j] = static_cast<int16_t>(s);
    }
    for (int j = 0; j < 8; ++j) sum32[j] = static_cast<int16_t>(sum16[2 * j] + sum16[2 * j + 1]);
    std::memcpy(out + kPackedActBsum16, sum16, sizeof(sum16));
    std::memcpy(out + kPackedActBsum32, sum32, sizeof(sum32));
    std::memset(out + kPackedActBsum32 + sizeof(sum32), 0,
                kPackedActBytes - kPackedActBsum32 - sizeof(sum32));
  }
}

}  // namespace kiln::cpu
