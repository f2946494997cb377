/** The benchmark's job planning and its report: pure functions of the command line and the run records. */
import { parseArgs } from '../../bench/e2e/args';
import { otherCpuShare, readCpu } from '../../bench/e2e/machine';
import type { CatalogEntry } from '../../bench/e2e/catalog';
import { planJobs } from '../../bench/e2e/plan';
import { summarize } from '../../bench/e2e/stats';
import type { ConcurrencyPoint, JobResult } from '../../bench/e2e/types';
import { goals, renderRun, slowerThanPeers, type RunRecord } from '../../bench/report/markdown';
import { floorRows, renderGpuFloors } from '../../bench/report/gpu';
import { renderFaultTests, renderLoadTests, type FaultTestRecord, type LoadTestRecord } from '../../bench/report/side-results';

function decoder(id: string, reduced?: CatalogEntry['reduced']): CatalogEntry {
  return {
    id, kind: 'decoder', weights: 'f16', about: id, runs: { cpu: 'full' }, reduced, maxModelLen: 1024,
    path: async () => `/models/${id}`,
    peers: [{ engine: 'node-llama-cpp', devices: ['cpu'], path: async () => `/models/${id}.gguf` }],
    vocabSize: () => 1000,
  };
}

describe('job planning', () => {
  it('runs 1, 8 and 64 streams on the CPU, 1 and 8 in a quick run', async () => {
    const full = planJobs(parseArgs([]), [decoder('a')]);
    expect(full.map((j) => j.engine)).toEqual(['gpuformer', 'node-llama-cpp']);
    const job = await full[0].build();
    expect(job.generate?.concurrency).toEqual([1, 8, 64]);
    expect(job.generate?.prefillLens).toEqual([128, 512]);
    expect(job.model.path).toBe('/models/a');
    expect((await full[1].build()).model.path).toBe('/models/a.gguf');
    const quick = await planJobs(parseArgs(['--quick']), [decoder('a')])[0].build();
    expect(quick.generate?.concurrency).toEqual([1, 8]);
  });

  it('gives a model reduced on the device the quick sizes, with the full repetition policy, and says so', async () => {
    const [g] = planJobs(parseArgs([]), [decoder('big', ['cpu'])]);
    expect(g.reduced).toBe(true);
    const job = await g.build();
    expect(job.generate).toMatchObject({ prefillLens: [128], concurrency: [1, 8], decode: { promptLen: 32, tokens: 32 } });
    expect(job.policy.maxSeconds).toBeGreaterThan(4);
    expect(planJobs(parseArgs(['--device', 'cuda']), [{ ...decoder('big', ['cpu']), runs: { cuda: 'full' } }])[0].reduced).toBe(false);
  });

  it('keeps the sections it is told to', async () => {
    const job = await planJobs(parseArgs(['--only', 'decode']), [decoder('a')])[0].build();
    expect(job.generate).toMatchObject({ prefillLens: [], concurrency: [], decode: { tokens: 128 } });
    expect(parseArgs(['--note', 'machine otherwise idle']).note).toBe('machine otherwise idle');
  });
});

const s = (x: number) => summarize([x]);
const conc = (c: number, tokensPerSec: number): ConcurrencyPoint => ({
  concurrency: c, requests: c, generatedTokens: 10 * c, wallSeconds: (10 * c) / tokensPerSec, tokensPerSec,
  ttftMs: s(100), interTokenMs: s(20),
});

function result(engine: JobResult['engine'], id: string, over: Partial<JobResult>): JobResult {
  return {
    engine, engineVersion: `${engine} 1`, device: 'cpu', threads: 2, ok: true, notes: [], wallSeconds: 1,
    model: { id, kind: 'decoder', path: '/x', weights: 'q4_1' }, ...over,
  };
}

