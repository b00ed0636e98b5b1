/**
 * Sender: one sending instance of a chaos app. While traffic is on it sends
 * at its rate (a token bucket ticked every ~5 ms) a mix of `sendTo(ref)`,
 * stateless `send(service)` and `request(ref | service)` to the receivers it
 * sees through its watch, and logs each outcome it can see (wire.ts):
 *
 *   - A right after a call returned without throwing. QueueFullError,
 *     AgentLostError and ClosedError mean "not accepted": the same sequence
 *     number is tried again on a later tick, so seq counts accepted messages.
 *   - request() never throws: a promise already rejected when it returns is
 *     the request's "throw" (not accepted). That is found out one microtask
 *     later with Promise.race against a resolved promise (an already-settled
 *     promise wins the race), and only then is A written.
 *   - B for each undeliverable$ report; R / T / J for each request's end.
 *   - D with flag m for any chaos message that reaches it (misdelivered: nobody sends to senders).
 *
 * In flood mode (a close-with-backlog fault) it sends only `sendTo` to one
 * receiver, as fast as the tx ring takes them, so it ends up blocked.
 */
import type { Subscription } from 'rxjs';
import type { Instance, InstanceRef } from '../../lib/index.js';
import type { EventLog } from './event-log.js';
import type { Prng } from './prng.js';
import {
  ANY_RECEIVER, AGENT_LETTERS, Kind, NO_AGENT, addr, agentIndexOf, decodeHeader, encodeMessage, messageId,
  receiverIndexOf, receiverService, serviceIndexOf, type KindName,
} from './wire.js';

export interface SenderOptions {
  app: number;
  inc: number;
  index: number;
  gen: number;
  /** Messages per second while traffic is on. */
  rate: number;
  requestTimeoutMs: number;
  /** At most this many requests in flight (then it sends other kinds). */
  maxRequests: number;
}

type Outcome = 'sent' | 'blocked' | 'idle';
const NOT_YET = Symbol('not settled');
const NOT_ACCEPTED = new Set(['QUEUE_FULL', 'AGENT_LOST', 'CLOSED', 'NO_ROUTE', 'NOT_WATCHED']);

export class Sender {
  private seq = 0;
  private readonly members: InstanceRef[][] = AGENT_LETTERS.map(() => []);
  private readonly subs: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private budget = 0;
  private last = performance.now();
  private inFlight = 0;
  private traffic = false;
  private flood: { target: number; until: number } | undefined;
  private ticking = false;

  constructor(
    readonly inst: Instance,
    readonly key: string,
    private readonly o: SenderOptions,
    private readonly rng: Prng,
    private readonly log: EventLog,
  ) {
    this.subs.push(inst.undeliverable$.subscribe((u) => {
      const h = decodeHeader(u.data);
      if (h) log.line('B', messageId(h), u.reason);
      else log.line('L', `${key} bounce of a foreign payload (${u.data.length} B, ${u.reason})`);
    }));
    // Nothing is addressed to a sender: whatever reaches it went to the wrong instance (e.g. a
    // stale ref whose localId an agent restart gave to this sender). Logged so it is not lost from view.
    this.subs.push(inst.messages$.subscribe((m) => {
      const h = decodeHeader(m.data);
      if (h) log.line('D', messageId(h), key, addr(agentIndexOf(m.to.agentId), m.to.localId), 'm');
    }));
    AGENT_LETTERS.forEach((_, svc) => {
      this.subs.push(inst.members$(receiverService(svc)).subscribe((refs) => { this.members[svc] = refs; }));
    });
  }

  setTraffic(on: boolean): void {
    this.traffic = on;
    this.last = performance.now();
    this.budget = 0;
    if (on) this.arm();
  }

  /** Send only to receiver `target`, as fast as accepted, for `ms`. */
  setFlood(target: number, ms: number): void {
    this.flood = { target, until: performance.now() + ms };
    this.arm();
  }

  stop(): void {
    this.traffic = false;
    this.flood = undefined;
    clearTimeout(this.timer);
    for (const s of this.subs) s.unsubscribe();
  }

