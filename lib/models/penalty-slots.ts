/**
 * Which row of the device's token-count table (the counts that process_logits' penalties read; count_tokens
 * updates them) follows which sequence. A sequence with a penalty gets a row the first time it samples; from
 * then on each step counts only that step's new tokens into it (one per decode step), so no history is
 * uploaded twice. A sequence the table has not followed up to its step's start — its first sample after a
 * prefill in chunks or from the prefix cache, a recompute after preemption, or a row another sequence has
 * taken meanwhile — has its row cleared and caught up from its history once.
 *
 * The runner is never told that a sequence ended: rows are reassigned least recently used first, and never
 * while a sequence of the current step holds them (a step has at most maxNumSeqs sequences, the table as
 * many rows). Tokens are encoded as count_tokens reads them: t for an output token, ~t for a prompt token.
 */
import { inputError } from '../errors';

/** A sampling row of a step whose sequence has a penalty. */
export interface PenaltyRow {
  /** the sequence's id (unique) */
  id: number;
  /** the sequence's tokens: the prompt, then the generated ones (at least start + count) */
  tokens: readonly number[];
  promptLength: number;
  /** first position this step computes */
  start: number;
  /** tokens this step computes: tokens[start, start + count) */
  count: number;
}

/** What a step does to the table. */
export interface PenaltyPlan {
  /** the row of the table for each sampling row (-1 where the row has no penalty) */
  slots: Int32Array;
  /** rows to clear and fill with their sequence's tokens [0, start) before the step */
  catchUp: Array<{ slot: number; tokens: Int32Array }>;
  /** the step's own tokens, counted in the step: entries [offsets[r], offsets[r+1]) for sampling row r */
  offsets: Int32Array;
  tokens: Int32Array;
  /** (for commit / forget) the planned rows */
  rows: Array<PenaltyRow | null>;
}

/** count_tokens' encoding of the token at `position`: ~t inside the prompt, t after it. */
export const encodeCountedToken = (t: number, position: number, promptLength: number): number => (position < promptLength ? ~t : t);

function encodeRange(r: PenaltyRow, from: number, to: number, out: Int32Array, at: number): void {
  for (let p = from; p < to; p++) out[at + p - from] = encodeCountedToken(r.tokens[p], p, r.promptLength);
}

export class PenaltySlots {
  /** the sequence id each row follows (null: free) */
  private readonly owner: Array<number | null>;
  private readonly lastUse: number[];
  /** sequence id → its row and how many of its tokens that row has counted */
  private readonly followed = new Map<number, { slot: number; counted: number }>();
  private clock = 0;

  constructor(readonly numSlots: number) {
    this.owner = new Array(numSlots).fill(null);
    this.lastUse = new Array(numSlots).fill(-1);
  }

  /** Rows for a step's sampling rows (null: no penalty), and what must be counted before and during it. */
  plan(rows: Array<PenaltyRow | null>): PenaltyPlan {
    const inStep = new Set<number>();
    for (const r of rows) if (r) inStep.add(r.id);
    if (inStep.size > this.numSlots) throw inputError(`penalties: ${inStep.size} sequences exceed the ${this.numSlots} rows of token counts`);
    this.clock++;
    const slots = new Int32Array(rows.length).fill(-1);
    const catchUp: PenaltyPlan['catchUp'] = [];
    const offsets = new Int32Array(rows.length + 1);
    rows.forEach((r, i) => {
      offsets[i + 1] = offsets[i] + (r ? r.count : 0);
      if (!r) return;
      let f = this.followed.get(r.id);
      if (!f) {
        f = { slot: this.freeSlot(inStep), counted: -1 };
        this.followed.set(r.id, f);
        this.owner[f.slot] = r.id;
      }
      if (f.counted !== r.start) {
        const tokens = new Int32Array(r.start);
        encodeRange(r, 0, r.start, tokens, 0);
        catchUp.push({ slot: f.slot, tokens });
      }
      this.lastUse[f.slot] = this.clock;
      slots[i] = f.slot;
    });
    const tokens = new Int32Array(offsets[rows.length]);
    rows.forEach((r, i) => { if (r) encodeRange(r, r.start, r.start + r.count, tokens, offsets[i]); });
    return { slots, catchUp, offsets, tokens, rows };
  }

  /** The step ran: each planned row has counted its sequence up to the end of the step's tokens. */
  commit(plan: PenaltyPlan): void {
    for (const r of plan.rows) {
      const f = r && this.followed.get(r.id);
      if (f) f.counted = r.start + r.count;
    }
  }

  /** The step failed: its rows' counts may be half updated, so their sequences are caught up afresh if seen again. */
  forget(plan: PenaltyPlan): void {
    for (const r of plan.rows) {
      const f = r && this.followed.get(r.id);
      if (!f) continue;
      this.followed.delete(r!.id);
      this.owner[f.slot] = null;
    }
  }

  /** A free row, else the least recently used one that no sequence of this step holds. */
  private freeSlot(inStep: ReadonlySet<number>): number {
    let best = -1;
    for (let s = 0; s < this.numSlots; s++) {
      const o = this.owner[s];
      if (o === null) return s;
      if (!inStep.has(o) && (best < 0 || this.lastUse[s] < this.lastUse[best])) best = s;
    }
    this.followed.delete(this.owner[best]!);
    return best;
  }
}
