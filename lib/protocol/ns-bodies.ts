/**
 * The bodies of the name-server protocol (registry-messages.ts; agent
 * authentication: ns-auth.ts): for each request an agent sends, each answer
 * and each event the name server sends, its type and the one decoder both
 * ends use (the records in them: ns-records.ts). A decoder takes what CBOR
 * gave (`unknown`) and returns a clean copy of what it accepted (fields it
 * does not know are left out), or throws:
 *   ProtocolError     a shape no correct peer sends. The name server answers
 *                     FAILURE and closes the connection (lib/ns/session.ts);
 *                     the agent fails the request whose answer it is, or, for
 *                     an event, drops the connection and reconnects
 *                     (lib/registry/ns-registry.ts): the event's change is
 *                     lost otherwise, and the reconnect's snapshots bring it
 *   InvalidNameError, CrossGameError
 *                     in a request, a name an app chose badly (ns-records.ts):
 *                     the connection stays up
 *   AuthError         a HELLO proof (either way) of the wrong shape: a wrong
 *                     proof, and counted as one by the name server
 * Versions are decoded as numbers; versions.ts agreeVersion agrees them (or
 * refuses with VersionError). Checks that need the connection's state (the
 * lease, the CHALLENGE nonce, the proofs themselves) stay with the ends.
 */
import {
  boolean, bytes, conflict, empty, integer, list, MAX_ADDRESS, MAX_AGENT_ID, object, offlineReason, optionalInteger, optionalText, proof,
  text, U32, versions, type Empty,
} from './body-checks.js';
import { validateGameId } from './names.js';
import { NS_NONCE_BYTES } from './ns-auth.js';
import { instanceKey, instanceRecord, patternOf, registeredRecord } from './ns-records.js';
import { NsMessage, type ConflictStrategy, type InstanceKey, type InstanceRecord, type OfflineReason } from './registry-messages.js';

/** Lease ids (leases.ts makes 32 hex digits). */
const MAX_LEASE_ID = 64;
/** The agent's HELLO nonce. */
const MAX_NONCE = 64;
/** A game proof an app sent, passed on as it came (the name server's game check decides). */
const MAX_GAME_PROOF = 64;
/** The agent's nonce an app's game proof is made over. */
const MAX_GAME_NONCE = 1024;

// ---------------------------------------------------------------- agent -> name server: requests

/** CHALLENGE: the protocol versions the agent speaks (versions.ts); the first request of a connection. */
export interface ChallengeRequest {
  v?: number;
  vmin?: number;
  /** The agent's optional features (versions.ts). */
  caps?: string[];
}

/** HELLO: who the agent is, the lease it had (to resume it), and its proof over the CHALLENGE nonce (ns-auth.ts). */
export interface NsHelloRequest {
  agentId: string;
  /** Its peer-link address ('' without links). */
  address: string;
  leaseId?: string;
  /** The lease TTL asked for (the name server clamps it: leases.ts). */
  ttlMs?: number;
  nonce: Uint8Array;
  proof: Uint8Array;
}

export interface HeartbeatRequest {
  leaseId: string;
}

export interface RegisterRequest {
  /** Its `online` is not used: the name server decides it. */
  instance: InstanceRecord;
  conflict: ConflictStrategy;
}

/** STARTUP: one of the agent's registered instances goes online. */
export interface StartupRequest {
  key: InstanceKey;
}

export interface DeregisterRequest {
  key: InstanceKey;
  reason: OfflineReason;
}

export interface NsWatchRequest {
  gameId: string;
  /** A pattern of that game. */
  pattern: string;
}

export interface NsUnwatchRequest {
  watchId: number;
}

/** VERIFY_GAME: an app's game proof over the agent's nonce, for the name server (which holds the game keys) to check. */
export interface VerifyGameRequest {
  gameId: string;
  nonce: Uint8Array;
  proof: Uint8Array;
}

export function challengeRequest(value: unknown): ChallengeRequest {
  return versions(object(value, 'the CHALLENGE body'));
}

/** The proof is checked last and is an AuthError when of the wrong shape: every other field is well-formed then. */
export function nsHelloRequest(value: unknown): NsHelloRequest {
  const b = object(value, 'the HELLO body');
  const agentId = text(b, 'agentId', MAX_AGENT_ID);
  const address = text(b, 'address', MAX_ADDRESS, 0);
  const leaseId = optionalText(b, 'leaseId', MAX_LEASE_ID);
  const ttlMs = optionalInteger(b, 'ttlMs', 1, U32);
  const nonce = bytes(b, 'nonce', MAX_NONCE);
  return { agentId, address, ...(leaseId === undefined ? {} : { leaseId }), ...(ttlMs === undefined ? {} : { ttlMs }), nonce, proof: proof(b) };
}

export function heartbeatRequest(value: unknown): HeartbeatRequest {
  return { leaseId: text(object(value, 'the HEARTBEAT body'), 'leaseId', MAX_LEASE_ID) };
}

export function registerRequest(value: unknown): RegisterRequest {
  const b = object(value, 'the REGISTER body');
  return { instance: registeredRecord(b.instance), conflict: conflict(b.conflict) };
}

export function startupRequest(value: unknown): StartupRequest {
  return { key: instanceKey(object(value, 'the STARTUP body').key) };
}

export function deregisterRequest(value: unknown): DeregisterRequest {
  const b = object(value, 'the DEREGISTER body');
  return { key: instanceKey(b.key), reason: offlineReason(b.reason) };
}

export function nsWatchRequest(value: unknown): NsWatchRequest {
  const b = object(value, 'the WATCH body');
  const gameId = validateGameId(b.gameId);
  return { gameId, pattern: patternOf(gameId, b.pattern) };
}

