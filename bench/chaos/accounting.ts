/**
 * Accounting: everything the apps' logs and the agents' ledgers say about
 * each message, gathered by message id (lines arrive file by file, in any
 * order across files; each app log is read in order). classify.ts turns it
 * into the per-seed tally.
 *
 * What counts as what:
 *   - accepted: an A line (send/sendTo returned; request() did not reject at once).
 *   - delivered: a D line (handed to messages$ of a receiver incarnation), or a
 *     ledger line (taken by an app that then died) not already covered by a D
 *     of the same dead receiver.
 *   - reported: a B line (undeliverable$). `in_doubt` is kept apart from the
 *     definite reasons.
 *   - T (request timeout) is no outcome: a timed-out request may still have
 *     been delivered (the reply may be late, lost with a dying receiver, or
 *     refused by a full ring), and a later bounce still reaches
 *     undeliverable$. So its D/B lines decide. R (a reply) proves delivery.
 *   - a sender incarnation is dead from its E line (closed, kicked, failed)
 *     or from its app's death (the harness tells appEnded): reports after
 *     that cannot be seen, so its unaccounted messages are "orphaned".
 *   - FIFO: per (sender incarnation, receiver incarnation), in each receiver's
 *     delivery order, a seq lower than one already delivered is a violation
 *     (gaps are fine: those messages went elsewhere, bounced, or are counted
 *     in their own class).
 */
import type { Header } from './wire.js';
import { messageId, senderOfId, seqOfId } from './wire.js';

export interface Delivery {
  recv: string;
  t: number;
  addr: string;
  flags: string;
  /** From an agent's ledger (the agent index), not a D line. */
  ledger?: number;
}

export interface MsgRecord {
  id: string;
  accepted: boolean;
  t: number;
  kind: string;
  /** Receiver service index. */
  svc: number;
  /** Receiver index (named or routed), -1 for any instance of svc. */
  recv: number;
  /** agent:localId the sender targeted ('-' unknown). */
  addr: string;
  deliveries: Delivery[];
  reports: Array<{ reason: string; t: number }>;
  replied: boolean;
  timedOut: boolean;
  /** Out-of-order deliveries of this message (FIFO per pair). */
  fifo: number;
}

export interface InstanceRecord {
  key: string;
  app: string;
  role: 'send' | 'recv';
  index: number;
  /** Receiver service index (from its instance id), -1 until known. */
  svc: number;
  addrs: Set<string>;
  endedAt?: number;
  why?: string;
}

interface PendingLedger {
  agent: number;
  header: Header;
}

export class Accounting {
  readonly msgs = new Map<string, MsgRecord>();
  readonly instances = new Map<string, InstanceRecord>();
  /** App incarnation ('app.inc') -> when it died (ms since t0). */
  readonly appsEnded = new Map<string, number>();
  private readonly lastSeq = new Map<string, number>();
  private readonly ledger: PendingLedger[] = [];
  /** Lines that did not parse (a format drift shows here). */
  badLines = 0;

  msg(id: string): MsgRecord {
    let m = this.msgs.get(id);
    if (!m) {
      m = { id, accepted: false, t: -1, kind: '', svc: -1, recv: -1, addr: '-', deliveries: [], reports: [], replied: false, timedOut: false, fifo: 0 };
      this.msgs.set(id, m);
    }
    return m;
  }

  instance(key: string): InstanceRecord {
    let r = this.instances.get(key);
    if (!r) {
      const [app, inc, name] = key.split('.');
      r = { key, app: `${app}.${inc}`, role: name?.startsWith('s') ? 'send' : 'recv', index: Number(name?.slice(1)), svc: -1, addrs: new Set() };
      this.instances.set(key, r);
    }
    return r;
  }

