/**
 * What a PeerLink is given and what it reports: its timings, the identity of
 * the peer incarnation it serves, what it needs from its agent, its state and
 * counters. (The link itself: peer-link.ts.)
 */
import type { PeerLink } from './peer-link.js';

export interface LinkTimings {
  /** Ping interval on a connected link. */
  heartbeatMs: number;
  /** Silence after which the peer is taken for dead (promise: within 3 s). */
  deadMs: number;
  /** How long a link may be down before its messages bounce. */
  budgetMs: number;
  /** A connected link with nothing to send closes after this long. */
  idleMs: number;
  /** Unacknowledged bytes per link before senders are paused (a quarter of it per destination). */
  windowBytes: number;
}

export const DEFAULT_TIMINGS: LinkTimings = { heartbeatMs: 500, deadMs: 2000, budgetMs: 5000, idleMs: 30_000, windowBytes: 4 * 1024 * 1024 };

export interface PeerIdentity {
  readonly agentId: string;
  readonly epoch: number;
  /** this agent's number for that peer incarnation */
  readonly node: number;
}

import type { Logger } from '../../protocol/logger.js';
import type { TlsMaterial } from '../../protocol/tls.js';

/** What a link needs from its agent (and nothing more). */
export interface PeerLinkHost {
  readonly agentId: string;
  readonly epoch: number;
  readonly secret: string;
  /** Dial peers over TLS with this agent's certificate (else plain TCP, sealed after the handshake). */
  readonly tls: TlsMaterial | undefined;
  /** Where this agent listens ('' if it does not): sent in HELLO. */
  readonly address: string;
  readonly log: Logger;
  /** The game of a local instance (announced to the peer before its first record). */
  gameOf(local: number): string | null;
  /** Run `fn` as a round of the data path (settled tickets release at its end). */
  round(fn: () => void): void;
  /** The peer at this address is another incarnation: this link is retired for good. */
  retired(link: PeerLink, actualEpoch: number): void;
}

export type LinkState = 'idle' | 'connecting' | 'up' | 'down' | 'failed' | 'retired';

export interface LinkStats {
  peer: string;
  epoch: number;
  address: string;
  state: LinkState;
  msgsOut: number;
  bytesOut: number;
  resends: number;
  bounces: number;
  inDoubt: number;
  /** records the peer has done (in a ring there), or refused */
  done: number;
  queued: number;
  /** bytes of the queued records (sent and unacknowledged, or waiting to be written) */
  queuedBytes: number;
  connects: number;
  rttUs: number;
  /** The optional features both ends named in the last handshake (versions.ts). */
  caps: string[];
}
