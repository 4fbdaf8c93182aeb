// Quantized weights repacked at load for the AVX-512 VNNI kernels ("x16" layouts: Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q8_0), and the activation rows those kernels read.
//
// Why: in GGUF order each row is stored alone, so a kernel that wants one row per 32-bit
// lane (vpdpbusd advancing 16 rows by 4 elements against one broadcast activation word,
// scales applied per lane, no horizontal sums) must transpose 16 rows' blocks every time
// it reads them, and decode reads every weight once per token: the transposes made decode
// compute-bound. Packing does that once. The mapped file stays untouched; the packed copy
// lives in anonymous memory (util/page_arena.h), which also streams faster than a mapped
// file's page-cache pages (docs/benchmarks.md).
//
// A packed matrix is rows / 16 groups; a group is cols / E records, one after another (E =
// 256 elements for the k-quants' super-blocks, 64 for two legacy blocks). Within a record
// "lane r" is the group's row r, "element e" is column E * record + e.
//
// Each record is laid out in the order the kernel reads it, so that one task's loads walk
// memory strictly forward (the hardware prefetchers lose track of three interleaved
// streams: a Q6_K layout with the high bits in a second region ran at a third of the DRAM
// bandwidth).
// Q4_K record, 2368 bytes (16 x 144 + 64: the 6-bit scales and mins stored as bytes):
//   [0, 32) d, fp16 [r];  [32, 64) dmin, fp16 [r]
//   [64, 192)     scales, u8 [j][r] (sub-block j < 8)
//   [192, 320)    mins, u8 [p][r][2]: the mins of sub-blocks 2p and 2p + 1
//   [320, 2368)   nibbles: 64 bytes per (sub-block j, chunk c), c < 4; lane r's byte b has
//                 element 32j + 4c + b in its low nibble and 32j + 16 + 4c + b in its high
// Q5_K record, 2880 bytes (16 x 176 + 64): Q4_K's first 320 bytes, then per sub-block j < 8
//   320 bytes at 320 + 320j: the nibbles as Q4_K's (64 bytes per chunk c < 4), then 64 bytes
//   of fifth bits, lane r's byte b holding that of element 32j + 4c + b in bit c and that
//   of 32j + 16 + 4c + b in bit 4 + c (Q5_0's arrangement below, per sub-block)
// Q6_K record, 3392 bytes (16 x 210 + 32: d stored as float):
//   [0, 64)       d, float [r]
//   [64, 320)     scales, i8 [p][r][2]: sub-blocks 2p and 2p + 1
//   [320, 3392)   192 bytes per sub-block j of 16 elements (j < 16): two 64-byte vectors of
//                 low 4 bits, lane r's byte b holding element 16j + b (low nibble) and
//                 16j + 4 + b (high nibble), then 16j + 8 + b and 16j + 12 + b; then 64
//                 bytes of high 2 bits, lane r's byte b holding those of elements 16j + b,
//                 +4, +8, +12 in bits 0-1, 2-3, 4-5, 6-7
// Q3_K record, 1856 bytes (16 x 110 + 96: d stored as float): Q6_K's first 320 bytes (d,
//   then the scales less 32 as i8 [p][r][2]), then 192 bytes per sub-block pair p < 8 at
//   320 + 192p, the quants u = q + 4 in [0, 8): 64 bytes for sub-block 2p, lane r's byte b
//   holding the low 2 bits of element 16j + 4k + b in bits 2k, 2k + 1 (k < 4); the same for
//   sub-block 2p + 1; then 64 bytes of third bits, lane r's byte b holding that of element
//   32p + 4k + b in bit k and that of 32p + 16 + 4k + b in bit 4 + k
// Q2_K record, 1408 bytes (16 x 84 + 64: d and dmin stored as float):
//   [0, 64) d, float [r];  [64, 128) dmin, float [r]
//   [128, 384) scale and min bytes as GGUF has them (scale low nibble, min high), [p][r][2]
//   [384, 1408) 128 bytes per sub-block pair p: sub-block 2p, then 2p + 1, each 64 bytes,
//   lane r's byte b holding the 2-bit quant of element 16j + 4k + b in bits 2k, 2k + 1
// Activations ("Q8_K panel"): per super-block a 320-byte record of the Q8_K quants the
// plain kernels use (same quantizer, so the integer sums are the plain path's exactly):
//   int8 qs[256], float d at 256, int16 bsum16[16] at 260 (sums of 16 quants),
//   int16 bsum32[8] at 292 (sums of 32), padding to 320.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace kiln::cpu {

