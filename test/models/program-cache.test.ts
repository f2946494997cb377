/**
 * ProgramCache: prepared programs by key, built only on a miss, the least recently used one disposed when
 * the cache is full, every one disposed (and its buffer references dropped) by dispose().
 */
import { native, Tensor } from '../../lib/native';
import type { Command } from '../../lib/native';
import { ProgramCache } from '../../lib/models/program-cache';

describe('ProgramCache', () => {
  test('builds on a miss, evicts the least recently used, disposes everything', () => {
    const before = native.memoryTotals('cpu');
    const x = Tensor.fromData('cpu', 'f32', [4], new Float32Array([1, -2, 3, -4]), 'activations');
    const out = Tensor.empty('cpu', 'f32', [4], 'activations');
    const builds: string[] = [];
    const build = (key: string) => (): Command[] => {
      builds.push(key);
      return [{ op: 'silu', x, out }];
    };
    const cache = new ProgramCache(2);
    const a = cache.get('a', build('a'));
    const b = cache.get('b', build('b'));
    expect(cache.get('a', build('a'))).toBe(a); // a hit: no build; a is now the most recently used
    const c = cache.get('c', build('c')); // full: b, the least recently used, goes
    expect(builds).toEqual(['a', 'b', 'c']);
    expect(b.length).toBe(0);
    expect([a.length, c.length]).toEqual([1, 1]);
    expect(cache.size).toBe(2);
    expect(cache.get('b', build('b'))).not.toBe(b); // rebuilt; a goes now
    expect(a.length).toBe(0);
    native.execSync(c);
    expect(new Float32Array(out.read())[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
    x.dispose();
    out.dispose();
    expect(native.memoryTotals('cpu').activations).toBeGreaterThan(before.activations); // held by the programs
    cache.dispose();
    expect(cache.size).toBe(0);
    expect(c.length).toBe(0);
    expect({ ...native.memoryTotals('cpu'), peak: 0 }).toEqual({ ...before, peak: 0 });
  });
});
