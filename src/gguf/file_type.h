// general.file_type: the llama.cpp "ftype" that names a file's dominant weight type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tensor/dtype.h"

namespace kiln::gguf {

// "Q4_K_M", "MOSTLY_F16"-style names without the prefix ("F16"); "unknown (N)" otherwise.
std::string file_type_name(int64_t file_type);
// The file type for a file whose weights are all `type`; nullopt if none exists.
std::optional<uint32_t> file_type_for(DType type);

}  // namespace kiln::gguf
