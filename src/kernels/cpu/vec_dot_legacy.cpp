// Registry of the Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 kernels, per ISA.
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/vec_dot_internal.h"

namespace kiln::cpu {
namespace {

constexpr int kArchReqXcompPerm = 0x1023;  // arch_prctl: request an XSAVE feature
constexpr int kXfeatureXtiledata = 18;     // the AMX tile data state

// NOTE: off by default. The AMX path is bit-exact and ~20% faster than VNNI on an
// isolated 64x64 tile, but measured no faster end to end (SmolLM2-135M pp512): both paths
// are bound by the per-32-element float epilogue, which AMX does not shorten.
std::atomic<bool>& amx_switch() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("KILN_AMX");
    return env != nullptr && std::strcmp(env, "1") == 0;
  }()};
  return on;
}

}  // namespace

bool amx_int8_available() {
  // NOTE: Linux keeps AMX state off until a process asks for it; without the grant the
  // first tile instruction faults. The grant is process-wide, so asking once suffices.
  static const bool granted = cpu_features().amx_int8 && isa_supported(Isa::kAvx512) &&
                              syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return granted;
}

bool amx_enabled() { return amx_switch().load(std::memory_order_relaxed) && amx_int8_available(); }

void set_amx_enabled(bool enabled) { amx_switch().store(enabled, std::memory_order_relaxed); }

int64_t q8_panel_row_bytes(int64_t n) { return (n / kQK * kQ8PanelRecordBytes + 63) / 64 * 64; }

const VecDotKernel* legacy_vec_dot_kernel(DType weight_type, Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return legacy_kernel_scalar(weight_type);
    case Isa::kAvx2:
      return legacy_kernel_avx2(weight_type);
    case Isa::kAvx512:
      return legacy_kernel_avx512(weight_type);
  }
  return nullptr;
}

}  // namespace kiln::cpu
