/**
 * The scheduler without any model. A simulated KV cache records, for every slot a step writes, which token
 * at which position under which prefix it holds; the simulated model computes each next token FROM THOSE
 * SLOTS, so a wrong block table, a wrongly shared block or a lost block changes the output. Scenario tests
 * pin chunked prefill, decode-first, preemption with recompute, FCFS and the length limits; randomized
 * workloads (thousands of requests, random lengths, shared prefixes, aborts, cache sizes) check the
 * invariants at every step.
 */
import { Scheduler, SchedulerConfig, SchedulerStep } from '../../lib/engine/scheduler';
import { Sequence } from '../../lib/engine/sequence';
import { rng as mulberry32 } from '../helpers/random';
import { samplingParams } from '../helpers/sampling';

const VOCAB = 50;

/** Rolling fingerprint of a token prefix (what a slot's keys and values depend on). */
const extend = (h: number, token: number) => (Math.imul(h ^ token, 0x01000193) + 0x9e3779b9) >>> 0;

/** Next token of a sequence, from its prefix fingerprint and last token (a deterministic "model"). */
const nextToken = (fingerprint: number, last: number) => ((fingerprint >>> 7) + last * 7) % VOCAB;

/** The tokens a sequence generates when run alone: the reference for everything batched. */
function reference(prompt: number[], maxTokens: number, maxModelLen: number, stop: Set<number>): number[] {
  const toks = [...prompt];
  let h = 0;
  for (const t of toks) h = extend(h, t);
  const out: number[] = [];
  while (true) {
    const t = nextToken(h, toks[toks.length - 1]);
    out.push(t);
    toks.push(t);
    if (stop.has(t) || out.length >= maxTokens || toks.length >= maxModelLen) return out;
    h = extend(h, t);
  }
}

/** A failed invariant (plain throws: the hot loops run millions of checks, too many for expect()). */
function check(ok: boolean, message: () => string): void {
  if (!ok) throw new Error(message());
}

interface Slot { token: number; pos: number; fingerprint: number }

/** Runs scheduled steps against a simulated paged cache; checks the invariants of each step. */
class Simulator {
  readonly slots: Array<Slot | null>;
  readonly outputs = new Map<number, number[]>();
  readonly finish = new Map<number, string>();
  admissionLog: number[] = [];
  steps = 0;

  constructor(readonly sched: Scheduler, readonly cfg: SchedulerConfig) {
    this.slots = new Array(cfg.numBlocks * cfg.blockSize).fill(null);
  }

  step(): SchedulerStep {
    const s = this.sched;
    const waitingBefore = s.waitingQueue().map((q) => q.id);
    const step = s.schedule();
    this.steps++;
    this.checkStep(step, waitingBefore);
    const sampled = step.scheduled.map((x) => this.compute(x.seq, x.start, x.numTokens, x.sample));
    for (const o of s.update(step, sampled)) {
      this.outputs.get(o.seq.id)!.push(o.tokenId);
      if (o.finishReason) this.finish.set(o.seq.id, o.finishReason);
    }
    this.checkBlocks();
    return step;
  }

  /** Prefix fingerprints of each sequence's tokens, extended as tokens arrive: fp[p] covers tokens[0..p]. */
  private readonly fingerprints = new Map<Sequence, number[]>();

  private fingerprintsOf(seq: Sequence): number[] {
    let fp = this.fingerprints.get(seq);
    if (!fp) this.fingerprints.set(seq, (fp = []));
    for (let p = fp.length; p < seq.tokens.length; p++) fp.push(extend(p ? fp[p - 1] : 0, seq.tokens[p]));
    return fp;
  }

