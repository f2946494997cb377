/**
 * cpuFmaPeak (native/cpu/fma_peak.h), the benchmarks' measured peak: it reports the active tier's FMA width
 * and the pool's threads, a positive rate, and refuses a duration outside (0, 10] s. Nothing here depends on
 * how fast the machine is.
 */
import { CpuIsa, native } from '../../lib/native';

describe('cpuFmaPeak', () => {
  it('measures at the active tier\'s vector width on every pool thread', () => {
    const p = native.cpuFmaPeak(0.01);
    const { tier } = (native.devices().devices[0] as { isa: CpuIsa }).isa;
    expect(p.lanes).toBe(tier === 'avx512' ? 16 : tier === 'avx2' ? 8 : 1);
    expect(p.threads).toBe(native.numThreads());
    expect(p.gflops).toBeGreaterThan(0);
    expect(p.seconds).toBeGreaterThan(0);
  });

  it('refuses a duration outside (0, 10] seconds', () => {
    for (const bad of [0, -1, 11, NaN]) expect(() => native.cpuFmaPeak(bad)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT' }));
  });
});
