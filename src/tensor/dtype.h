// Element types of GGUF tensors and the byte layout of each quantized block. The layouts
// are the GGUF (ggml) on-disk formats, so weights are used in place from the mapped file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln {

// Values are the GGUF type ids.
enum class DType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35,
};

struct DTypeInfo {
  std::string_view name;
  int64_t block_size;  // elements per block
  int64_t block_bytes; // bytes per block
};

// Size information for every type a GGUF file may hold; nullopt for unknown ids.
std::optional<DTypeInfo> dtype_info(uint32_t gguf_type_id);
std::string_view dtype_name(DType type);
int64_t dtype_block_size(DType type);
int64_t dtype_block_bytes(DType type);
// Bytes of a row of n elements; n must be a multiple of the block size.
inline int64_t dtype_row_bytes(DType type, int64_t n) {
  return n / dtype_block_size(type) * dtype_block_bytes(type);
}

constexpr int kQK = 32;    // elements per block of the "legacy" quant types
constexpr int kQK_K = 256; // elements per super-block of the k-quants
constexpr int kKScaleBytes = 12;

using fp16_t = uint16_t;   // IEEE half, stored as bits
using bf16_t = uint16_t;   // bfloat16, stored as bits

struct BlockQ4_0 { fp16_t d; uint8_t qs[kQK / 2]; };
struct BlockQ4_1 { fp16_t d; fp16_t m; uint8_t qs[kQK / 2]; };
struct BlockQ5_0 { fp16_t d; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
struct BlockQ5_1 { fp16_t d; fp16_t m; uint8_t qh[4]; uint8_t qs[kQK / 2]; };
struct BlockQ8_0 { fp16_t d; int8_t qs[kQK]; };
struct BlockQ8_1 { fp16_t d; fp16_t s; int8_t qs[kQK]; };  // s = d * sum(qs)

struct BlockQ2_K { uint8_t scales[kQK_K / 16]; uint8_t qs[kQK_K / 4]; fp16_t d; fp16_t dmin; };
struct BlockQ3_K { uint8_t hmask[kQK_K / 8]; uint8_t qs[kQK_K / 4]; uint8_t scales[12]; fp16_t d; };
struct BlockQ4_K { fp16_t d; fp16_t dmin; uint8_t scales[kKScaleBytes]; uint8_t qs[kQK_K / 2]; };
struct BlockQ5_K { fp16_t d; fp16_t dmin; uint8_t scales[kKScaleBytes]; uint8_t qh[kQK_K / 8];
                   uint8_t qs[kQK_K / 2]; };
struct BlockQ6_K { uint8_t ql[kQK_K / 2]; uint8_t qh[kQK_K / 4]; int8_t scales[kQK_K / 16]; fp16_t d; };
struct BlockQ8_K { float d; int8_t qs[kQK_K]; int16_t bsums[kQK_K / 16]; };

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

}  // namespace kiln