  private arm(): void {
    if (!this.timer) this.timer = setTimeout(() => void this.tick(), 5);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = performance.now();
      if (this.flood && now > this.flood.until) this.flood = undefined;
      if (this.flood) {
        // until the ring pushes back (bounded per tick, so a fast receiver cannot starve the event loop)
        for (let n = 0; n < 2000 && (await this.sendOne(this.flood.target)) === 'sent'; n++);
      } else if (this.traffic) {
        this.budget = Math.min(this.budget + (this.o.rate * (now - this.last)) / 1000, Math.max(1, this.o.rate / 20));
        while (this.budget >= 1 && (await this.sendOne()) === 'sent') this.budget--;
      }
      this.last = now;
    } finally {
      this.ticking = false;
    }
    if (this.traffic || this.flood) this.arm();
  }

  /** Payload bytes of the message being sent (logged with its acceptance). */
  private bytes = 0;

  private size(): number {
    return this.rng.chance(0.01) ? this.rng.int(20 * 1024, 200 * 1024) : this.rng.int(32, 200);
  }

  /** One message (or none, when there is nobody to send to or the ring is full). */
  private sendOne(floodTarget?: number): Outcome | Promise<Outcome> {
    const all = this.members.flat();
    if (all.length === 0) return 'idle';
    let kind: KindName;
    let ref: InstanceRef | undefined;
    if (floodTarget !== undefined) {
      kind = 'sendTo';
      ref = all.find((r) => receiverIndexOf(r.userData) === floodTarget);
      if (!ref) return 'idle';
    } else {
      kind = this.rng.weighted<KindName>(['sendTo', 'send', 'request'], [5, 3, this.inFlight < this.o.maxRequests ? 2 : 0]);
      if (kind === 'sendTo' || (kind === 'request' && this.rng.chance(0.5))) ref = this.rng.pick(all);
    }
    const svc = ref ? serviceIndexOf(ref.service) : this.rng.int(0, AGENT_LETTERS.length - 1);
    const h = {
      app: this.o.app, inc: this.o.inc, sender: this.o.index, gen: this.o.gen, seq: this.seq, kind: Kind[kind],
      destService: svc,
      destReceiver: ref ? receiverIndexOf(ref.userData) : ANY_RECEIVER,
      destLocal: ref?.localId ?? 0,
      destAgent: ref ? agentIndexOf(ref.agentId) : NO_AGENT,
    };
    const payload = encodeMessage(h, this.size());
    const id = messageId(h);
    this.bytes = payload.length;
    if (kind === 'request') return this.request(id, svc, ref, payload);
    try {
      if (kind === 'sendTo') {
        this.inst.sendTo(ref!, payload);
        this.accepted(id, kind, svc, ref);
      } else {
        const routed = this.inst.send(receiverService(svc), payload);
        this.accepted(id, kind, svc, routed ?? undefined);
      }
      return 'sent';
    } catch (err) {
      return this.refused(err);
    }
  }

  private async request(id: string, svc: number, ref: InstanceRef | undefined, payload: Uint8Array): Promise<Outcome> {
    const p = this.inst.request(ref ?? receiverService(svc), payload, { timeoutMs: this.o.requestTimeoutMs });
    try {
      if ((await Promise.race([p, Promise.resolve(NOT_YET)])) !== NOT_YET) throw new Error('request settled at once');
    } catch (err) {
      return this.refused(err);
    }
    this.accepted(id, 'request', svc, ref);
    this.inFlight++;
    p.then(
      () => this.log.line('R', id),
      (err: { code?: string }) => this.log.line(err.code === 'TIMEOUT' ? 'T' : 'J', id, ...(err.code === 'TIMEOUT' ? [] : [err.code ?? 'ERROR'])),
    ).finally(() => this.inFlight--);
    return 'sent';
  }

  private accepted(id: string, kind: KindName, svc: number, ref: InstanceRef | undefined): void {
    this.log.line('A', id, kind, svc, ref ? `r${receiverIndexOf(ref.userData)}` : '*', ref ? addr(agentIndexOf(ref.agentId), ref.localId) : '-', this.bytes);
    this.seq++;
  }

  private refused(err: unknown): Outcome {
    const code = (err as { code?: string }).code ?? '';
    if (!NOT_ACCEPTED.has(code)) this.log.line('L', `${this.key} send failed: ${code} ${(err as Error).message}`);
    return 'blocked';
  }
}
