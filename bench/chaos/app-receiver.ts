/**
 * Receiver: one receiving instance of a chaos app. Inside its `messages$`
 * handler it logs the delivery (D) before doing anything else, with its own
 * checks as flags:
 *   m  not meant for this instance (another receiver's name, or another service)
 *   i  addressed to an address this incarnation never held (another incarnation's ref)
 *   c  payload not intact (length or padding)
 *   o  not after the previous message of the same sender incarnation (order per pair)
 * then answers requests (`m.reply`). The accounting repeats the m/i/o checks
 * from the senders' logs; the flags are a cross-check written by the side
 * that holds the message.
 *
 * Faults it plays: `pause(ms)` unsubscribes messages$ for a while (a receiver
 * that stops reading), `slow(ms, perMsgMs)` blocks the thread per message
 * (a slow receiver whose ring fills up behind it).
 */
import type { Subscription } from 'rxjs';
import type { Instance, InstanceRef, Message } from '../../lib/index.js';
import type { EventLog } from './event-log.js';
import { ANY_RECEIVER, NO_AGENT, addr, agentIndexOf, bodyIntact, decodeHeader, messageId, senderKey, serviceIndexOf } from './wire.js';

const REPLY = new Uint8Array([1, 2, 3, 4]);

export class Receiver {
  private sub: Subscription | undefined;
  private readonly lastSeq = new Map<string, number>();
  /** Every address this incarnation held (agent:localId). */
  private readonly held = new Set<string>();
  private slowUntil = 0;
  private perMsgMs = 0;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  private resumeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly inst: Instance,
    readonly key: string,
    private readonly index: number,
    private readonly log: EventLog,
  ) {}

  /** Record the address it is online at (startup, and after each reconnect). */
  online(ref: InstanceRef): void {
    this.held.add(addr(agentIndexOf(ref.agentId), ref.localId));
  }

  read(): void {
    if (!this.sub) this.sub = this.inst.messages$.subscribe((m) => this.onMessage(m));
  }

  /** Stop reading for `ms`, then read again. */
  pause(ms: number): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.log.line('L', `${this.key} paused ${ms} ms`);
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      this.log.line('L', `${this.key} reads again`);
      this.read();
    }, ms);
  }

  slow(ms: number, perMsgMs: number): void {
    this.slowUntil = performance.now() + ms;
    this.perMsgMs = perMsgMs;
    this.log.line('L', `${this.key} slow ${perMsgMs} ms/msg for ${ms} ms`);
  }

  stop(): void {
    clearTimeout(this.resumeTimer);
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  private onMessage(m: Message): void {
    const h = decodeHeader(m.data);
    if (!h) {
      this.log.line('L', `${this.key} foreign message (${m.data.length} B)`);
      return;
    }
    const me = m.to;
    const here = addr(agentIndexOf(me.agentId), me.localId);
    this.held.add(here);
    let flags = '';
    const mine = h.destReceiver === ANY_RECEIVER ? h.destService === serviceIndexOf(me.service) : h.destReceiver === this.index;
    if (!mine) flags += 'm';
    if (h.destAgent !== NO_AGENT && !this.held.has(addr(h.destAgent, h.destLocal))) flags += 'i';
    if (!bodyIntact(m.data, h)) flags += 'c';
    const from = senderKey(h.app, h.inc, h.sender, h.gen);
    const last = this.lastSeq.get(from);
    if (last !== undefined && h.seq <= last) flags += 'o';
    else this.lastSeq.set(from, h.seq);
    this.log.line('D', messageId(h), this.key, here, flags || '-');
    if (m.isRequest) {
      try {
        m.reply(REPLY);
      } catch { /* a full or lost ring: the requester times out; the delivery is logged above */ }
    }
    if (this.slowUntil > 0) {
      if (performance.now() < this.slowUntil) Atomics.wait(this.sleeper, 0, 0, this.perMsgMs);
      else this.slowUntil = 0;
    }
  }
}
