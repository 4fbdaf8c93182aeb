// What the CPU *and the OS* let us run, detected once at start-up. AVX state must be
// enabled in XCR0 (a VM may hide it even where CPUID advertises the instructions).
#pragma once

#include <string>

namespace kiln {

struct CpuFeatures {
  bool avx2 = false;      // AVX2 + FMA + F16C, with OS support for YMM state
  bool avx512 = false;    // AVX-512 F/BW/VL/DQ, with OS support for ZMM state
  bool avx512_vnni = false;
  bool amx_int8 = false;  // advertised; permission is requested separately
  std::string describe() const;
};

// Detected once; thread-safe.
const CpuFeatures& cpu_features();

// Kernel instruction-set tiers, best last. Dispatch picks the best the CPU allows, capped
// by KILN_ISA=scalar|avx2|avx512 in the environment (for tests and bisecting).
enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
const char* isa_name(Isa isa);
Isa best_isa();                 // honours KILN_ISA
bool isa_supported(Isa isa);    // what the hardware/OS allow, ignoring KILN_ISA

}  // namespace kiln