  /** Writes the slots of positions [start, start+n) and samples from the slots if asked. */
  private compute(seq: Sequence, start: number, n: number, sample: boolean): number {
    const bs = this.cfg.blockSize;
    const table = this.sched.blockTable(seq);
    const fp = this.fingerprintsOf(seq);
    // the prefix must already be in the cache, exactly: read it back through the block table
    for (let p = 0; p < start; p++) {
      const slot = this.slots[table[Math.floor(p / bs)] * bs + (p % bs)];
      if (slot === null || slot.pos !== p || slot.token !== seq.tokens[p] || slot.fingerprint !== fp[p]) {
        throw new Error(`seq ${seq.id} position ${p}: slot holds ${JSON.stringify(slot)}, not token ${seq.tokens[p]} after its prefix`);
      }
    }
    for (let p = start; p < start + n; p++) {
      this.slots[table[Math.floor(p / bs)] * bs + (p % bs)] = { token: seq.tokens[p], pos: p, fingerprint: fp[p] };
    }
    // the model reads its context from the cache, not from the sequence
    const last = this.slots[table[Math.floor((start + n - 1) / bs)] * bs + ((start + n - 1) % bs)]!;
    return sample ? nextToken(last.fingerprint, last.token) : -1;
  }

  private checkStep(step: SchedulerStep, waitingBefore: number[]): void {
    const { maxNumBatchedTokens, maxNumSeqs, maxModelLen, blockSize } = this.cfg;
    const total = step.scheduled.reduce((n, x) => n + x.numTokens, 0);
    check(total === step.numTokens, () => `step counts ${step.numTokens} tokens, its sequences ${total}`);
    check(total <= maxNumBatchedTokens, () => `step of ${total} tokens exceeds the budget ${maxNumBatchedTokens}`);
    check(step.scheduled.length <= maxNumSeqs && this.sched.numRunning <= maxNumSeqs, () => 'more sequences than maxNumSeqs');
    // FCFS: the admitted are exactly the head of the waiting queue as it stood (after re-queued preemptions)
    if (step.admitted.length) {
      check(step.preempted.length === 0, () => 'admitted in a step that preempted');
      const ids = step.admitted.map((q) => q.id).join();
      check(ids === waitingBefore.slice(0, step.admitted.length).join(), () => `admitted ${ids}, waiting head was ${waitingBefore.slice(0, 8).join()}`);
      this.admissionLog.push(...step.admitted.map((q) => q.id));
    }
    const seen = new Set<number>();
    for (const x of step.scheduled) {
      check(!seen.has(x.seq.id), () => `seq ${x.seq.id} scheduled twice`);
      seen.add(x.seq.id);
      check(x.numTokens > 0 && x.start === x.seq.numComputed, () => `seq ${x.seq.id}: bad chunk ${x.start}+${x.numTokens}`);
      check(x.start + x.numTokens <= Math.min(x.seq.tokens.length, maxModelLen), () => `seq ${x.seq.id} computes past its tokens or maxModelLen`);
      check(x.sample === (x.start + x.numTokens === x.seq.tokens.length), () => `seq ${x.seq.id}: wrong sample flag`);
      check(this.sched.blockTable(x.seq).length >= Math.ceil((x.start + x.numTokens) / blockSize), () => `seq ${x.seq.id}: block table too short`);
    }
    // nothing starves: if anything is running, the step does work
    check(this.sched.numRunning === 0 || step.scheduled.length > 0, () => 'sequences run but the step is empty');
    // decodes come first in the batch
    const firstPrefill = step.scheduled.findIndex((x) => x.numTokens > 1 || !x.sample);
    if (firstPrefill >= 0) {
      const laterDecode = step.scheduled.slice(firstPrefill).findIndex((x) => x.numTokens === 1 && x.sample && x.start >= x.seq.promptLength && !step.admitted.includes(x.seq));
      check(laterDecode === -1, () => 'a decode after a prefill chunk');
    }
  }

