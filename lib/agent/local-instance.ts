/**
 * LocalInstance: one instance hosted by this agent: its registry record, its
 * two rings (each mapped once here), and the two ends of the record path they
 * feed: its Source (what it sends) and its LocalSink (what it receives).
 *
 *   tx ring: app -> agent (the app produces, the agent consumes: Source)
 *   rx ring: agent -> app (the agent produces: LocalSink, the app consumes)
 *
 * Lifecycle: registered -> online (routable) -> leaving (not a destination any
 * more; what it sent still goes out and settles) -> gone (rings unmapped and
 * removed; what it left unread bounced to the senders). A drain (DRAIN) puts
 * `draining` between online and leaving: out of the registry, so no sender
 * picks it any more, but still a destination for what was sent to it.
 */
import { unlinkSync } from 'node:fs';
import { Ring, type Doorbell, type RingOptions } from '../native/index.js';
import type { InstanceInfo } from '../protocol/control-messages.js';
import type { InstanceRecord } from '../protocol/registry-messages.js';
import { LimitedSink, type BufferMeter } from './limits.js';
import { LocalSink } from './local-sink.js';
import type { SinkHost, SinkLimits } from './sink-host.js';
import type { Destination } from './router.js';
import type { RecordSink } from './record-sink.js';
import { Source, type SourceHost } from './source.js';

export type InstanceState = 'registered' | 'online' | 'draining' | 'leaving' | 'gone';

export class LocalInstance implements Destination {
  state: InstanceState = 'registered';
  /** The app connection that owns it. */
  clientId = 0;
  readonly tx: Ring;
  readonly rx: Ring;
  readonly sink: LocalSink;
  /** Where the router offers records for it: its sink, behind its app's and game's byte limits. */
  readonly entry: RecordSink;
  readonly source: Source;
  private readonly goneHooks: (() => void)[] = [];

  constructor(
    readonly localId: number,
    readonly record: InstanceRecord,
    readonly info: InstanceInfo,
    readonly txPath: string,
    readonly rxPath: string,
    ringOptions: RingOptions,
    clientBell: Doorbell,
    host: SinkHost & SourceHost,
    limits: SinkLimits,
    private readonly meter: BufferMeter,
  ) {
    this.tx = Ring.create(txPath, ringOptions, 'consumer');
    try {
      this.rx = Ring.create(rxPath, ringOptions, 'producer');
    } catch (err) {
      this.tx.close();
      remove(txPath);
      throw err;
    }
    this.tx.setSpaceBell(clientBell); // the app waits for room in its tx ring: ring it when we release
    this.rx.setBell(clientBell); // the app sleeps on its rx ring: ring it when we write
    this.sink = new LocalSink(localId, this.rx, host, limits);
    this.entry = new LimitedSink(this.sink, meter);
    this.source = new Source(localId, record.gameId, this.tx, this.sink, host);
  }

  get gameId(): string {
    return this.record.gameId;
  }

  /** A destination: online, or draining (gone from the registry, still taking what senders had addressed to it). */
  get routable(): boolean {
    return this.state === 'online' || this.state === 'draining';
  }

  get maxRecord(): number {
    return this.tx.maxRecord;
  }

  /** What it sent is all read and settled (a clean close may complete). */
  get drained(): boolean {
    try {
      return !this.source.isPaused && this.source.unsettled === 0 && !this.tx.available();
    } catch {
      return true; // an unreadable ring has nothing more to give
    }
  }

  /** Call `fn` once it is destroyed (its limits and mappings are given back). */
  onGone(fn: () => void): void {
    this.goneHooks.push(fn);
  }

  /** Unmap and remove both ring files. Idempotent. */
  destroy(): void {
    this.state = 'gone';
    this.source.close();
    this.rx.close();
    remove(this.txPath);
    remove(this.rxPath);
    this.meter.close();
    for (const fn of this.goneHooks.splice(0)) fn();
  }
}

function remove(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
