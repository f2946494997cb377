#include "core/cpu_isa.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "gpuformer/error.h"

namespace gf {
namespace {

// What the CPU and the OS support (libgcc's __builtin_cpu_supports checks XCR0, so a tier whose registers
// the OS does not save is never reported).
CpuIsaLevel detect_machine() {
  CpuIsaLevel m;
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512) {
    m.tier = CpuTier::Avx512;
    m.vnni = __builtin_cpu_supports("avx512vnni");
    m.bf16 = __builtin_cpu_supports("avx512bf16");
  } else if (avx2) {
    m.tier = CpuTier::Avx2;
    m.vnni = __builtin_cpu_supports("avxvnni");
  }
#endif
  return m;
}

// The sub-features a tier can use on this machine: VNNI means AVX512-VNNI at avx512 and AVX-VNNI at avx2.
CpuIsaLevel at_tier(CpuTier tier, const CpuIsaLevel& machine) {
  CpuIsaLevel l;
  l.tier = tier;
  if (tier == CpuTier::Avx512) {
    l.vnni = machine.vnni;
    l.bf16 = machine.bf16;
  } else if (tier == CpuTier::Avx2) {
#if defined(__x86_64__)
    l.vnni = __builtin_cpu_supports("avxvnni");
#endif
  }
  return l;
}

[[noreturn]] void bad_cap(const std::string& value, const std::string& why) {
  fail(ErrorCode::Input, "GPUFORMER_CPU_ISA='", value, "': ", why,
       " (expected portable, avx2 or avx512, optionally followed by ,novnni and/or ,nobf16)");
}

// Applies a GPUFORMER_CPU_ISA value to what the machine has.
CpuIsaLevel apply_cap(const std::string& value, const CpuIsaLevel& machine) {
  std::istringstream items(value);
  std::string item;
  bool first = true, vnni = true, bf16 = true;
  CpuTier tier = CpuTier::Portable;
  while (std::getline(items, item, ',')) {
    if (first) {
      if (item == "portable") tier = CpuTier::Portable;
      else if (item == "avx2") tier = CpuTier::Avx2;
      else if (item == "avx512") tier = CpuTier::Avx512;
      else bad_cap(value, "unknown tier '" + item + "'");
      first = false;
    } else if (item == "novnni") {
      vnni = false;
    } else if (item == "nobf16") {
      bf16 = false;
    } else {
      bad_cap(value, "unknown option '" + item + "'");
    }
  }
  if (first) bad_cap(value, "no tier given");
  if (tier > machine.tier) tier = machine.tier;
  CpuIsaLevel l = at_tier(tier, machine);
  l.vnni = l.vnni && vnni;
  l.bf16 = l.bf16 && bf16;
  return l;
}

}  // namespace

const char* cpu_tier_name(CpuTier tier) {
  switch (tier) {
    case CpuTier::Avx2: return "avx2";
    case CpuTier::Avx512: return "avx512";
    default: return "portable";
  }
}

const CpuIsa& cpu_isa() {
  static const CpuIsa isa = [] {
    CpuIsa r;
    r.machine = detect_machine();
    r.active = r.machine;
    const char* baseline = std::getenv("GPUFORMER_CPU_BASELINE");
    const char* cap = std::getenv("GPUFORMER_CPU_ISA");
    if (baseline && std::strcmp(baseline, "1") == 0) {
      r.cap = "GPUFORMER_CPU_BASELINE=1";
      r.active = CpuIsaLevel{};
    } else if (cap && *cap) {
      r.active = apply_cap(cap, r.machine);
      r.cap = std::string("GPUFORMER_CPU_ISA=") + cap;
    }
    return r;
  }();
  return isa;
}

}  // namespace gf