  /** Reference counts match the tables; a block in two tables sits at the same index under equal prefixes. */
  private checkBlocks(): void {
    const bs = this.cfg.blockSize;
    const users = new Map<number, Array<{ seq: Sequence; index: number }>>();
    for (const seq of this.sched.runningQueue()) {
      this.sched.blockTable(seq).forEach((b, index) => {
        if (!users.has(b)) users.set(b, []);
        users.get(b)!.push({ seq, index });
      });
    }
    for (const seq of this.sched.waitingQueue()) check(this.sched.blockTable(seq).length === 0, () => `waiting seq ${seq.id} holds blocks`);
    let used = 0;
    for (const [b, list] of users) {
      used++;
      check(this.sched.kv.refCount(b) === list.length, () => `block ${b}: refCount ${this.sched.kv.refCount(b)}, ${list.length} tables`);
      const [first, ...rest] = list;
      for (const u of rest) {
        check(u.index === first.index, () => `block ${b} shared at different positions`);
        const end = (first.index + 1) * bs;
        for (let p = 0; p < end; p++) {
          if (u.seq.tokens[p] !== first.seq.tokens[p]) throw new Error(`block ${b} shared by seqs ${u.seq.id} and ${first.seq.id} whose prefixes differ at ${p}`);
        }
      }
    }
    const st = this.sched.kv.stats();
    check(st.used === used && st.used + st.cached + st.free === st.total, () => `block counts ${JSON.stringify(st)}, ${used} in tables`);
  }
}

function newSeq(id: number, prompt: number[], maxTokens: number, bs: number, stop: number[] = []) {
  return new Sequence(id, { promptIds: prompt, maxTokens, stopTokenIds: stop, sampling: samplingParams() }, bs);
}

const baseCfg: SchedulerConfig = { maxNumBatchedTokens: 32, maxNumSeqs: 4, maxModelLen: 128, blockSize: 4, numBlocks: 64, enablePrefixCaching: true };
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => (from + i) % VOCAB);

function setup(cfg: Partial<SchedulerConfig> = {}) {
  const c = { ...baseCfg, ...cfg };
  const sched = new Scheduler(c);
  const sim = new Simulator(sched, c);
  let nextId = 0;
  const add = (prompt: number[], maxTokens: number, stop: number[] = []) => {
    const seq = newSeq(nextId++, prompt, maxTokens, c.blockSize, stop);
    sched.add(seq);
    sim.outputs.set(seq.id, []);
    return seq;
  };
  const drain = (limit = 10000) => {
    let n = 0;
    while (sched.hasWork()) {
      sim.step();
      if (++n > limit) throw new Error('the scheduler does not finish');
    }
  };
  return { cfg: c, sched, sim, add, drain };
}

