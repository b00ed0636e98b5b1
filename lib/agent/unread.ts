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
import { kindOf, fragOf, Frag, recordType } from '../native/index.js';
import {
  bounceBody, BounceReason, ENVELOPE_BYTES, envAux, envFlags, envLocal, envNode, Flag, RecordKind, WHOLE_MESSAGE_MAX,
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
  if (flags & (Flag.REPLY | Flag.ABORT)) return false; // a reply to the departed requester, or an abort for it
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

/** Test hook: note a message the app took but had not released (hex of its first 32 payload bytes). */
export function ledger(file: string, type: number, body: Uint8Array): void {
  if (kindOf(type) !== RecordKind.DATA || body.length < ENVELOPE_BYTES) return;
  const frag = fragOf(type);
  if (frag !== Frag.COMPLETE && frag !== Frag.BEGIN) return;
  const payload = body.subarray(ENVELOPE_BYTES, ENVELOPE_BYTES + 32);
  appendFileSync(file, `${Buffer.from(payload).toString('hex')}\n`);
}
