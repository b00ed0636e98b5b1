/**
 * ThrottledLog: log lines an attacker can cause at connection rate (refused
 * handshakes, failed authentication, TLS errors) without letting them flood
 * the log. Per kind of line, the first goes out at once; the rest within
 * `everyMs` are counted and summed up in one line when the window ends. At
 * most MAX_KINDS kinds are open at once (a kind may be made from a refusal's
 * reason); lines of further kinds share one window. Every line is a warning
 * (what strangers cause is refused), with the kind as a field.
 */
import type { LogFields, Logger } from './logger.js';

const MAX_KINDS = 64;

export class ThrottledLog {
  private readonly windows = new Map<string, { suppressed: number; timer: NodeJS.Timeout }>();

  constructor(private readonly log: Logger, private readonly everyMs = 10_000) {}

  say(kindOf: string, msg: string, fields?: LogFields): void {
    const kind = this.windows.has(kindOf) || this.windows.size < MAX_KINDS ? kindOf : 'other refusals';
    const w = this.windows.get(kind);
    if (w) {
      w.suppressed++;
      return;
    }
    this.log.warn(msg, { ...fields, kind });
    const timer = setTimeout(() => {
      const done = this.windows.get(kind);
      this.windows.delete(kind);
      if (done && done.suppressed > 0) this.log.warn(`(${done.suppressed} more ${kind} in the last ${Math.round(this.everyMs / 1000)} s)`, { kind, suppressed: done.suppressed });
    }, this.everyMs);
    timer.unref();
    this.windows.set(kind, { suppressed: 0, timer });
  }

  /** say() under a kind made of `what` and `reason` (numbers of 3+ digits folded: sizes, ports), so each reason gets its own window. */
  sayFor(what: string, reason: string, msg: string, fields?: LogFields): void {
    this.say(`${what} (${reason.replace(/\d{3,}/g, '#').slice(0, 80)})`, msg, fields);
  }

  close(): void {
    for (const w of this.windows.values()) clearTimeout(w.timer);
    this.windows.clear();
  }
}