export function nsUnwatchRequest(value: unknown): NsUnwatchRequest {
  return { watchId: integer(object(value, 'the UNWATCH body'), 'watchId', 0, U32) };
}

export function verifyGameRequest(value: unknown): VerifyGameRequest {
  const b = object(value, 'the VERIFY_GAME body');
  return { gameId: validateGameId(b.gameId), nonce: bytes(b, 'nonce', MAX_GAME_NONCE), proof: bytes(b, 'proof', MAX_GAME_PROOF) };
}

// ---------------------------------------------------------------- name server -> agent: answers and events

/** CHALLENGE's answer: the version chosen and the nonce the agent's HELLO proves. */
export interface ChallengeAnswer {
  v?: number;
  /** The optional features both have. */
  caps?: string[];
  nonce: Uint8Array;
}

/** HELLO's answer: the lease, and the name server's own proof (ns-auth.ts). */
export interface NsHelloAnswer {
  leaseId: string;
  ttlMs: number;
  /** The lease the agent named was still alive and is its again. */
  resumed: boolean;
  /** The name server's uptime (ns-registry.ts: the recovery window after its restart). */
  uptimeMs: number;
  v?: number;
  proof: Uint8Array;
}

/** WATCH's answer: the watch, and the online instances it covers now. */
export interface NsWatchAnswer {
  watchId: number;
  instances: InstanceRecord[];
}

export interface VerifyGameAnswer {
  ok: boolean;
  /** Is a game of that id registered? (absent from name servers before this field: unknown) */
  known?: boolean;
}

export interface NsOnlineEvent {
  watchId: number;
  instance: InstanceRecord;
}

export interface NsOfflineEvent {
  watchId: number;
  instance: InstanceRecord;
  reason: OfflineReason;
}

/** KICKED: a `replace` registration (`by`) took the agent's `instance`. */
export interface NsKickedEvent {
  instance: InstanceRecord;
  by: InstanceRecord;
}

export function challengeAnswer(value: unknown): ChallengeAnswer {
  const b = object(value, 'the CHALLENGE answer');
  return { ...versions(b), nonce: bytes(b, 'nonce', NS_NONCE_BYTES, NS_NONCE_BYTES) };
}

export function nsHelloAnswer(value: unknown): NsHelloAnswer {
  const b = object(value, 'the HELLO answer');
  const { v } = versions(b);
  return {
    leaseId: text(b, 'leaseId', MAX_LEASE_ID),
    ttlMs: integer(b, 'ttlMs', 1, U32),
    resumed: boolean(b, 'resumed'),
    uptimeMs: integer(b, 'uptimeMs', 0, Number.MAX_SAFE_INTEGER),
    ...(v === undefined ? {} : { v }),
    proof: proof(b),
  };
}

export function nsWatchAnswer(value: unknown): NsWatchAnswer {
  const b = object(value, 'the WATCH answer');
  return { watchId: integer(b, 'watchId', 0, U32), instances: list(b, 'instances').map(instanceRecord) };
}

export function verifyGameAnswer(value: unknown): VerifyGameAnswer {
  const b = object(value, 'the VERIFY_GAME answer');
  const ok = boolean(b, 'ok');
  return b['known'] === undefined ? { ok } : { ok, known: boolean(b, 'known') };
}

export function nsOnlineEvent(value: unknown): NsOnlineEvent {
  const b = object(value, 'the ONLINE body');
  return { watchId: integer(b, 'watchId', 0, U32), instance: instanceRecord(b.instance) };
}

export function nsOfflineEvent(value: unknown): NsOfflineEvent {
  const b = object(value, 'the OFFLINE body');
  return { watchId: integer(b, 'watchId', 0, U32), instance: instanceRecord(b.instance), reason: offlineReason(b.reason) };
}

export function nsKickedEvent(value: unknown): NsKickedEvent {
  const b = object(value, 'the KICKED body');
  return { instance: instanceRecord(b.instance), by: instanceRecord(b.by) };
}

// ---------------------------------------------------------------- requests and their answers

/** Each request an agent makes: the body it sends and the answer it gets. */
export interface NsRequests {
  [NsMessage.CHALLENGE]: { body: ChallengeRequest; answer: ChallengeAnswer };
  [NsMessage.HELLO]: { body: NsHelloRequest; answer: NsHelloAnswer };
  [NsMessage.HEARTBEAT]: { body: HeartbeatRequest; answer: Empty };
  [NsMessage.REGISTER]: { body: RegisterRequest; answer: Empty };
  [NsMessage.STARTUP]: { body: StartupRequest; answer: Empty };
  [NsMessage.DEREGISTER]: { body: DeregisterRequest; answer: Empty };
  [NsMessage.WATCH]: { body: NsWatchRequest; answer: NsWatchAnswer };
  [NsMessage.UNWATCH]: { body: NsUnwatchRequest; answer: Empty };
  [NsMessage.VERIFY_GAME]: { body: VerifyGameRequest; answer: VerifyGameAnswer };
}
export type NsRequest = keyof NsRequests;

/** The decoder of each request's answer (the agent runs it on every RESULT). */
export const NS_ANSWERS: { readonly [K in NsRequest]: (value: unknown) => NsRequests[K]['answer'] } = {
  [NsMessage.CHALLENGE]: challengeAnswer,
  [NsMessage.HELLO]: nsHelloAnswer,
  [NsMessage.HEARTBEAT]: empty,
  [NsMessage.REGISTER]: empty,
  [NsMessage.STARTUP]: empty,
  [NsMessage.DEREGISTER]: empty,
  [NsMessage.WATCH]: nsWatchAnswer,
  [NsMessage.UNWATCH]: empty,
  [NsMessage.VERIFY_GAME]: verifyGameAnswer,
};