describe('Scheduler scenarios', () => {
  it('prefills a long prompt in chunks and samples only after the last chunk', () => {
    const { sched, sim, add } = setup({ maxNumBatchedTokens: 32 });
    const seq = add(range(0, 100), 3);
    const chunks: Array<[number, number, boolean]> = [];
    while (sched.hasWork()) {
      const step = sim.step();
      for (const x of step.scheduled) chunks.push([x.start, x.numTokens, x.sample]);
    }
    expect(chunks).toEqual([[0, 32, false], [32, 32, false], [64, 32, false], [96, 4, true], [100, 1, true], [101, 1, true]]);
    expect(sim.outputs.get(seq.id)).toEqual(reference(range(0, 100), 3, 128, new Set()));
    expect(sim.finish.get(seq.id)).toBe('length');
  });

  it('decodes running sequences before prefilling, and shares the rest of the budget in arrival order', () => {
    const { sched, sim, add } = setup({ maxNumBatchedTokens: 16 });
    add(range(0, 4), 10);
    sim.step(); // a prefilled, now decoding
    add(range(10, 40), 5); // b: long prompt
    add(range(20, 4), 5); // c: waits behind b (FCFS), though it would fit
    const step = sim.step();
    expect(step.scheduled.map((x) => [x.seq.id, x.numTokens])).toEqual([[0, 1], [1, 15]]);
    expect(sched.numWaiting).toBe(1);
    const step2 = sim.step();
    expect(step2.scheduled.map((x) => [x.seq.id, x.numTokens])).toEqual([[0, 1], [1, 15]]);
    const step3 = sim.step(); // b's last 10 tokens, then c gets the rest
    expect(step3.scheduled.map((x) => [x.seq.id, x.numTokens])).toEqual([[0, 1], [1, 10], [2, 4]]);
  });

  it('preempts the newest sequence when blocks run out and recomputes it with its generated tokens', () => {
    // 6 blocks of 4 tokens: three sequences of 8-token prompts fit, but not once they grow
    const { sched, sim, add, drain } = setup({ numBlocks: 6, maxNumBatchedTokens: 64, enablePrefixCaching: false });
    const prompts = [range(0, 8), range(13, 8), range(29, 8)];
    const seqs = prompts.map((p) => add(p, 12));
    const preempted: number[] = [];
    while (sched.hasWork()) preempted.push(...sim.step().preempted.map((s) => s.id));
    expect(preempted.length).toBeGreaterThan(0);
    expect(preempted[0]).toBe(2); // the newest goes first
    seqs.forEach((s, i) => {
      expect(sim.outputs.get(s.id)).toEqual(reference(prompts[i], 12, 128, new Set()));
      expect(sim.finish.get(s.id)).toBe('length');
    });
    expect(seqs[2].preemptions).toBeGreaterThan(0);
    expect(seqs[0].preemptions).toBe(0);
    expect(sched.kv.stats()).toMatchObject({ used: 0, free: 6 });
    drain();
  });

  it('reuses the blocks of a shared prefix', () => {
    const { sched, sim, add, drain } = setup();
    const system = range(5, 16);
    const a = add([...system, 1, 2, 3], 2);
    drain();
    const b = add([...system, 4, 5], 2);
    const step = sim.step();
    expect(step.scheduled[0]).toMatchObject({ start: 16, numTokens: 2 });
    drain();
    expect(sim.outputs.get(b.id)).toEqual(reference([...system, 4, 5], 2, 128, new Set()));
    expect(sim.outputs.get(a.id)).toEqual(reference([...system, 1, 2, 3], 2, 128, new Set()));
    expect(sched.kv.stats().hitTokens).toBe(16);
  });

  it('finishes at a stop token (emitted) and at maxModelLen', () => {
    const { sim, add, drain } = setup({ maxModelLen: 20 });
    const prompt = range(3, 6);
    const ref = reference(prompt, 100, 20, new Set());
    expect(ref).toHaveLength(14);
    const stopAt = ref[4];
    const s1 = add(prompt, 100, [stopAt]);
    const s2 = add(prompt, 100);
    drain();
    expect(sim.outputs.get(s1.id)).toEqual(ref.slice(0, ref.indexOf(stopAt) + 1));
    expect(sim.finish.get(s1.id)).toBe('stop');
    expect(sim.outputs.get(s2.id)).toEqual(ref);
    expect(sim.finish.get(s2.id)).toBe('length');
  });

  it('aborts free blocks at once, waiting or running', () => {
    const { sched, sim, add, drain } = setup({ maxNumSeqs: 1 });
    const a = add(range(0, 10), 50);
    const b = add(range(1, 10), 50);
    sim.step();
    expect(sched.kv.stats().used).toBe(3);
    sched.abort(a);
    expect(sched.kv.stats().used).toBe(0);
    expect(a.finishReason).toBe('abort');
    sched.abort(b);
    expect(sched.hasWork()).toBe(false);
    drain();
  });

  it('refuses requests that could never run', () => {
    const { sched } = setup({ maxModelLen: 32, numBlocks: 4 });
    expect(() => sched.add(newSeq(0, range(0, 32), 1, 4))).toThrow(/maxModelLen is 32/);
    expect(() => sched.add(newSeq(1, range(0, 10), 10, 4))).toThrow(/needs 5 KV blocks of 4 tokens; the cache has 4/);
    expect(() => sched.add(newSeq(2, [], 10, 4))).toThrow(/empty/);
    expect(() => new Scheduler({ ...baseCfg, maxNumBatchedTokens: 2, maxNumSeqs: 4 })).toThrow(/at least maxNumSeqs/);
  });

  it('never admits past a waiting head that does not fit yet', () => {
    const { sched, sim, add } = setup({ numBlocks: 8, maxNumBatchedTokens: 64 });
    add(range(0, 20), 4);   // 5 blocks + growth
    const big = add(range(7, 24), 2); // needs 7 blocks: waits
    add(range(9, 2), 2);    // small, fits, but must not jump the queue
    sim.step();
    expect(sched.waitingQueue().map((s) => s.id)).toEqual([big.id, 2]);
  });
});

