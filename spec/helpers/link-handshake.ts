/**
 * The dialer's side of the link handshake (protocol 3) for specs and
 * fuzzers that play a peer agent: the HELLO that answers a CHALLENGE, and the
 * keys both directions are sealed with after WELCOME.
 */
import { randomBytes } from 'node:crypto';
import { encodeValue } from '../../lib/protocol/cbor.js';
import { encodeFrame } from '../../lib/protocol/frame.js';
import { LINK_VERSION, LinkFrame, linkProof, helloState } from '../../lib/protocol/link-frames.js';
import { linkKeys, type HandshakeFacts } from '../../lib/protocol/link-seal.js';

export interface Challenge {
  agentId: string;
  epoch: number;
  nonce: Uint8Array;
}

export interface Dialer {
  agentId: string;
  epoch: number;
  /** where the dialer says it listens */
  address: string;
  /** the first sequence number it will send */
  next: number;
  nonce?: Uint8Array;
}

/** The facts of a handshake with the agent that sent `ch`, dialled at `acceptorAddress`. */
export function factsOf(ch: Challenge, me: Dialer, acceptorAddress: string): HandshakeFacts {
  return {
    dialer: me.agentId, acceptor: ch.agentId, dialerEpoch: me.epoch, acceptorEpoch: ch.epoch,
    dialerAddress: me.address, acceptorAddress, acceptorNonce: ch.nonce, dialerNonce: me.nonce ?? randomBytes(32),
  };
}

/** HELLO for `facts` (the proof made with `secret`), and the keys: `read` what the agent sends, `write` ours. */
export function helloFrame(secret: string, facts: HandshakeFacts, next: number, version: { v: number; vmin: number; caps?: string[] } = { v: LINK_VERSION, vmin: LINK_VERSION }): { frame: Buffer; keys: { read: Buffer; write: Buffer } } {
  const body = {
    ...version, agentId: facts.dialer, epoch: facts.dialerEpoch, address: facts.dialerAddress, next, nonce: facts.dialerNonce,
    proof: linkProof(secret, 'd', facts, helloState(next)),
  };
  const keys = linkKeys(secret, facts);
  return { frame: encodeFrame(LinkFrame.HELLO, 0, encodeValue(body)), keys: { read: keys.backward, write: keys.forward } };
}
