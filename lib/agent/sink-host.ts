/**
 * What a LocalSink needs from the data path around it (SinkHost), the limits
 * it enforces, and what it counts: its contract, apart from how it works.
 */
import type { RecordBatch, RingError } from '../native/index.js';
import type { LocalSink } from './local-sink.js';
import type { Ticket } from './record-sink.js';

/** What a sink needs from the data path around it. */
export interface SinkHost {
  readonly epoch: number;
  /** This sink has staged or waiting records: flush it when the current round ends. */
  touch(sink: LocalSink): void;
  /** Call `ticket.done()` once the current round's flush is complete. */
  afterFlush(ticket: Ticket): void;
  /** A staging batch of at least `bytes` (pooled). */
  borrowBatch(bytes: number): RecordBatch;
  returnBatch(batch: RecordBatch): void;
  /** The sink waits for the app (space bell) or a timer: keep it in view. */
  waiting(sink: LocalSink, yes: boolean): void;
  /** Run `fn` inside a round (timers). */
  round(fn: () => void): void;
  /** Its rx ring failed (corrupt): the instance behind this sink must be dropped, not whoever offered. */
  broken(sink: LocalSink, err: RingError): void;
}

export interface SinkLimits {
  /** How long the wait list may make no progress before its messages are refused. */
  fullMs: number;
  /** Bytes of messages that may wait in the agent for one instance; past it origins are paused. */
  maxWaitBytes: number;
  /** Bytes of unfinished fragmented messages one instance may be receiving at once. */
  maxPartialBytes: number;
}

export type SinkState = 'open' | 'leaving' | 'closed';

/** What an instance received: messages and bytes written to its rings, bounced, dropped. */
export interface SinkStats {
  delivered: number;
  refused: number;
  orphaned: number;
  stalls: number;
}
