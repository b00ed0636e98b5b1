/**
 * Agent authentication (name-server protocol 2) on a raw FuzzConn: CHALLENGE,
 * then HELLO with the proof, on request ids far above what cases use.
 */
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { RESULT } from '../../lib/protocol/connection.js';
import { encodeFrame } from '../../lib/protocol/frame.js';
import { NsMessage } from '../../lib/protocol/registry-messages.js';
import { NS_PROTOCOL, versionFields } from '../../lib/protocol/versions.js';
import { helloBody } from '../helpers/ns.js';
import type { FuzzConn } from './wire.js';

export const CHALLENGE_ID = 0x7fff_0001;
export const HELLO_ID = 0x7fff_0002;

/** The HELLO answer's fields, or undefined when the server refused, closed or did not answer within `ms`. */
export async function authenticateRaw(conn: FuzzConn, secret: string, agentId: string, address: string, extra: { leaseId?: string; ttlMs?: number }, ms: number): Promise<{ leaseId: string } | undefined> {
  conn.write(encodeFrame(NsMessage.CHALLENGE, CHALLENGE_ID, encodeValue(versionFields(NS_PROTOCOL))));
  if ((await conn.until(() => conn.answer(CHALLENGE_ID) !== undefined, ms)) !== 'done' || conn.answer(CHALLENGE_ID)!.type !== RESULT) return undefined;
  const { nonce } = decodeValue<{ nonce: Uint8Array }>(conn.answer(CHALLENGE_ID)!.body);
  conn.write(encodeFrame(NsMessage.HELLO, HELLO_ID, encodeValue(helloBody(nonce, agentId, address, extra, secret))));
  if ((await conn.until(() => conn.answer(HELLO_ID) !== undefined, ms)) !== 'done' || conn.answer(HELLO_ID)!.type !== RESULT) return undefined;
  return decodeValue<{ leaseId: string }>(conn.answer(HELLO_ID)!.body);
}
