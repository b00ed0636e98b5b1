/**
 * PendingRequests: an instance's requests waiting for replies, by correlation
 * id (one map, no listener per request). Deadlines sit in a timing wheel of
 * TICK_MS slots with one timer for the whole instance, armed for the earliest
 * slot, instead of a `setTimeout` per request: starting and settling a request
 * costs a Set insert and delete, not a timer object (measured: DESIGN-NOTES
 * "Request path"). The timer stays armed when the last request settles, only
 * unref'd (so one request in flight at a time does not make a timer each), and
 * is not re-armed once it fires with nothing waiting: an idle instance keeps no
 * timer, and never holds the process open.
 * A request therefore times out between `timeoutMs` and `timeoutMs + TICK_MS`
 * after it started. Whichever way it settles (reply, bounce, timeout, abort,
 * close) its slot entry and abort listener are released.
 */
import { ClosedError, TimeoutError } from '../protocol/errors.js';
import type { InstanceRef, Message } from './message.js';

/** Width of a wheel slot: how late a timeout may fire. */
export const TICK_MS = 10;

interface Pending {
  resolve(m: Message): void;
  reject(e: Error): void;
  slot: number;
  label: string;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Send it once more after a bounce that proves it was never handed out (used once). */
  retry: Retry | undefined;
  /** When it was sent (performance.now()). */
  sentAt: number;
}

/** Weight of the newest reply time in the running average. */
const EWMA_WEIGHT = 1 / 8;

/** Re-send a bounced request (returned `payload`, from instance `from`) under the same correlation id; false: it could not. */
export type Retry = (from: InstanceRef, payload: Uint8Array, corr: number) => boolean;

export class PendingRequests {
  private readonly map = new Map<number, Pending>();
  /** Correlation ids by slot (deadline / TICK_MS, rounded up). */
  private readonly slots = new Map<number, Set<number>>();
  private timer: NodeJS.Timeout | undefined;
  /** The slot the timer is armed for. */
  private armedFor = Infinity;
  private nextCorr = 1;
  /** How long replies have been taking (ms; a running average, 0 before the first): the Mesh polls for a reply only when it is likely to come within its window. */
  typicalReplyMs = 0;

  get size(): number {
    return this.map.size;
  }

  /** Register a request under a fresh correlation id; `send(corr)` puts it on the wire (a throw rejects it). */
  start(label: string, timeoutMs: number, signal: AbortSignal | undefined, send: (corr: number) => void, retry?: Retry): Promise<Message> {
    if (signal?.aborted) return Promise.reject(new ClosedError('request aborted'));
    const corr = this.nextCorr;
    this.nextCorr = this.nextCorr >= 0xfffffff0 ? 1 : this.nextCorr + 1;
    return new Promise<Message>((resolve, reject) => {
      const now = performance.now();
      const slot = Math.ceil((now + timeoutMs) / TICK_MS);
      const p: Pending = { resolve, reject, slot, label, timeoutMs, signal, onAbort: undefined, retry, sentAt: now };
      this.map.set(corr, p);
      this.enter(slot, corr);
      if (signal) {
        p.onAbort = (): void => this.settle(corr)?.reject(new ClosedError('request aborted'));
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      try {
        send(corr);
      } catch (err) {
        this.settle(corr)?.reject(err as Error);
      }
    });
  }

  /** Take a pending request out, releasing its slot entry and abort listener. */
  settle(corr: number): Pick<Pending, 'resolve' | 'reject'> | undefined {
    const p = this.map.get(corr);
    if (!p) return undefined;
    this.map.delete(corr);
    const set = this.slots.get(p.slot);
    if (set) {
      set.delete(corr);
      if (set.size === 0) this.slots.delete(p.slot);
    }
    if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
    if (this.map.size === 0) this.timer?.unref();
    return p;
  }

  /** Its reply came: settle it, and count how long it took into typicalReplyMs. */
  replied(corr: number): Pick<Pending, 'resolve' | 'reject'> | undefined {
    const p = this.map.get(corr);
    if (!p) return undefined;
    const took = performance.now() - p.sentAt;
    this.typicalReplyMs = this.typicalReplyMs === 0 ? took : this.typicalReplyMs + (took - this.typicalReplyMs) * EWMA_WEIGHT;
    return this.settle(corr);
  }

  /** A request bounced before anyone took it: re-send it once (its retry), keeping its deadline. True if it went again. */
  retry(corr: number, from: InstanceRef, payload: Uint8Array): boolean {
    const p = this.map.get(corr);
    const again = p?.retry;
    if (!p || !again) return false;
    p.retry = undefined;
    return again(from, payload, corr);
  }

  rejectAll(err: Error): void {
    for (const corr of [...this.map.keys()]) this.settle(corr)?.reject(err);
  }

  private enter(slot: number, corr: number): void {
    let set = this.slots.get(slot);
    if (!set) {
      set = new Set();
      this.slots.set(slot, set);
    }
    set.add(corr);
    if (slot < this.armedFor) this.arm(slot);
    else this.timer!.ref(); // armed earlier: it fires first, then re-arms for this slot
  }

  private arm(slot: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = slot;
    this.timer = setTimeout(() => this.expire(), Math.max(0, slot * TICK_MS - performance.now()));
  }

  /** The timer fired: time out every request whose slot has passed, then arm for the earliest left. */
  private expire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const due = performance.now() / TICK_MS;
    let next = Infinity;
    for (const [slot, set] of this.slots) {
      if (slot > due) {
        if (slot < next) next = slot;
        continue;
      }
      for (const corr of set) {
        const p = this.map.get(corr);
        if (!p) continue;
        this.settle(corr);
        p.reject(new TimeoutError(`request to ${p.label} timed out after ${p.timeoutMs} ms`));
      }
    }
    if (next !== Infinity && this.timer === undefined) this.arm(next);
  }
}
