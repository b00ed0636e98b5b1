/**
 * The CBOR bodies of the link protocol (link-frames.ts): the handshake's
 * CHALLENGE, HELLO and WELCOME, and SOURCE. For each, its type and the one
 * decoder both agents use: the acceptor (lib/agent/links/link-server.ts)
 * decodes HELLO and SOURCE, the dialer (peer-link.ts) CHALLENGE and WELCOME.
 * A decoder takes what CBOR gave (`unknown`) and returns a clean copy of what
 * it accepted (fields it does not know are left out), or throws ProtocolError
 * for a shape no correct agent sends: the connection is closed and the reason
 * logged. Versions are decoded as numbers and agreed by versions.ts
 * agreeVersion; what needs the connection (the proofs, which agent and
 * incarnation was meant, which frames were sent) stays with the ends. DATA
 * and ACK bodies are binary and decoded where they are read (link-frames.ts).
 */
import { bytes, checkedName, integer, list, MAX_ADDRESS, MAX_AGENT_ID, object, text, U32, versions, type Body } from './body-checks.js';
import { ProtocolError } from './errors.js';
import { validateGameId } from './names.js';

/** Handshake nonces and proofs (HMAC-SHA256): 32 bytes. */
const NONCE_BYTES = 32;
const PROOF_BYTES = 32;
/** Sequence numbers count a link incarnation's frames (the frame id carries their low 32 bits). */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** CHALLENGE (acceptor -> dialer): who answered the dial, and the nonce the proofs cover. */
export interface LinkChallenge {
  v?: number;
  vmin?: number;
  caps?: string[];
  agentId: string;
  epoch: number;
  nonce: Uint8Array;
}

/** HELLO (dialer -> acceptor). */
export interface LinkHello {
  v?: number;
  vmin?: number;
  caps?: string[];
  agentId: string;
  epoch: number;
  /** Where the dialer listens ('' without a link port): a route back for bounces and replies. */
  address: string;
  /** The first sequence number the dialer will send. */
  next: number;
  nonce: Uint8Array;
  proof: Uint8Array;
}

/** WELCOME (acceptor -> dialer): the version chosen, the acceptor's proof, and where the dialer's frames stand. */
export interface LinkWelcome {
  v?: number;
  /** The optional features both ends have. */
  caps?: string[];
  proof: Uint8Array;
  /** The highest sequence number of the dialer's incarnation the acceptor has taken. */
  top: number;
  /** Those at or below `top` whose outcome the acceptor still holds back. */
  pending: number[];
}

/** SOURCE (dialer -> acceptor): the game of the dialer's instance `local`, before its first DATA on the connection. */
export interface LinkSource {
  local: number;
  game: string;
}

export function linkChallenge(value: unknown): LinkChallenge {
  const b = object(value, 'the CHALLENGE body');
  return { ...versions(b), agentId: text(b, 'agentId', MAX_AGENT_ID), epoch: integer(b, 'epoch', 0, U32), nonce: handshakeBytes(b, 'nonce', NONCE_BYTES) };
}

export function linkHello(value: unknown): LinkHello {
  const b = object(value, 'the HELLO body');
  return {
    ...versions(b),
    agentId: text(b, 'agentId', MAX_AGENT_ID),
    epoch: integer(b, 'epoch', 0, U32),
    address: text(b, 'address', MAX_ADDRESS, 0),
    next: integer(b, 'next', 1, MAX_SEQ),
    nonce: handshakeBytes(b, 'nonce', NONCE_BYTES),
    proof: handshakeBytes(b, 'proof', PROOF_BYTES),
  };
}

export function linkWelcome(value: unknown): LinkWelcome {
  const b = object(value, 'the WELCOME body');
  const { v, caps } = versions(b);
  return {
    ...(v === undefined ? {} : { v }),
    ...(caps === undefined ? {} : { caps }),
    proof: handshakeBytes(b, 'proof', PROOF_BYTES),
    top: integer(b, 'top', 0, MAX_SEQ),
    pending: list(b, 'pending').map(sequenceNumber),
  };
}

/** A game id no agent would have taken from its app is the sender's fault: ProtocolError. */
export function linkSource(value: unknown): LinkSource {
  const b = object(value, 'the SOURCE body');
  return { local: integer(b, 'local', 0, U32), game: checkedName(validateGameId, b.game) };
}

const handshakeBytes = (b: Body, field: string, length: number): Uint8Array => bytes(b, field, length, length);

function sequenceNumber(seq: unknown): number {
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1 || seq > MAX_SEQ) throw new ProtocolError(`'pending' must hold sequence numbers (integers in 1..${MAX_SEQ})`);
  return seq;
}
