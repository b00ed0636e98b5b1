/**
 * When the agent dies, an instance learns from its own tx ring what became of
 * every message the agent had not settled. The agent releases the ring only
 * up to its first unsettled message and publishes how far it read (its
 * cursor), so:
 *
 *   released ... head   settled: delivered, or already reported
 *   head ... cursor     read by the agent, outcome unknown: `in_doubt`
 *   cursor ... tail     never read: `agent_lost` (not delivered; safe to send again)
 *
 * plus messages still queued in the Outbox (never in the ring): `agent_lost`.
 * Each message is reported once, however many fragments it had.
 */
import { Frag, fragOf, kindOf, type Ring } from '../native/index.js';
import { BounceReason, ENVELOPE_BYTES, envFlags, Flag, RecordKind, setEnvFlags } from '../protocol/envelope.js';
import type { Unsent } from './outbox.js';

export interface LostMessage {
  /** the envelope the app wrote (destination address, flags, corr) */
  envelope: Uint8Array;
  payload: Uint8Array;
  reason: typeof BounceReason.IN_DOUBT | typeof BounceReason.AGENT_LOST;
}

export function lostMessages(tx: Ring, unsent: Unsent[]): LostMessage[] {
  const out: LostMessage[] = [];
  const cursor = tx.stats().cursor;
  let open: { envelope: Uint8Array; parts: Uint8Array[]; doubt: boolean } | null = null;
  const finish = (): void => {
    if (!open) return;
    const payload = open.parts.length === 1 ? open.parts[0]! : Buffer.concat(open.parts);
    out.push({ envelope: open.envelope, payload, reason: open.doubt ? BounceReason.IN_DOUBT : BounceReason.AGENT_LOST });
    open = null;
  };
  tx.unread((type, body, pos) => {
    if (kindOf(type) !== RecordKind.DATA || body.length < ENVELOPE_BYTES) return;
    const frag = fragOf(type);
    if (frag === Frag.COMPLETE || frag === Frag.BEGIN) finish();
    if (!open) {
      open = { envelope: body.slice(0, ENVELOPE_BYTES), parts: [], doubt: false };
      if (frag !== Frag.COMPLETE && frag !== Frag.BEGIN) setEnvFlags(open.envelope, envFlags(open.envelope) & ~Flag.HEADERS); // its tail: no header block
    }
    open.parts.push(body.slice(ENVELOPE_BYTES));
    if (pos < cursor) open.doubt = true;
    if (frag === Frag.COMPLETE || frag === Frag.END) finish();
  });
  // a large message whose first fragments are in the ring and the rest still in the Outbox is one message
  const rest = [...unsent];
  const current = open as { envelope: Uint8Array; parts: Uint8Array[]; doubt: boolean } | null;
  if (current && rest.length > 0) current.parts.push(rest.shift()!.payload);
  finish();
  for (const u of rest) out.push({ envelope: u.envelope, payload: u.payload, reason: BounceReason.AGENT_LOST });
  return out;
}
