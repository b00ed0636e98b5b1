/**
 * RingPump: the agent's data loop. Woken by its doorbell, it drains every
 * instance's tx ring through the Router, flushes staging batches into rx
 * rings, and when there is nothing left parks on every tx ring and sleeps on
 * the doorbell (an idle agent uses no CPU). Destinations that are full are
 * retried on a short timer until they drain.
 */
import type { Doorbell, RecordVisitor } from '../native/index.js';
import type { LocalInstance } from './local-instance.js';
import type { Router } from './router.js';

/** Bytes read from one tx ring per round, so one busy sender cannot starve the others. */
const ROUND_BUDGET = 256 * 1024;
const RETRY_MS = 1;

export class RingPump {
  private scheduled = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly visitors = new WeakMap<LocalInstance, RecordVisitor>();
  private stopped = false;

  constructor(
    private readonly instances: ReadonlyMap<number, LocalInstance>,
    private readonly router: Router,
    bell: Doorbell,
  ) {
    bell.listen(() => this.schedule());
  }

  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
  }

  private visitorFor(src: LocalInstance): RecordVisitor {
    let v = this.visitors.get(src);
    if (!v) {
      v = (type, body) => this.router.forward(src, type, body);
      this.visitors.set(src, v);
    }
    return v;
  }

  private run(): void {
    this.scheduled = false;
    if (this.stopped) return;
    let work = 0;
    for (const src of this.instances.values()) {
      if (src.state === 'gone' || src.blockedOn) continue;
      try {
        work += src.tx.drain(this.visitorFor(src), ROUND_BUDGET);
      } catch (err) {
        this.onFault(src, err as Error);
      }
    }
    let pending = false;
    for (const dest of this.instances.values()) {
      if (dest.staging.length === 0 && dest.overflow.length === 0) continue;
      if (dest.flush()) {
        for (const w of dest.waiters) w.blockedOn = null;
        if (dest.waiters.size) work++;
        dest.waiters.clear();
      } else {
        pending = true;
      }
    }
    if (work > 0 || pending) this.onActivity();
    if (work > 0) return this.schedule();
    if (pending) {
      if (!this.retry) this.retry = setTimeout(() => { this.retry = undefined; this.schedule(); }, RETRY_MS);
      return;
    }
    for (const src of this.instances.values()) {
      if (src.state !== 'gone' && !src.blockedOn && !src.tx.park()) return this.schedule();
    }
  }

  /** Called after each round that moved or staged data (load reporting). */
  onActivity: () => void = () => {};

  /** A tx ring that cannot be read (corrupt): handled by the owner of the instance. */
  onFault: (src: LocalInstance, err: Error) => void = () => {};
}
