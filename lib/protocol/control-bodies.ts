/**
 * The bodies of the control protocol (control-messages.ts): for each request
 * an app sends, each answer and each event the agent sends, its type and the
 * one decoder both ends use. A decoder takes what CBOR gave (`unknown`) and
 * returns a clean copy of what it accepted (fields it does not know are left
 * out), or throws:
 *   ProtocolError     a shape no correct peer sends (a missing field, a wrong
 *                     type, a string or number out of range, a map where a
 *                     value belongs)
 *   InvalidNameError  a service name, user data, pattern or game id the app
 *                     chose badly (requests only: the agent hands out only
 *                     names it accepted, so a bad one from it is a ProtocolError)
 *   AuthError         an AUTH proof of the wrong shape (a wrong proof, as far as
 *                     the app is told)
 * The agent decodes every request body (client-session.ts); the client every
 * answer and event (lib/client/mesh.ts). STATUS answers are the agent's
 * counters for `rxmesh status` (lib/agent/status.ts), not an app's business,
 * and are not decoded here.
 */
import { NONCE_BYTES } from './auth.js';
import {
  bytes, checkedName, conflict, empty, integer, list, MAX_AGENT_ID, object, offlineReason, proof, text, U32, versions, type Empty,
} from './body-checks.js';
import { ControlMessage } from './control-messages.js';
import { ProtocolError } from './errors.js';
import { instanceId, validateGameId, validatePattern, validateService, validateUserData } from './names.js';
import type { ConflictStrategy, OfflineReason } from './registry-messages.js';

/** Ring and doorbell paths (Linux PATH_MAX). */
const MAX_PATH = 4096;
const MAX_ERROR_CODE = 64;
const MAX_ERROR_MESSAGE = 4096;

// STATUS requests and the answers to UNWATCH, CLOSE, DRAIN and RELEASE are empty (body-checks.ts).
export { empty, type Empty };

// ---------------------------------------------------------------- app -> agent: requests

/** HELLO: the app's game and the protocol versions it speaks (versions.ts). */
export interface HelloRequest {
  gameId: string;
  pid: number;
  v?: number;
  vmin?: number;
  /** The app's optional features (versions.ts). */
  caps?: string[];
}

/** AUTH: HMAC-SHA256(game key, nonce) (auth.ts). */
export interface AuthRequest {
  proof: Uint8Array;
}

export interface CreateRequest {
  service: string;
  userData: string;
  conflict: ConflictStrategy;
}

/** STARTUP, CLOSE, DRAIN and RELEASE: one of the connection's instances. */
export interface InstanceRequest {
  localId: number;
}

export interface WatchRequest {
  pattern: string;
}

export interface UnwatchRequest {
  watchId: number;
}

export interface ResolveRequest {
  node: number;
  localId: number;
}

/** OPEN_PAIR: a pair ring from instance `localId` (the app's) straight to local instance `to`. */
export interface OpenPairRequest {
  localId: number;
  to: number;
}

/**
 * PAIR_DONE, one of two: the app writes no more into pair ring (`localId` -> `to`),
 * or it read pair ring (`from` -> `localId`) to its end and unmapped it.
 */
export type PairDoneRequest = { localId: number; to: number } | { localId: number; from: number };

export function helloRequest(value: unknown): HelloRequest {
  const b = object(value, 'the HELLO body');
  // a game id that is no string is the client's mistake; a string is the app's choice (INVALID_NAME)
  if (typeof b.gameId !== 'string') throw new ProtocolError(`'gameId' must be a string`);
  return { gameId: validateGameId(b.gameId), pid: integer(b, 'pid'), ...versions(b) };
}

/** A proof of the wrong shape is a wrong proof: refused like a wrong key, and the registry never sees it. */
export function authRequest(value: unknown): AuthRequest {
  return { proof: proof(object(value, 'the AUTH body')) };
}

export function createRequest(value: unknown): CreateRequest {
  const b = object(value, 'the CREATE body');
  return { service: validateService(b.service), userData: validateUserData(b.userData), conflict: conflict(b.conflict) };
}

export function instanceRequest(value: unknown): InstanceRequest {
  return { localId: integer(object(value, 'the body'), 'localId', 0, U32) };
}

export function watchRequest(value: unknown): WatchRequest {
  return { pattern: validatePattern(object(value, 'the WATCH body').pattern) };
}

export function unwatchRequest(value: unknown): UnwatchRequest {
  return { watchId: integer(object(value, 'the UNWATCH body'), 'watchId', 0, U32) };
}

export function resolveRequest(value: unknown): ResolveRequest {
  const b = object(value, 'the RESOLVE body');
  return { node: integer(b, 'node', 0, U32), localId: integer(b, 'localId', 0, U32) };
}

export function openPairRequest(value: unknown): OpenPairRequest {
  const b = object(value, 'the OPEN_PAIR body');
  return { localId: integer(b, 'localId', 0, U32), to: integer(b, 'to', 0, U32) };
}

