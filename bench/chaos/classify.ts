/**
 * Classification of a run's accepted messages, and the one-line summary.
 *
 * Each accepted message falls in exactly one class (first match wins):
 *   misdelivered  some delivery went to the wrong instance: another name or
 *                 service, or an incarnation that never held the address the
 *                 sender targeted (a stale ref delivered to whoever holds it now),
 *                 or the receiver's own check said so
 *   twice         delivered two or more times, or reported two or more times
 *   both          delivered once and reported once with a definite reason
 *   in_doubt      reported `in_doubt` (delivered once or not at all): undecidable by design
 *   delivered     delivered once, no report (a reply without a D line counts too)
 *   bounced       reported once with a definite reason, not delivered
 *   neither       no delivery, no report, sender still alive: lost
 *   orphaned      no delivery, no report seen, sender closed or died (it cannot hear reports)
 * Besides: fifo (reorderings per pair), phantom (a delivery or report of a
 * message a live sender never accepted) and corrupt (payload not intact).
 * Bad: both, neither, twice, misdelivered, fifo, phantom, corrupt.
 */
import type { Accounting, MsgRecord } from './accounting.js';
import { senderOfId } from './wire.js';

export const CLASSES = ['delivered', 'bounced', 'in_doubt', 'both', 'neither', 'twice', 'misdelivered', 'orphaned'] as const;
export type MsgClass = (typeof CLASSES)[number];
export const BAD = ['both', 'neither', 'twice', 'misdelivered', 'fifo', 'phantom', 'corrupt'] as const;

export interface Tally {
  accepted: number;
  delivered: number;
  bounced: number;
  in_doubt: number;
  both: number;
  neither: number;
  twice: number;
  misdelivered: number;
  fifo: number;
  orphaned: number;
  phantom: number;
  corrupt: number;
  /** Definite bounce reasons of the bounced class. */
  reasons: Record<string, number>;
  /** Up to 3 example ids per non-empty bad class and in_doubt. */
  examples: Record<string, string[]>;
}

export const emptyTally = (): Tally => ({
  accepted: 0, delivered: 0, bounced: 0, in_doubt: 0, both: 0, neither: 0, twice: 0, misdelivered: 0, fifo: 0,
  orphaned: 0, phantom: 0, corrupt: 0, reasons: {}, examples: {},
});

const isDoubt = (reason: string): boolean => reason === 'in_doubt';

/** Is this delivery to the wrong instance, judged from the sender's A line and the receiver's history? */
function misdelivered(acc: Accounting, m: MsgRecord): boolean {
  return m.deliveries.some((d) => {
    if (/[mi]/.test(d.flags)) return true;
    if (d.recv.startsWith('ledger@') || !m.accepted) return false;
    const r = acc.instances.get(d.recv);
    if (!r) return false;
    if (m.recv >= 0 ? r.index !== m.recv : r.svc >= 0 && r.svc !== m.svc) return true;
    return m.addr !== '-' && !r.addrs.has(m.addr);
  });
}

export function classifyOne(acc: Accounting, m: MsgRecord): MsgClass {
  // a reply proves delivery even when no D line exists (the receiver's log is the only other witness)
  const d = m.deliveries.length || (m.replied ? 1 : 0);
  const definite = m.reports.filter((r) => !isDoubt(r.reason)).length;
  const doubt = m.reports.length - definite;
  if (misdelivered(acc, m)) return 'misdelivered';
  if (d >= 2 || m.reports.length >= 2) return 'twice';
  if (d === 1 && definite === 1) return 'both';
  if (doubt === 1) return 'in_doubt';
  if (d === 1) return 'delivered';
  if (definite === 1) return 'bounced';
  return acc.deathOf(senderOfId(m.id)) === undefined ? 'neither' : 'orphaned';
}

function example(t: Tally, cls: string, id: string): void {
  const list = (t.examples[cls] ??= []);
  if (list.length < 3) list.push(id);
}

