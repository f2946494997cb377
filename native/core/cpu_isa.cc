#include "core/cpu_isa.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "gpuformer/error.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

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
#elif defined(__aarch64__) && defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
  if (hwcap & HWCAP_ASIMD) {
    m.tier = CpuTier::Neon;
    m.dotprod = (hwcap & HWCAP_ASIMDDP) != 0;
  }
#elif defined(__aarch64__)
  m.tier = CpuTier::Neon;  // Advanced SIMD is part of every AArch64 ABI
#if defined(__APPLE__)
  int dotprod = 0;
  size_t size = sizeof dotprod;
  m.dotprod = sysctlbyname("hw.optional.arm.FEAT_DotProd", &dotprod, &size, nullptr, 0) == 0 && dotprod != 0;
#endif
#endif
  return m;
}

// Whether a tier is one of this architecture's (portable is everyone's).
bool tier_of_this_cpu(CpuTier tier) {
#if defined(__x86_64__)
  return tier != CpuTier::Neon;
#elif defined(__aarch64__)
  return tier == CpuTier::Portable || tier == CpuTier::Neon;
#else
  return tier == CpuTier::Portable;
#endif
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
  } else if (tier == CpuTier::Neon) {
    l.dotprod = machine.dotprod;
  }
  return l;
}

[[noreturn]] void bad_cap(const std::string& value, const std::string& why) {
  fail(ErrorCode::Input, "GPUFORMER_CPU_ISA='", value, "': ", why,
       " (expected portable, avx2, avx512 or neon, optionally followed by ,novnni, ,nobf16 and/or ,nodotprod)");
}

// Applies a GPUFORMER_CPU_ISA value to what the machine has.
CpuIsaLevel apply_cap(const std::string& value, const CpuIsaLevel& machine) {
  std::istringstream items(value);
  std::string item;
  bool first = true, vnni = true, bf16 = true, dotprod = true;
  CpuTier tier = CpuTier::Portable;
  while (std::getline(items, item, ',')) {
    if (first) {
      if (item == "portable") tier = CpuTier::Portable;
      else if (item == "avx2") tier = CpuTier::Avx2;
      else if (item == "avx512") tier = CpuTier::Avx512;
      else if (item == "neon") tier = CpuTier::Neon;
      else bad_cap(value, "unknown tier '" + item + "'");
      first = false;
    } else if (item == "novnni") {
      vnni = false;
    } else if (item == "nobf16") {
      bf16 = false;
    } else if (item == "nodotprod") {
      dotprod = false;
    } else {
      bad_cap(value, "unknown option '" + item + "'");
    }
  }
  if (first) bad_cap(value, "no tier given");
  if (!tier_of_this_cpu(tier)) tier = CpuTier::Portable;
  if (tier > machine.tier) tier = machine.tier;
  CpuIsaLevel l = at_tier(tier, machine);
  l.vnni = l.vnni && vnni;
  l.bf16 = l.bf16 && bf16;
  l.dotprod = l.dotprod && dotprod;
  return l;
}

}  // namespace

const char* cpu_tier_name(CpuTier tier) {
  switch (tier) {
    case CpuTier::Avx2: return "avx2";
    case CpuTier::Avx512: return "avx512";
    case CpuTier::Neon: return "neon";
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