  /** One line of an app log (formats: wire.ts). */
  ingest(line: string): void {
    const f = line.split(' ');
    const t = Number(f[1]);
    switch (f[0]) {
      case 'A': {
        if (f.length < 7) break;
        const m = this.msg(f[2]!);
        Object.assign(m, { accepted: true, t, kind: f[3]!, svc: Number(f[4]), recv: f[5] === '*' ? -1 : Number(f[5]!.slice(1)), addr: f[6]! });
        return;
      }
      case 'D': {
        if (f.length < 6) break;
        this.deliver(f[2]!, { recv: f[3]!, t, addr: f[4]!, flags: f[5] === '-' ? '' : f[5]! });
        this.instance(f[3]!).addrs.add(f[4]!);
        return;
      }
      case 'B':
        if (f.length < 4) break;
        this.msg(f[2]!).reports.push({ reason: f[3]!, t });
        return;
      case 'R':
        this.msg(f[2]!).replied = true;
        return;
      case 'T':
        this.msg(f[2]!).timedOut = true;
        return;
      case 'U': {
        if (f.length < 5) break;
        const r = this.instance(f[2]!);
        r.addrs.add(f[4]!);
        const service = f[3]!.split('/')[0]!;
        r.svc = ['a', 'b', 'c'].indexOf(service.split('.')[2] ?? '');
        return;
      }
      case 'E': {
        const r = this.instance(f[2]!);
        r.endedAt ??= t;
        r.why = f[3];
        return;
      }
      case 'J':
      case 'L':
      case '':
        return;
    }
    this.badLines++;
  }

  private deliver(id: string, d: Delivery): void {
    const m = this.msg(id);
    const pair = `${senderOfId(id)}|${d.recv}`;
    const seq = seqOfId(id);
    const last = this.lastSeq.get(pair);
    const again = m.deliveries.some((x) => x.recv === d.recv);
    m.deliveries.push(d);
    if (again) return; // a duplicate: counted as twice, not as a reordering
    if (last !== undefined && seq < last) m.fifo++;
    else this.lastSeq.set(pair, seq);
  }

  /** Messages an agent's ledger says were taken by an app that died. */
  ingestLedger(agent: number, headers: Header[]): void {
    for (const header of headers) this.ledger.push({ agent, header });
  }

  /** The harness killed (or saw the exit of) an app incarnation at t (ms since t0). */
  appEnded(app: number, inc: number, t: number): void {
    if (!this.appsEnded.has(`${app}.${inc}`)) this.appsEnded.set(`${app}.${inc}`, t);
  }

  /** When an instance incarnation stopped being able to see reports (undefined: still alive). */
  deathOf(key: string): number | undefined {
    const r = this.instances.get(key);
    const appEnd = this.appsEnded.get(r?.app ?? key.split('.').slice(0, 2).join('.'));
    const ends = [appEnd, r?.endedAt].filter((x): x is number => x !== undefined);
    return ends.length ? Math.min(...ends) : undefined;
  }

  /**
   * Turn the ledger lines into deliveries: each goes to the departed (app
   * died, or instance ended) receiver incarnation on that agent the message
   * was meant for (by the sender's A
   * line, else the header), preferring the one whose address the sender
   * targeted. A ledger line for a message that one of those already logged
   * (taken, logged, not yet released) is the same delivery. Call once, after
   * the last log lines are in.
   */
  resolveLedger(): void {
    for (const { agent, header } of this.ledger.splice(0)) {
      const m = this.msg(messageId(header));
      const recv = m.accepted ? m.recv : header.destReceiver === 0xffff ? -1 : header.destReceiver;
      const svc = m.accepted ? m.svc : header.destService;
      const target = m.accepted ? m.addr : header.destAgent === 0xff ? '-' : `${header.destAgent}:${header.destLocal}`;
      const candidates = [...this.instances.values()].filter((r) =>
        r.role === 'recv' && (this.appsEnded.has(r.app) || r.endedAt !== undefined) && [...r.addrs].some((a) => a.startsWith(`${agent}:`)) &&
        (recv >= 0 ? r.index === recv : r.svc === svc));
      if (m.deliveries.some((d) => candidates.some((c) => c.key === d.recv))) continue;
      const chosen = candidates.find((c) => c.addrs.has(target)) ?? candidates[0];
      const key = chosen?.key ?? `ledger@${agent}`;
      this.deliver(m.id, { recv: key, t: -1, addr: target, flags: '', ledger: agent });
    }
  }
}