constexpr int64_t kPackRows = 16;
constexpr int64_t kQ4KPackedBytes = 2368;
constexpr int64_t kQ5KPackedBytes = 2880;
constexpr int64_t kQ3KPackedBytes = 1856;
constexpr int64_t kQ2KPackedBytes = 1408;
constexpr int64_t kQ6KPackedBytes = 3392;
constexpr int64_t kPackedActBytes = 320;  // per 256 activations
constexpr int64_t kPackedActD = 256, kPackedActBsum16 = 260, kPackedActBsum32 = 292;
// Offsets inside the weight records.
constexpr int64_t kQ4KScales = 64, kQ4KMins = 192, kQ4KQuants = 320;
constexpr int64_t kQ4KSubBlockBytes = 256, kQ5KSubBlockBytes = 320;  // Q5_K: the same offsets
constexpr int64_t kQ6KScales = 64, kQ6KQuants = 320, kQ6KSubBlockBytes = 192;
constexpr int64_t kQ3KPairBytes = 192;  // Q3_K: scales and quants at Q6_K's offsets
constexpr int64_t kQ2KDmin = 64, kQ2KScales = 128, kQ2KQuants = 384, kQ2KPairBytes = 128;

// The legacy types (blocks of 32) in the same 16-row interleave, two blocks per record so
// that records stay 64-byte aligned (cols a multiple of 64). Nibbles as in Q4_K's
// sub-blocks: 64 bytes per chunk c < 4, lane r's byte b holding element 4c + b (low) and
// 16 + 4c + b (high), which is GGUF's own byte order, so packing moves whole dwords.
//   Q4_0, 576 bytes:  d fp16 [2 blocks][r] (64) | nibbles [2 blocks] (512)
//   Q4_1, 640 bytes:  d fp16 [2][r] (64) | m fp16 [2][r] (64) | nibbles [2] (512)
//   Q5_0, 704 bytes:  d fp16 [2][r] (64) | per block: nibbles (256), then fifth bits (64):
//                     lane r's byte b holds those of element 4c + b in bit c and of
//                     16 + 4c + b in bit 4 + c
//   Q8_0, 1088 bytes: d fp16 [2][r] (64) | per block 8 x 64 bytes, vector k lane r = the
//                     quants 4k..4k+3 of row r plus 128 (unsigned for vpdpbusd)
// Their activations are the legacy kernels' Q8 panel rows (vec_dot_internal.h), whose
// per-block bias takes the zero points (8, 0, 16, 128) back out.
constexpr int64_t kQ4_0PackedBytes = 576, kQ4_1PackedBytes = 640, kQ5_0PackedBytes = 704,
                  kQ8_0PackedBytes = 1088;

// Whether matmul has a packed kernel for this type and shape (Q2_K-Q6_K with cols a
// multiple of 256; Q4_0, Q4_1, Q5_0, Q8_0 with cols a multiple of 64; rows a multiple of
// 16). The kernels need AVX-512 with VNNI; callers check that separately.
bool weights_packable(DType type, int64_t rows, int64_t cols);
int64_t packed_weights_bytes(DType type, int64_t rows, int64_t cols);
// Bytes of one record and elements it covers (256 for the k-quants, 64 for the others).
int64_t packed_record_bytes(DType type);
int64_t packed_record_elements(DType type);
// Packs row groups [first_group, first_group + num_groups) of a plain GGUF matrix into
// their place in dst (the whole packed matrix), so callers can split the work.
void pack_weight_groups(DType type, const void* src, int64_t cols, int64_t first_group,
                        int64_t num_groups, void* dst);

// One activation row (n floats, n a multiple of 256) into n / 256 panel records: the
// scalar definition, and the same bytes with AVX-512 (what matmul uses).
void quantize_packed_act(const float* x, void* dst, int64_t n);
void quantize_packed_act_avx512(const float* x, void* dst, int64_t n);

// out[t * out_stride + r] = dot(row r, token t) for the num_groups x 16 rows starting at
// `groups` and num_tokens panel rows of act_stride bytes. A token's result does not depend
// on num_tokens or on its position. group_after: the matrix has a group after these, which
// the calling thread is likely to read next (prefetched with the last group, as every
// group prefetches its successor in a batched decode step). AVX-512 + VNNI.
using PackedGemmFn = void (*)(int64_t n, const void* groups, int64_t num_groups, const void* act,
                              int64_t act_stride, int64_t num_tokens, float* out,
                              int64_t out_stride, bool group_after);
PackedGemmFn packed_gemm_avx512(DType type);

}  // namespace kiln::cpu
