// The element type K and V rows are stored in. The attention kernels read it directly,
// converting in registers; rows are written from float by convert_kv_row (attention.h).
#pragma once

#include <cstdint>

namespace kiln::cpu {

enum class KvDType : uint8_t { kF32, kF16, kBF16 };

inline int64_t kv_dtype_bytes(KvDType t) { return t == KvDType::kF32 ? 4 : 2; }

}  // namespace kiln::cpu
