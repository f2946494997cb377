/**
 * Stop strings over streamed text: text is released as soon as it cannot be the start of a stop string,
 * and generation ends before the first occurrence of any of them (the stop string itself is not emitted,
 * as in the OpenAI API and vLLM, unless includeStop says so: vLLM's include_stop_str_in_output).
 */
export class StopStringMatcher {
  private text = '';
  private emitted = 0;
  /** a match must end past this offset: text pushed with detect = false is not searched (vLLM's min_tokens) */
  private searchedFrom = 0;
  private readonly longest: number;

  constructor(private readonly stops: string[], private readonly includeStop = false) {
    this.longest = stops.reduce((a, s) => Math.max(a, s.length), 0);
  }

  /**
   * Adds a piece of generated text. Returns the text that is safe to emit now, and whether a stop string
   * was found (then `emit` ends right before it, or right after it with includeStop, and nothing more should
   * be generated). With `final`, all held-back text is released. With `detect` false the piece is released
   * at once and never searched (the tokens before min_tokens).
   */
  push(piece: string, final = false, detect = true): { emit: string; stopped: boolean } {
    this.text += piece;
    if (this.stops.length === 0) return this.release(this.text.length, false);
    if (!detect) {
      this.searchedFrom = this.text.length;
      return this.release(this.text.length, false);
    }
    // a match can start at most longest-1 characters before the text not yet emitted
    const from = Math.max(0, this.emitted - this.longest + 1);
    let at = -1;
    let len = 0;
    for (const s of this.stops) {
      const i = this.text.indexOf(s, Math.max(from, this.searchedFrom - s.length + 1));
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        len = s.length;
      }
    }
    if (at >= 0) return this.release(Math.max(this.includeStop ? at + len : at, this.emitted), true);
    if (final) return this.release(this.text.length, false);
    return this.release(this.text.length - this.heldBack(), false);
  }

  /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
  private heldBack(): number {
    const max = Math.min(this.longest - 1, this.text.length - this.emitted);
    for (let n = max; n > 0; n--) {
      const tail = this.text.slice(this.text.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }

  private release(upTo: number, stopped: boolean): { emit: string; stopped: boolean } {
    const emit = this.text.slice(this.emitted, upTo);
    this.emitted = Math.max(this.emitted, upTo);
    // keep only what a future match could still need
    const keep = Math.max(0, this.emitted - this.longest);
    if (keep > 4096) {
      this.text = this.text.slice(keep);
      this.emitted -= keep;
      this.searchedFrom = Math.max(0, this.searchedFrom - keep);
    }
    return { emit, stopped };
  }
}
