/**
 * The control-socket protocol (app <-> its local agent), framed by
 * FramedConnection. Requests carry an id and get RESULT/FAILURE; events have
 * id 0. Data never goes here: it goes through the shared-memory rings. Bodies
 * (their types, and the decoder both ends run): control-bodies.ts.
 */
export const ControlMessage = {
  /** app -> agent {gameId, pid} -> {nonce, agentId} */
  HELLO: 30,
  /** app -> agent {proof: HMAC-SHA256(game key, nonce)} -> Welcome ; FAILURE AUTH */
  AUTH: 31,
  /** app -> agent {service, userData, conflict} -> Created ; FAILURE CONFLICT / INVALID_NAME / CROSS_GAME */
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
  /** app -> agent {localId, to} -> {path, bell}: a pair ring from instance `localId` straight to local
   * instance `to` (pair-marker.ts); FAILURE when refused (the app keeps sending through the agent) */
  OPEN_PAIR: 45,
  /** app -> agent {localId, to} -> {}: the app writes no more into pair ring (localId -> to);
   * {localId, from} -> {}: it reads pair ring (from -> localId) no more (read to its end; or it could not open it) */
  PAIR_DONE: 46,
  /** agent -> app {localId, to, reason}: instance `to` went away: stop writing pair ring (localId -> to),
   * then PAIR_DONE; {localId, from, reason}: the writer of pair ring (from -> localId) went away: read it to its end */
  PAIR_CLOSED: 47,
  /** app -> agent {localId} -> {}: graceful drain (client/drain.ts). The instance leaves the registry (watchers see it
   * offline, reason `draining`) but stays a destination: what is sent to it is still delivered until its CLOSE.
   * Answered once the registry took the deregistration. Only to an agent whose HELLO named the `drain` capability. */
  DRAIN: 48,
} as const;
export type ControlMessage = (typeof ControlMessage)[keyof typeof ControlMessage];

// The body types that were defined here (they live with their decoders now).
export type { Created, InstanceInfo, LoadItem, LoadReport, OfflineEvent, Welcome } from './control-bodies.js';