export function pairDoneRequest(value: unknown): PairDoneRequest {
  const b = object(value, 'the PAIR_DONE body');
  return { localId: integer(b, 'localId', 0, U32), ...pairEnd(b) };
}

/** Exactly one of `to` and `from`. */
function pairEnd(b: Record<string, unknown>): { to: number } | { from: number } {
  if ((b.to === undefined) === (b.from === undefined)) throw new ProtocolError(`exactly one of 'to' and 'from' must be given`);
  return b.to !== undefined ? { to: integer(b, 'to', 0, U32) } : { from: integer(b, 'from', 0, U32) };
}

// ---------------------------------------------------------------- agent -> app: answers and events

/** What an app learns about an instance. `node` + `localId` is its address
 * as this agent sees it (node 0 = this agent). */
/** An instance's address and names, as the agent reports them (`InstanceRef` in the client API). */
export interface InstanceInfo {
  service: string;
  userData: string;
  /** `service/userData` */
  id: string;
  agentId: string;
  node: number;
  localId: number;
  /** The incarnation of the local agent that gave out this address (node numbers are its own):
   * a message to an address of another incarnation is bounced `offline`, never delivered. */
  epoch: number;
}

/** HELLO's answer: the nonce AUTH proves, and the version the agent chose (none from an agent before versions). */
export interface HelloAnswer {
  nonce: Uint8Array;
  agentId: string;
  v?: number;
  /** The optional features both have. */
  caps?: string[];
}

/** AUTH's answer. */
export interface Welcome {
  agentId: string;
  /** The agent's incarnation (see InstanceInfo.epoch). */
  epoch: number;
  /** FIFO the app listens on: the agent rings it when one of the app's rx rings gets data. */
  clientBell: string;
  /** FIFO the app rings when the agent is parked on the app's tx rings. */
  agentBell: string;
}

/** CREATE's answer. */
export interface Created {
  localId: number;
  info: InstanceInfo;
  /** app -> agent ring (the app produces) */
  txPath: string;
  /** agent -> app ring (the app consumes) */
  rxPath: string;
  maxRecord: number;
}

/** WATCH's answer: the watch, and what it covers that is online now. */
export interface WatchAnswer {
  watchId: number;
  instances: InstanceInfo[];
}

export interface OnlineEvent {
  watchId: number;
  instance: InstanceInfo;
}

export interface OfflineEvent {
  watchId: number;
  instance: InstanceInfo;
  reason: OfflineReason;
}

/** KICKED: another registration (`by`) replaced the app's instance `localId`. */
export interface KickedEvent {
  localId: number;
  by: InstanceInfo;
}

/** FAULT: the agent dropped the app's instance `localId` (a MeshError's wire form: e.g. RING_FAILURE for a corrupt ring). */
export interface FaultEvent {
  localId: number;
  code: string;
  message: string;
}

/** OPEN_PAIR's answer: the ring (the app maps it as its writer) and the doorbell of the reader's app (to ring when it sleeps). */
export interface PairOpened {
  path: string;
  bell: string;
}

/**
 * PAIR_CLOSED, one of two: instance `to` went away (the app stops writing pair
 * ring `localId` -> `to` and answers PAIR_DONE), or the writer `from` of pair
 * ring `from` -> `localId` went away (the app reads it to its end).
 */
export type PairClosedEvent = ({ localId: number; to: number } | { localId: number; from: number }) & { reason: OfflineReason };

/** One instance's queue depth: bytes waiting for it (its rx ring plus the agent's staging). */
export interface LoadItem {
  node: number;
  localId: number;
  depth: number;
}

/** LOAD: depths of this agent's instances that changed. */
export interface LoadReport {
  items: LoadItem[];
}

export function instanceInfo(value: unknown): InstanceInfo {
  const b = object(value, 'an instance');
  const service = checkedName(validateService, b.service);
  const userData = checkedName(validateUserData, b.userData);
  const id = instanceId(service, userData);
  if (b.id !== id) throw new ProtocolError(`'id' of instance ${id} must be its service/userData`);
  return { service, userData, id, agentId: text(b, 'agentId', MAX_AGENT_ID), node: integer(b, 'node', 0, U32), localId: integer(b, 'localId', 0, U32), epoch: integer(b, 'epoch', 0, U32) };
}

export function helloAnswer(value: unknown): HelloAnswer {
  const b = object(value, 'the HELLO answer');
  const { v, caps } = versions(b);
  return { nonce: bytes(b, 'nonce', NONCE_BYTES, NONCE_BYTES), agentId: text(b, 'agentId', MAX_AGENT_ID), ...(v === undefined ? {} : { v }), ...(caps === undefined ? {} : { caps }) };
}