function run(results: JobResult[]): RunRecord {
  return {
    schema: 1, command: 'npm run bench', args: parseArgs([]), startedAt: '2026-11-23T01:00:00.000Z', finishedAt: '2026-11-23T01:20:00.000Z',
    note: 'the machine was otherwise idle',
    machine: { cpuModel: 'CPU', cores: 2, memoryBytes: 2 ** 34, platform: 'linux', node: 'v20', gpuformerCommit: 'abc', dirty: false, loadAverage: { start: 0.1, end: 0.9 } },
    results,
  };
}

describe('report', () => {
  const records = run([
    result('gpuformer', 'm', {
      prefill: [{ promptLen: 128, seconds: s(0.5), tokensPerSec: 256 }],
      decode: { promptLen: 32, tokens: 32, tokensPerSec: s(40), interTokenMs: s(25) },
      concurrency: [conc(1, 40), conc(8, 120), conc(64, 100)],
    }),
    result('node-llama-cpp', 'm', {
      prefill: [{ promptLen: 128, seconds: s(1), tokensPerSec: 128 }],
      decode: { promptLen: 32, tokens: 32, tokensPerSec: s(50), interTokenMs: s(20) },
      concurrency: [conc(1, 50), conc(8, 100), conc(64, 150)],
    }),
  ]);

  it('lists every comparison gpuformer loses, with both numbers, and none it wins', () => {
    expect(slowerThanPeers(records)).toEqual([
      'm decode: gpuformer 40 tokens/s, node-llama-cpp 50 (0.80×)',
      'm 1 streams: gpuformer 40 tokens/s (all streams), node-llama-cpp 50 (0.80×)',
      'm 64 streams: gpuformer 100 tokens/s (all streams), node-llama-cpp 150 (0.67×)',
    ]);
    const noted = run(records.results.map((r) => ({ ...r, notes: ['m ran the quick sizes'] })));
    const md = renderRun(noted, null);
    expect(md).toContain('- m ran the quick sizes (gpuformer, node-llama-cpp)');
    expect(md).toContain('Conditions: the machine was otherwise idle');
    expect(md).toContain('**Where gpuformer is slower than a peer in this run**');
  });

  it('judges the goals on the numbers: quantized decode and growth with concurrency', () => {
    const g = goals([records]);
    expect(g.find((x) => x.goal.includes('quantized'))?.status).toBe('not met (m 0.80×)');
    // 40 → 120 → 100 tokens/s: the step from 8 to 64 streams loses
    expect(g.find((x) => x.goal.includes('grows with concurrent streams'))?.status).toMatch(/^not met \(m \(40 → 120 → 100 tokens\/s at 1\/8\/64 streams\) 0\.83×\)$/);
    expect(g.find((x) => x.goal.includes('GPU embedding'))?.status).toBe('not measured yet');
  });

  it('puts each GPU decode beside its floor: weight bytes ÷ copy bandwidth per token, N tokens per that time for N streams', () => {
    const gpuRun: RunRecord = {
      ...run([
        result('gpuformer', 'llama-7b (random, f16)', {
          device: 'cuda', model: { id: 'llama-7b (random, f16)', kind: 'decoder', path: '/x', weights: 'f16' },
          engineMemory: { weightsBytes: 13.5e9 },
          decode: { promptLen: 32, tokens: 32, tokensPerSec: s(225), interTokenMs: s(4.4) },
          concurrency: [conc(1, 225), conc(64, 12000)],
        }),
        result('pytorch', 'llama-7b (random, f16)', {
          device: 'cuda', decode: { promptLen: 32, tokens: 32, tokensPerSec: s(47), interTokenMs: s(21) }, engineMemory: { weightsBytes: 13.5e9 },
        }),
      ]),
      args: parseArgs(['--device', 'cuda']), copyBytesPerSec: 4.5e12,
    };
    const [row] = floorRows([gpuRun, records]);  // the CPU run has no floor
    expect(row.floorSeconds).toBeCloseTo(3e-3, 12);  // 13.5 GB ÷ 4.5 TB/s
    expect(row.ofFloor).toBeCloseTo(0.675, 12);  // 225 tokens/s ÷ 333.3
    expect(row.streams.find((x) => x.n === 64)!.ofFloor).toBeCloseTo((12000 * 3e-3) / 64, 12);
    const md = renderGpuFloors([gpuRun]);
    expect(md).toContain('| llama-7b (random, f16) | 13.50 GB | 4,500 GB/s | 3 ms (333) | 4.44 ms (225) | 68 % | 47 |');
    expect(md).toContain('| llama-7b (random, f16) | 64 | 12,000 | 21,333 | 56 % | 20 ms | 3 ms |');
    expect(renderGpuFloors([records])).toBe('');
    const g = goals([gpuRun]);
    expect(g.find((x) => x.goal.includes('Llama-2-7B-shape'))?.status).toBe('not met (llama-7b (random, f16) 0.79×)');
    expect(g.find((x) => x.goal.includes('GPU quantized'))?.status).toBe('not measured yet');
  });

  it('judges issue 14\'s goals only on runs whose CPU kernels ran at the AVX-512 tier', () => {
    const avx512 = { ...records, machine: { ...records.machine, cpuKernels: 'avx512 + vnni + bf16' } };
    const g = goals([avx512]);
    // decode 40 vs 50 tokens/s, prefill 256 vs 128: the worst (0.8×) decides
    expect(g.find((x) => x.goal.includes('≥ 3 × node-llama-cpp'))?.status).toBe('not met (m 0.80×, m prefill 128 2.00×)');
    expect(g.find((x) => x.goal.includes('bf16 mode'))?.status).toBe('not measured yet');
    const avx2 = { ...records, machine: { ...records.machine, cpuKernels: 'avx2 + vnni' } };
    expect(goals([avx2]).find((x) => x.goal.includes('≥ 3 × node-llama-cpp'))?.status).toBe('not measured yet');
  });

  it('judges the GPU prefill goals of issue 18 on the prompt tokens/s of the newest CUDA run', () => {
    const cudaRun = {
      ...run([result('gpuformer', 'llama-3.2-1b (random, f16)', { device: 'cuda', prefill: [{ promptLen: 512, seconds: s(0.005), tokensPerSec: 100_000 }] }),
        result('gpuformer', 'llama-7b (random, f16)', { device: 'cuda', prefill: [{ promptLen: 128, seconds: s(0.005), tokensPerSec: 25_000 }] })]),
      args: parseArgs(['--device', 'cuda']),
    };
    const g = goals([cudaRun]);
    expect(g.find((x) => x.goal.includes('150,000'))?.status).toBe('not met (llama-3.2-1b (random, f16) 512-token prompts 100,000 tokens/s 0.67×)');
    expect(g.find((x) => x.goal.includes('Llama-2-7B shape 128-token'))?.status).toBe('met (llama-7b (random, f16) 128-token prompts 25,000 tokens/s 1.25×)');
    expect(goals([records]).find((x) => x.goal.includes('150,000'))?.status).toBe('not measured yet');
  });

  it('renders load tests, and says plainly when the server did not go back to its baseline', () => {
    const base: LoadTestRecord = {
      bench: 'load-test', date: '2026-11-23T01:30:00.000Z', command: 'node bench/e2e/load-test.mjs --concurrency 8',
      machine: { cpu: 'CPU', cores: 2, node: 'v20', loadAverage: { before: 0, after: 1 } }, model: 'm', endpoint: 'completions',
      maxTokens: 64, concurrency: 8, requests: 100, failed: 0, wallSeconds: 50, requestsPerSecond: 2, outputTokensPerSecond: 128,
      ttftMs: { p50: 100, p90: 200, p99: 300 }, interTokenMs: { p50: 50, p90: 60, p99: 70 },
      baseline: { kvBlocksUsed: 0 }, after: { kvBlocksUsed: 0 }, backToBaseline: true,
      serverMemory: { baselineRssBytes: 100 * 2 ** 20, peakRssBytes: 200 * 2 ** 20, afterRssBytes: 150 * 2 ** 20 },
    };
    const ok = renderLoadTests([{ file: 'bench/results/load-test.json', record: base }]);
    expect(ok).toContain('| 8 | 100 (0) | 2.00 | 128.0 | 100.0 / 200.0 / 300.0 | 50.0 / 60.0 / 70.0 | 100 MiB / 200 MiB / 150 MiB | yes |');
    const leaked = renderLoadTests([{ file: 'x.json', record: { ...base, after: { kvBlocksUsed: 3 }, backToBaseline: false } }]);
    expect(leaked).toContain('**no**: {"kvBlocksUsed":3}');
    expect(renderLoadTests([])).toBe('');
  });

  it('renders fault tests with each scenario, and says plainly when one failed or the server did not go back', () => {
    const base: FaultTestRecord = {
      bench: 'fault-test', date: '2026-12-04T20:10:00.000Z', command: 'node bench/e2e/fault-test.mjs --model m',
      machine: { cpu: 'CPU', cores: 2, node: 'v20', loadAverage: { before: 12.5, after: 13 } }, model: 'm', kind: 'generation',
      requestTimeoutSeconds: 2, wallSeconds: 61.4,
      scenarios: [
        { name: 'concurrent streams', count: 64, failed: 0, requestsPerSecond: 1.5, latencyMs: { p50: 100, p90: 200, p99: 250, max: 300 } },
        { name: '/health during them', count: 50, failed: 0, latencyMs: { p50: 1.2, p90: 5, p99: 9, max: 13.6 } },
      ],
      after: { kvBlocksUsed: 0 }, backToBaseline: true, passed: true,
      serverMemory: { baselineRssBytes: 100 * 2 ** 20, peakRssBytes: 300 * 2 ** 20, afterRssBytes: 200 * 2 ** 20, maxGrowthBytes: 256 * 2 ** 20 },
    };
    const ok = renderFaultTests([{ file: 'bench/results/fault-test.json', record: base }]);
    expect(ok).toContain('- 2026-12-04 20:10 UTC · m (generation) · **passed** in 61 s (load average 12.5 → 13.0 on 2 cores); back to baseline: yes; ' +
      'server RSS 100 MiB / 300 MiB / 200 MiB (before / peak / after) — [json](bench/results/fault-test.json), `node bench/e2e/fault-test.mjs --model m`');
    expect(ok).toContain('  - concurrent streams: 64 (0 failed), 1.50 requests/s; ms p50 / p90 / max 100.0 / 200.0 / 300.0');
    expect(ok).toContain('  - /health during them: 50 (0 failed); ms p50 / p90 / max 1.2 / 5.0 / 13.6');
    const failed = renderFaultTests([{ file: 'x.json', record: { ...base, passed: false, backToBaseline: false, after: { kvBlocksUsed: 3 } } }]);
    expect(failed).toContain('**FAILED**');
    expect(failed).toContain('back to baseline: **no**: {"kvBlocksUsed":3}');
    expect(renderFaultTests([])).toBe('');
  });
});

describe('other processes\' CPU share', () => {
  const at = (s: number) => BigInt(Math.round(s * 1e9));
  it('is the machine\'s busy time less our own, over cores × wall time', () => {
    const a = { machineBusySeconds: 100, ownSeconds: 10, at: at(0) };
    // 10 s on 2 cores: the machine was busy 15 CPU-seconds, 10 of them ours
    expect(otherCpuShare(a, { machineBusySeconds: 115, ownSeconds: 20, at: at(10) }, 2)).toBeCloseTo(0.25, 12);
    expect(otherCpuShare(a, { machineBusySeconds: 110, ownSeconds: 20.5, at: at(10) }, 2)).toBe(0); // tick rounding never goes negative
    expect(otherCpuShare(a, undefined, 2)).toBeUndefined();
    expect(otherCpuShare(a, { ...a }, 2)).toBeUndefined();
  });

  it('reads /proc where there is one', () => {
    const r = readCpu();
    if (process.platform !== 'linux') return expect(r).toBeUndefined();
    expect(r!.machineBusySeconds).toBeGreaterThan(0);
    expect(r!.ownSeconds).toBeGreaterThanOrEqual(0);
  });
});