describe('Scheduler on random workloads', () => {
  const runWorkload = (seed: number, numRequests: number) => {
    const rand = mulberry32(seed);
    const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
    const blockSize = [1, 2, 4, 8, 16][int(0, 4)];
    const maxModelLen = int(24, 160);
    const maxNumSeqs = int(1, 12);
    const maxNumBatchedTokens = int(maxNumSeqs, 96);
    const minBlocks = Math.ceil(maxModelLen / blockSize);
    const numBlocks = int(minBlocks, minBlocks * 4);
    const { sched, sim, add } = setup({ blockSize, maxModelLen, maxNumSeqs, maxNumBatchedTokens, numBlocks, enablePrefixCaching: rand() < 0.8 });
    // a few shared prefixes make prefix-cache hits (and sharing) common
    const prefixes = Array.from({ length: 4 }, () => Array.from({ length: int(0, 40) }, () => int(0, VOCAB - 1)));
    const live: Sequence[] = [];
    const all: Array<{ seq: Sequence; prompt: number[]; aborted: boolean; stop: number[] }> = [];
    let added = 0;
    let guard = 0;
    while (added < numRequests || sched.hasWork()) {
      if (++guard > 200000) throw new Error('no progress');
      // arrivals: bursts of up to 6 requests
      if (added < numRequests && rand() < 0.5) {
        for (let k = int(1, 6); k > 0 && added < numRequests; k--) {
          const prefix = prefixes[int(0, prefixes.length - 1)].slice(0, maxModelLen - 2);
          const tail = Array.from({ length: int(1, 30) }, () => int(0, VOCAB - 1));
          const prompt = [...prefix, ...tail].slice(0, int(1, maxModelLen - 1));
          const stop = rand() < 0.3 ? [int(0, VOCAB - 1)] : [];
          const seq = add(prompt, int(1, 40), stop);
          live.push(seq);
          all.push({ seq, prompt, aborted: false, stop });
          added++;
        }
      }
      // aborts, of waiting and running sequences alike
      if (live.length && rand() < 0.05) {
        const victim = live[int(0, live.length - 1)];
        if (!victim.isFinished) {
          sched.abort(victim);
          all.find((r) => r.seq === victim)!.aborted = true;
        }
      }
      if (sched.hasWork()) sim.step();
      for (let i = live.length - 1; i >= 0; i--) if (live[i].isFinished) live.splice(i, 1);
    }
    // every request finished or was aborted; finished ones produced exactly the tokens they produce alone
    for (const r of all) {
      expect(r.seq.isFinished).toBe(true);
      const out = sim.outputs.get(r.seq.id)!;
      const ref = reference(r.prompt, r.seq.maxTokens, maxModelLen, new Set(r.stop));
      if (r.aborted) {
        expect(r.seq.finishReason).toBe('abort');
        expect(out).toEqual(ref.slice(0, out.length));
      } else {
        expect(out).toEqual(ref);
        expect(r.seq.finishReason).toBe(sim.finish.get(r.seq.id));
      }
    }
    // first admissions happen in arrival order
    const first = [...new Set(sim.admissionLog)];
    expect(first).toEqual([...first].sort((a, b) => a - b));
    // every block came back
    const st = sched.kv.stats();
    expect(st.used).toBe(0);
    expect(st.free + st.cached).toBe(st.total);
    return { steps: sim.steps, preemptions: sched.numPreemptions, hitRate: st.hitRate };
  };

  it('keeps every invariant over thousands of requests', () => {
    let preemptions = 0;
    let hits = 0;
    let requests = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const r = runWorkload(seed, 250);
      preemptions += r.preemptions;
      hits += r.hitRate > 0 ? 1 : 0;
      requests += 250;
    }
    expect(requests).toBeGreaterThanOrEqual(3000);
    // the workloads did exercise preemption and prefix caching
    expect(preemptions).toBeGreaterThan(0);
    expect(hits).toBeGreaterThan(0);
  });
});
