/**
 * LocalInstance: one instance hosted by this agent — its two rings and the
 * staging batch of records on their way into its rx ring.
 *
 *   tx ring: app -> agent (the app produces, the agent consumes)
 *   rx ring: agent -> app (the agent produces, the app consumes)
 */
import { Ring, RecordBatch, type Doorbell, type RingOptions } from '../native/index.js';
import type { InstanceInfo } from '../protocol/control-messages.js';
import type { InstanceRecord } from '../protocol/registry-messages.js';

export type InstanceState = 'registered' | 'online' | 'gone';

/** Something a source can be paused on: a full local destination or a full peer link. */
export interface Blocker {
  readonly waiters: Set<LocalInstance>;
}

export class LocalInstance {
  state: InstanceState = 'registered';
  /** The app connection that owns it. */
  clientId = 0;
  readonly tx: Ring;
  readonly rx: Ring;
  /** Records for the rx ring that did not fit yet (bounded). */
  readonly staging: RecordBatch;
  /** Sources whose tx ring is paused until our staging drains. */
  readonly waiters = new Set<LocalInstance>();
  /** Set while this instance's tx ring is paused on a full destination or link. */
  blockedOn: Blocker | null = null;
  /** Bounces that did not fit the staging batch; bounded by what this instance sent. */
  readonly overflow: { type: number; body: Uint8Array }[] = [];
  private readonly creators: Ring[];

  constructor(
    readonly localId: number,
    readonly record: InstanceRecord,
    readonly info: InstanceInfo,
    readonly txPath: string,
    readonly rxPath: string,
    ringOptions: RingOptions,
    clientBell: Doorbell,
  ) {
    const txOwner = Ring.create(txPath, ringOptions);
    let rxOwner: Ring | undefined;
    try {
      rxOwner = Ring.create(rxPath, ringOptions);
      this.creators = [txOwner, rxOwner];
      this.tx = Ring.open(txPath, 'consumer');
      this.rx = Ring.open(rxPath, 'producer');
    } catch (err) {
      txOwner.unlink();
      txOwner.close();
      rxOwner?.unlink();
      rxOwner?.close();
      throw err;
    }
    this.rx.setBell(clientBell);
    this.staging = new RecordBatch(Math.max(256 * 1024, 4 * (this.rx.maxRecord + 64)));
  }

  get gameId(): string {
    return this.record.gameId;
  }

  get maxRecord(): number {
    return this.tx.maxRecord;
  }

  /** Move staged records into the rx ring. True when nothing is left staged. */
  flush(): boolean {
    if (this.state === 'gone') return true;
    if (this.staging.length > 0) this.rx.writeBatch(this.staging);
    while (this.overflow.length > 0 && this.staging.add(this.overflow[0]!.type, this.overflow[0]!.body)) this.overflow.shift();
    if (this.staging.length > 0) this.rx.writeBatch(this.staging);
    return this.staging.length === 0 && this.overflow.length === 0;
  }

  /** Unmap and remove both ring files. Idempotent. */
  destroy(): void {
    this.state = 'gone';
    for (const r of [this.tx, this.rx, ...this.creators]) r.close();
    for (const r of this.creators) r.unlink();
  }
}