export function welcome(value: unknown): Welcome {
  const b = object(value, 'the AUTH answer');
  return { agentId: text(b, 'agentId', MAX_AGENT_ID), epoch: integer(b, 'epoch', 0, U32), clientBell: text(b, 'clientBell', MAX_PATH), agentBell: text(b, 'agentBell', MAX_PATH) };
}

export function created(value: unknown): Created {
  const b = object(value, 'the CREATE answer');
  return {
    localId: integer(b, 'localId', 0, U32),
    info: instanceInfo(b.info),
    txPath: text(b, 'txPath', MAX_PATH),
    rxPath: text(b, 'rxPath', MAX_PATH),
    maxRecord: integer(b, 'maxRecord', 1, U32),
  };
}

export function watchAnswer(value: unknown): WatchAnswer {
  const b = object(value, 'the WATCH answer');
  return { watchId: integer(b, 'watchId', 0, U32), instances: list(b, 'instances').map(instanceInfo) };
}

export function onlineEvent(value: unknown): OnlineEvent {
  const b = object(value, 'the ONLINE body');
  return { watchId: integer(b, 'watchId', 0, U32), instance: instanceInfo(b.instance) };
}

export function offlineEvent(value: unknown): OfflineEvent {
  const b = object(value, 'the OFFLINE body');
  return { watchId: integer(b, 'watchId', 0, U32), instance: instanceInfo(b.instance), reason: offlineReason(b.reason) };
}

export function kickedEvent(value: unknown): KickedEvent {
  const b = object(value, 'the KICKED body');
  return { localId: integer(b, 'localId', 0, U32), by: instanceInfo(b.by) };
}

export function faultEvent(value: unknown): FaultEvent {
  const b = object(value, 'the FAULT body');
  return { localId: integer(b, 'localId', 0, U32), code: text(b, 'code', MAX_ERROR_CODE), message: text(b, 'message', MAX_ERROR_MESSAGE, 0) };
}

export function pairOpened(value: unknown): PairOpened {
  const b = object(value, 'the OPEN_PAIR answer');
  return { path: text(b, 'path', MAX_PATH), bell: text(b, 'bell', MAX_PATH) };
}

export function pairClosedEvent(value: unknown): PairClosedEvent {
  const b = object(value, 'the PAIR_CLOSED body');
  return { localId: integer(b, 'localId', 0, U32), ...pairEnd(b), reason: offlineReason(b.reason) };
}

export function loadReport(value: unknown): LoadReport {
  return { items: list(object(value, 'the LOAD body'), 'items').map(loadItem) };
}

function loadItem(value: unknown): LoadItem {
  const b = object(value, 'a load item');
  return { node: integer(b, 'node', 0, U32), localId: integer(b, 'localId', 0, U32), depth: integer(b, 'depth', 0, Number.MAX_SAFE_INTEGER) };
}

// ---------------------------------------------------------------- requests and their answers

/** Each request an app makes: the body it sends and the answer it gets. */
export interface ControlRequests {
  [ControlMessage.HELLO]: { body: HelloRequest; answer: HelloAnswer };
  [ControlMessage.AUTH]: { body: AuthRequest; answer: Welcome };
  [ControlMessage.CREATE]: { body: CreateRequest; answer: Created };
  [ControlMessage.STARTUP]: { body: InstanceRequest; answer: InstanceInfo };
  [ControlMessage.WATCH]: { body: WatchRequest; answer: WatchAnswer };
  [ControlMessage.UNWATCH]: { body: UnwatchRequest; answer: Empty };
  [ControlMessage.CLOSE]: { body: InstanceRequest; answer: Empty };
  [ControlMessage.RESOLVE]: { body: ResolveRequest; answer: InstanceInfo };
  [ControlMessage.RELEASE]: { body: InstanceRequest; answer: Empty };
  [ControlMessage.OPEN_PAIR]: { body: OpenPairRequest; answer: PairOpened };
  [ControlMessage.PAIR_DONE]: { body: PairDoneRequest; answer: Empty };
  [ControlMessage.DRAIN]: { body: InstanceRequest; answer: Empty };
}
export type AppRequest = keyof ControlRequests;

/** The decoder of each request's answer (the client runs it on every RESULT). */
export const ANSWERS: { readonly [K in AppRequest]: (value: unknown) => ControlRequests[K]['answer'] } = {
  [ControlMessage.HELLO]: helloAnswer,
  [ControlMessage.AUTH]: welcome,
  [ControlMessage.CREATE]: created,
  [ControlMessage.STARTUP]: instanceInfo,
  [ControlMessage.WATCH]: watchAnswer,
  [ControlMessage.UNWATCH]: empty,
  [ControlMessage.CLOSE]: empty,
  [ControlMessage.RESOLVE]: instanceInfo,
  [ControlMessage.RELEASE]: empty,
  [ControlMessage.OPEN_PAIR]: pairOpened,
  [ControlMessage.PAIR_DONE]: empty,
  [ControlMessage.DRAIN]: empty,
};
