/**
 * ViewCache: one view per (buffer, offset, shape), the same tensor until release() finds more than `max`
 * kept (then every one is disposed and the next request makes a fresh one), all disposed by dispose(); the
 * views read the buffer's current bytes, so a step that writes the buffer again reuses them.
 */
import { native, Tensor } from '../../lib/native';
import { ViewCache } from '../../lib/models/activations';

describe('ViewCache', () => {
  test('hands out one view per offset and shape, trims between steps past its size, disposes everything', () => {
    const before = native.memoryTotals('cpu');
    const a = Tensor.fromData('cpu', 'f32', [8], new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]), 'workspace');
    const b = Tensor.empty('cpu', 'f32', [8], 'workspace');
    const cache = new ViewCache(3);
    const v = cache.view(a, 2, [2, 2]);
    expect(cache.view(a, 2, [2, 2])).toBe(v);
    expect(Array.from(new Float32Array(v.read()))).toEqual([2, 3, 4, 5]);
    const others = [cache.view(a, 2, [4]), cache.view(a, 0, [2, 2]), cache.view(b, 2, [2, 2])];
    expect(new Set([v, ...others]).size).toBe(4); // another shape, offset or buffer: another view
    a.write(new Float32Array([9, 9, 9, 9, 9, 9, 9, 9]));
    expect(Array.from(new Float32Array(cache.view(a, 2, [2, 2]).read()))).toEqual([9, 9, 9, 9]); // the buffer's bytes now
    cache.release(); // 4 kept, more than 3: all go
    expect([v, ...others].every((t) => t.disposed)).toBe(true);
    const fresh = cache.view(a, 2, [2, 2]);
    expect(fresh).not.toBe(v);
    cache.release(); // 1 kept: stays
    expect(fresh.disposed).toBe(false);
    expect(cache.view(a, 2, [2, 2])).toBe(fresh);
    cache.dispose();
    expect(fresh.disposed).toBe(true);
    a.dispose();
    b.dispose();
    expect({ ...native.memoryTotals('cpu'), peak: 0 }).toEqual({ ...before, peak: 0 });
  });
});
