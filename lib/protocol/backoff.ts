/**
 * Backoff: the one capped, jittered exponential back-off every reconnect and
 * retry loop uses (the agent's registries and links, the client's reconnect).
 * Each delay is "equal jitter": half the current step plus a random half of
 * it, so a crowd of clients that failed together spreads out but none waits
 * less than half a step; the step doubles from `minMs` up to `maxMs`.
 *
 *   const b = new Backoff(100, 2000);
 *   for (;;) { try { return await dial(); } catch { await sleep(b.next()); } }
 */
export class Backoff {
  private step: number;

  constructor(readonly minMs: number, readonly maxMs: number, private readonly random: () => number = Math.random) {
    if (!(minMs > 0) || !(maxMs >= minMs)) throw new RangeError(`back-off from ${minMs} to ${maxMs} ms: need 0 < min <= max`);
    this.step = minMs;
  }

  /** The delay before the next try (in [step/2, step)); the step then doubles, up to maxMs. */
  next(): number {
    const delay = this.step / 2 + this.random() * (this.step / 2);
    this.step = Math.min(this.step * 2, this.maxMs);
    return delay;
  }

  /** It worked: the next failure starts again from minMs. */
  reset(): void {
    this.step = this.minMs;
  }
}