/** Classify every accepted message; `visit` sees each one with its class (and fifo as its own pseudo-class). */
export function classify(acc: Accounting, visit?: (m: MsgRecord, cls: MsgClass | 'fifo') => void): Tally {
  const t = emptyTally();
  for (const m of acc.msgs.values()) {
    if (m.deliveries.some((d) => d.flags.includes('c'))) {
      t.corrupt++;
      example(t, 'corrupt', m.id);
    }
    if (!m.accepted) {
      if ((m.deliveries.length > 0 || m.reports.length > 0) && acc.deathOf(senderOfId(m.id)) === undefined) {
        t.phantom++;
        example(t, 'phantom', m.id);
      }
      continue;
    }
    t.accepted++;
    if (m.fifo > 0) {
      t.fifo += m.fifo;
      example(t, 'fifo', m.id);
    }
    const cls = classifyOne(acc, m);
    t[cls]++;
    visit?.(m, cls);
    if (m.fifo > 0) visit?.(m, 'fifo');
    if (cls === 'bounced') {
      const reason = m.reports[0]!.reason;
      t.reasons[reason] = (t.reasons[reason] ?? 0) + 1;
    }
    if (cls !== 'delivered' && cls !== 'bounced' && cls !== 'orphaned') example(t, cls, m.id);
  }
  return t;
}

/** Accepted messages of live senders with no outcome yet (what the settle phase waits for). */
export function outstanding(acc: Accounting): number {
  let n = 0;
  const dead = new Map<string, boolean>();
  for (const m of acc.msgs.values()) {
    if (!m.accepted || m.deliveries.length > 0 || m.reports.length > 0 || m.replied) continue;
    const s = senderOfId(m.id);
    let isDead = dead.get(s);
    if (isDead === undefined) dead.set(s, (isDead = acc.deathOf(s) !== undefined));
    if (!isDead) n++;
  }
  return n;
}

export function isBad(t: Tally): boolean {
  return BAD.some((k) => t[k] > 0);
}

export function addTally(into: Tally, t: Tally): void {
  for (const k of ['accepted', ...CLASSES, 'fifo', 'phantom', 'corrupt'] as const) into[k] += t[k];
  for (const [r, n] of Object.entries(t.reasons)) into.reasons[r] = (into.reasons[r] ?? 0) + n;
}

/** `accepted N, delivered N, bounced N, in_doubt N, both N, neither N, twice N, misdelivered N, fifo N, orphaned N[, phantom N][, corrupt N]` */
export function formatTally(t: Tally): string {
  const parts = [`accepted ${t.accepted}`, `delivered ${t.delivered}`, `bounced ${t.bounced}`, `in_doubt ${t.in_doubt}`, `both ${t.both}`,
    `neither ${t.neither}`, `twice ${t.twice}`, `misdelivered ${t.misdelivered}`, `fifo ${t.fifo}`, `orphaned ${t.orphaned}`];
  if (t.phantom) parts.push(`phantom ${t.phantom}`);
  if (t.corrupt) parts.push(`corrupt ${t.corrupt}`);
  return parts.join(', ');
}

/** Where a message was last seen, for the verbose failure report. */
export function describe(acc: Accounting, id: string): string {
  const m = acc.msgs.get(id);
  if (!m) return `${id}: never seen`;
  const parts: string[] = [];
  parts.push(m.accepted ? `accepted t=${m.t} ${m.kind} to ${m.recv >= 0 ? `r${m.recv}` : `svc ${m.svc}`}@${m.addr}` : 'never accepted');
  for (const d of m.deliveries) {
    const r = acc.instances.get(d.recv);
    parts.push(d.ledger !== undefined ? `ledger of agent ${d.ledger} -> ${d.recv}` :
      `delivered t=${d.t} to ${d.recv} at ${d.addr}${d.flags ? ` flags ${d.flags}` : ''} (held ${[...(r?.addrs ?? [])].join(',')})`);
  }
  for (const r of m.reports) parts.push(`reported t=${r.t} ${r.reason}`);
  if (m.replied) parts.push('replied');
  if (m.timedOut) parts.push('timed out');
  if (m.fifo) parts.push(`${m.fifo} reordering(s)`);
  const death = acc.deathOf(senderOfId(id));
  parts.push(death === undefined ? 'sender alive' : `sender gone t=${death}`);
  return `${id}: ${parts.join('; ')}`;
}
