/**
 * What happens to the records a departed instance left in its rx ring: each
 * message it did not take goes back to its sender as a bounce (OFFLINE),
 * through the same sinks as any record: the sender's own LocalSink on this
 * host, or the link back to the sender's agent (a reliable record the peer
 * acknowledges). Replies and reports addressed to the departed instance have
 * nobody to go to. With test hooks on, messages the app did take but had not
 * released yet are written to a ledger, so fault-injection runs can count
 * them as delivered even when the app died before it could log them.
 */
import { appendFileSync } from 'node:fs';
import { kindOf, fragOf, Frag, recordType, type Ring } from '../native/index.js';
import {
  bounceBody, BounceReason, ENVELOPE_BYTES, envAux, envFlags, envLocal, envNode, Flag, RecordKind, stampSource, WHOLE_MESSAGE_MAX,
} from '../protocol/envelope.js';
import { NO_ORIGIN, NO_TICKET, type RecordSink, type Ticket } from './record-sink.js';

export interface UnreadRoutes {
  readonly epoch: number;
  /** A local instance's own sink, if it is still here. */
  ownSink(localId: number): RecordSink | undefined;
  /** The epoch of the agent behind remote node `node`. */
  epochOf(node: number): number | undefined;
  /** Queue a link-form record for remote node `node`. */
  sendBack(node: number, type: number, record: Uint8Array, ticket: Ticket): void;
}

/**
 * Bounce the records `departed` (a local id) left unread, in ring order. A
 * fragment of a message a peer settles as one unit (WHOLE_MESSAGE_MAX) goes
 * back only if its whole message is here: otherwise its sender's agent still
 * holds the message and reports it whole when the rest is refused.
 */
export class UnreadBouncer {
  private readonly groups = new Map<string, { type: number; body: Uint8Array }[]>();

  constructor(private readonly routes: UnreadRoutes, private readonly departed: number) {}

  add(type: number, body: Uint8Array): void {
    if (kindOf(type) !== RecordKind.DATA || body.length < ENVELOPE_BYTES) return;
    const frag = fragOf(type);
    if (envNode(body) === 0 || frag === Frag.COMPLETE || envAux(body) > WHOLE_MESSAGE_MAX) {
      bounceUnread(this.routes, this.departed, type, body);
      return;
    }
    const key = `${envNode(body)}:${envLocal(body)}`;
    if (frag === Frag.BEGIN) this.groups.set(key, []);
    const group = this.groups.get(key);
    if (!group) return;
    group.push({ type, body: body.slice() });
    if (frag !== Frag.END) return;
    this.groups.delete(key);
    for (const r of group) bounceUnread(this.routes, this.departed, r.type, r.body);
  }
}

/** Bounce one record `departed` (a local id) left unread. Returns true when it was a message sent back. */
export function bounceUnread(routes: UnreadRoutes, departed: number, type: number, body: Uint8Array): boolean {
  if (kindOf(type) !== RecordKind.DATA || body.length < ENVELOPE_BYTES) return false;
  const flags = envFlags(body);
  if (flags & (Flag.REPLY | Flag.ABORT | Flag.PAIR)) return false; // a reply to the departed requester, an abort or a pair marker for it
  const node = envNode(body);
  const src = envLocal(body);
  const btype = recordType(RecordKind.BOUNCE, fragOf(type));
  if (node === 0) {
    const sink = routes.ownSink(src);
    if (!sink) return false;
    sink.offer(btype, bounceBody(body, BounceReason.OFFLINE, 0, departed, routes.epoch), 0, departed, NO_ORIGIN);
    return true;
  }
  const peerEpoch = routes.epochOf(node);
  if (peerEpoch === undefined) return false;
  const record = bounceBody(body, BounceReason.OFFLINE, departed, src, peerEpoch); // link form: (ours, theirs)
  routes.sendBack(node, btype, record, NO_TICKET);
  return true;
}

/**
 * What the reader of pair ring `ring` (pair-marker.ts; written by local
 * instance `from`) left untaken: taken here, in ring order, and handed to
 * `bounce` stamped with `from` (whatever its writer put in the envelope), as
 * records of an rx ring are (`taken` sees what the reader took and had not
 * released: the test ledger). A message whose end is not in the ring (its
 * writer stopped mid-message) is taken and not bounced: the writer reports
 * that one whole itself, from what it still holds.
 */
export function sweepPair(ring: Ring, from: number, epoch: number, bounce: (type: number, body: Uint8Array) => void,
  taken?: (type: number, body: Uint8Array) => void): void {
  let open: { type: number; body: Uint8Array }[] = [];
  ring.unread((type, body, pos) => {
    const frag = fragOf(type);
    const ends = frag === Frag.COMPLETE || frag === Frag.END;
    if (frag === Frag.BEGIN || frag === Frag.COMPLETE) open = [];
    if (!ring.take(pos)) {
      taken?.(type, body);
    } else if (kindOf(type) === RecordKind.DATA && body.length >= ENVELOPE_BYTES) {
      const copy = body.slice();
      stampSource(copy, 0, 0, from, epoch);
      open.push({ type, body: copy });
    }
    if (!ends) return;
    for (const r of open) bounce(r.type, r.body);
    open = [];
  });
}

/** Test hook: note a message the app took but had not released (hex of its first 32 payload bytes). */
export function ledger(file: string, type: number, body: Uint8Array): void {
  if (kindOf(type) !== RecordKind.DATA || body.length < ENVELOPE_BYTES) return;
  const frag = fragOf(type);
  if (frag !== Frag.COMPLETE && frag !== Frag.BEGIN) return;
  const payload = body.subarray(ENVELOPE_BYTES, ENVELOPE_BYTES + 32);
  appendFileSync(file, `${Buffer.from(payload).toString('hex')}\n`);
}
