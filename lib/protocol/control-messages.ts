/**
 * The control-socket protocol (app <-> its local agent), framed by
 * FramedConnection. Requests carry an id and get RESULT/FAILURE; events have
 * id 0. Data never goes here: it goes through the shared-memory rings.
 */
import type { OfflineReason } from './registry-messages.js';

export const ControlMessage = {
  /** app -> agent {gameId, pid} -> {nonce, agentId} */
  HELLO: 30,
  /** app -> agent {proof: HMAC-SHA256(game key, nonce)} -> Welcome ; FAILURE AUTH */
  AUTH: 31,
  /** app -> agent {service, userData, conflict, meta?} -> Created ; FAILURE CONFLICT / INVALID_NAME / CROSS_GAME */
  CREATE: 32,
  /** app -> agent {localId} -> InstanceInfo (now online) */
  STARTUP: 33,
  /** app -> agent {pattern} -> {watchId, instances: InstanceInfo[]} */
  WATCH: 34,
  /** app -> agent {watchId} -> {} */
  UNWATCH: 35,
  /** app -> agent {localId} -> {}: the instance leaves routing (messages waiting for it bounce);
   * answered once everything it sent is read and settled (delivered or reported back) */
  CLOSE: 36,
  /** app -> agent {node, localId} -> InstanceInfo ; FAILURE NOT_FOUND */
  RESOLVE: 37,
  /** `rxmesh status` -> agent {} -> the agent's counters (rings, router, links). Needs no game auth:
   * the control socket is private to the agent's user. */
  STATUS: 38,
  /** app -> agent {localId} -> {}: after CLOSE, the app reads no more; what it left unread is bounced */
  RELEASE: 39,
  /** agent -> app {watchId, instance: InstanceInfo} */
  ONLINE: 40,
  /** agent -> app {watchId, instance: InstanceInfo, reason} */
  OFFLINE: 41,
  /** agent -> app {localId, by: InstanceInfo}: replaced by another registration */
  KICKED: 42,
  /** agent -> app {localId, code, message}: the agent dropped the instance (e.g. a corrupt ring) */
  FAULT: 43,
  /** agent -> app LoadReport: rx queue depths of this agent's instances (changes only, at most every ~100 ms) */
  LOAD: 44,
} as const;
export type ControlMessage = (typeof ControlMessage)[keyof typeof ControlMessage];

/** What an app learns about an instance. `node` + `localId` is its address
 * as this agent sees it (node 0 = this agent). */
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

export interface Welcome {
  agentId: string;
  /** The agent's incarnation (see InstanceInfo.epoch). */
  epoch: number;
  /** FIFO the app listens on: the agent rings it when one of the app's rx rings gets data. */
  clientBell: string;
  /** FIFO the app rings when the agent is parked on the app's tx rings. */
  agentBell: string;
}

export interface Created {
  localId: number;
  info: InstanceInfo;
  /** app -> agent ring (the app produces) */
  txPath: string;
  /** agent -> app ring (the app consumes) */
  rxPath: string;
  maxRecord: number;
}

export interface OfflineEvent {
  watchId: number;
  instance: InstanceInfo;
  reason: OfflineReason;
}

/** One instance's queue depth: bytes waiting for it (its rx ring plus the agent's staging). */
export interface LoadItem {
  node: number;
  localId: number;
  depth: number;
}

export interface LoadReport {
  items: LoadItem[];
}
