/**
 * The CPU kernel tier (native/core/cpu_isa.h): devices() reports the tier and sub-features in use and the
 * machine's; GPUFORMER_CPU_ISA caps them (never above the machine), GPUFORMER_CPU_BASELINE=1 means portable,
 * and a value that names no tier fails the addon's load with a coded error that says what is accepted.
 * Each setting needs a fresh process (the tier is fixed at load): test/ops/tiers.ts starts them.
 */
import { cpuDevice, describeCpuIsa } from '../../lib/devices';
import type { CpuIsa } from '../../lib/native';
import { runChild } from '../ops/tiers';

// this architecture's tiers, lowest first; the other architecture's tier names mean portable here
const TIERS = process.arch === 'arm64' ? ['portable', 'neon'] : ['portable', 'avx2', 'avx512'];
const FOREIGN = process.arch === 'arm64' ? 'avx2' : 'neon';
const isaUnder = (env: { GPUFORMER_CPU_ISA?: string; GPUFORMER_CPU_BASELINE?: string }): CpuIsa => {
  const reply = runChild<number>(env, 'tiers.ts', 'probe', 0);
  if (!reply.ok) throw new Error(reply.error);
  return reply.isa!;
};

describe('CPU kernel tier', () => {
  const machine = cpuDevice().isa.machine;

  test('devices() reports the tier and sub-features in use and the machine\'s', () => {
    const isa = cpuDevice().isa;
    expect(TIERS).toContain(isa.tier);
    expect(TIERS).toContain(machine.tier);
    expect(TIERS.indexOf(isa.tier)).toBeLessThanOrEqual(TIERS.indexOf(machine.tier));
    if (isa.bf16) expect(isa.tier).toBe('avx512');
    if (isa.dotprod) expect(isa.tier).toBe('neon');
    expect(describeCpuIsa(isa)).toMatch(new RegExp(`^${isa.tier}`));
  });

  test('GPUFORMER_CPU_ISA caps the tier at the machine\'s; novnni / nobf16 / nodotprod drop the sub-features', () => {
    for (const tier of TIERS) {
      const isa = isaUnder({ GPUFORMER_CPU_ISA: tier });
      const expected = TIERS[Math.min(TIERS.indexOf(tier), TIERS.indexOf(machine.tier))];
      expect(isa.tier).toBe(expected);
      expect(isa.machine).toEqual(machine);
      expect(isa.cap).toBe(`GPUFORMER_CPU_ISA=${tier}`);
      if (tier === 'portable') expect(isa).toMatchObject({ vnni: false, bf16: false, dotprod: false });
      if (isa.cap !== '' && isa.tier !== machine.tier) expect(describeCpuIsa(isa)).toContain('the machine has');
    }
    expect(isaUnder({ GPUFORMER_CPU_ISA: 'avx512,novnni,nobf16' })).toMatchObject({ vnni: false, bf16: false });
    expect(isaUnder({ GPUFORMER_CPU_ISA: 'avx512,nobf16' })).toMatchObject({ bf16: false });
    expect(isaUnder({ GPUFORMER_CPU_ISA: 'neon,nodotprod' })).toMatchObject({ dotprod: false });
    expect(isaUnder({ GPUFORMER_CPU_ISA: FOREIGN })).toMatchObject({ tier: 'portable', vnni: false, bf16: false, dotprod: false });
  });

  test('GPUFORMER_CPU_BASELINE=1 runs the portable kernels', () => {
    expect(isaUnder({ GPUFORMER_CPU_BASELINE: '1' })).toMatchObject(
      { tier: 'portable', vnni: false, bf16: false, dotprod: false, cap: 'GPUFORMER_CPU_BASELINE=1' });
  });

  test.each(['avx3', 'AVX2', 'avx2,fast', ','])('GPUFORMER_CPU_ISA=%p fails the load with ERR_GPUFORMER_INPUT', (value) => {
    const reply = runChild<number>({ GPUFORMER_CPU_ISA: value }, 'tiers.ts', 'probe', 0);
    expect(reply.ok).toBe(false);
    expect(reply.code).toBe('ERR_GPUFORMER_INPUT');
    expect(reply.error).toContain(`GPUFORMER_CPU_ISA='${value}'`);
    expect(reply.error).toMatch(/expected portable, avx2, avx512 or neon/);
  });
});
