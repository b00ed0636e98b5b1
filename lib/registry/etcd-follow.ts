/**
 * PrefixFollower: everything under an etcd key prefix, as a listed snapshot
 * and then every change, with no event missed and none applied twice.
 *
 * - List (paged, at one revision R), then watch from R + 1.
 * - Events at or below the last applied revision are dropped, so a list and
 *   a watch that overlap never apply an event twice.
 * - A watch that etcd cancels (compaction, or anything else) and a watch
 *   stream that reconnected (etcd3 restarts it from the revision of its
 *   create answer, which can skip events) are repaired by listing again:
 *   events arriving during that list are held back, the new list is handed to
 *   `onResync`, then the held events above its revision are applied.
 * - Listing retries with back-off capped at `maxBackoffMs` until it works or
 *   the follower is closed.
 * - A watch cancelled by etcd auth also renews the watch stream's token.
 */
import type { IEvent, IKeyValue, Watcher } from 'etcd3';
import { Backoff } from '../protocol/backoff.js';
import { sleep, type EtcdCalls } from './etcd-calls.js';
import type { Logger } from '../protocol/logger.js';

/** A watch cancelled by etcd auth (see EtcdCalls.renewWatchAuth). */
const AUTH_CANCEL = /invalid auth token|permission denied|user name is empty|Unauthenticated/i;

export interface FollowerSink {
  /** A later full list replacing everything known (after a repair). */
  onResync(kvs: IKeyValue[]): void;
  onEvent(event: IEvent): void;
}

export class PrefixFollower {
  private rev = 0n;
  private watcher: Watcher | undefined;
  private held: IEvent[] | undefined;
  private repairing: Promise<void> | undefined;
  private repairAgain = false;
  private closed = false;

  constructor(
    private readonly calls: EtcdCalls,
    private readonly prefix: string,
    private readonly sink: FollowerSink,
    private readonly log: Logger,
  ) {}

  /** List and start watching; resolves with the listed keys. Fails (RegistryUnavailableError) if etcd cannot be listed in time. */
  async start(): Promise<IKeyValue[]> {
    const { kvs, revision } = await this.calls.retrying(() => this.calls.list(this.prefix));
    this.rev = revision;
    this.watchFrom(revision + 1n);
    return kvs;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.watcher;
    this.watcher = undefined;
    if (w) void w.cancel().catch(() => {});
  }

  private watchFrom(revision: bigint): void {
    if (this.closed) return;
    const w = this.calls.client.watch().prefix(this.prefix).startRevision(revision.toString()).watcher();
    this.watcher = w;
    let disconnected = false;
    w.on('data', (res) => {
      if (this.watcher !== w) return;
      for (const ev of res.events) this.deliver(ev);
    });
    w.on('disconnected', () => {
      disconnected = true;
    });
    w.on('connected', () => {
      if (!disconnected || this.watcher !== w) return;
      disconnected = false;
      this.log.info(`registry: watch on ${this.prefix} reconnected; listing again`);
      this.repair(false);
    });
    w.on('error', (err: Error) => {
      if (this.watcher !== w) return;
      this.log.warn(`registry: watch on ${this.prefix} cancelled (${err.message}); listing again`);
      if (AUTH_CANCEL.test(err.message)) this.calls.renewWatchAuth();
      this.watcher = undefined;
      this.repair(true);
    });
  }

  private deliver(ev: IEvent): void {
    if (this.held) {
      if (this.held.length < 1_000_000) this.held.push(ev);
      return;
    }
    const r = BigInt(ev.kv.mod_revision);
    if (r <= this.rev) return;
    this.rev = r;
    this.sink.onEvent(ev);
  }

  /** List again and resynchronise; `rewatch` when the watch itself is gone. */
  private repair(rewatch: boolean): void {
    if (this.closed) return;
    if (this.repairing) {
      this.repairAgain ||= true;
      if (rewatch) this.needWatch = true;
      return;
    }
    this.needWatch ||= rewatch;
    this.repairing = this.runRepair().finally(() => {
      this.repairing = undefined;
      if (this.repairAgain && !this.closed) {
        this.repairAgain = false;
        this.repair(false);
      }
    });
  }

  private needWatch = false;

  private async runRepair(): Promise<void> {
    this.held = [];
    for (const backoff = new Backoff(50, this.calls.options.maxBackoffMs); !this.closed;) {
      try {
        const { kvs, revision } = await this.calls.list(this.prefix);
        if (this.closed) return;
        const held = this.held ?? [];
        this.held = undefined;
        if (revision > this.rev) {
          this.rev = revision;
          this.sink.onResync(kvs);
        }
        for (const ev of held) this.deliver(ev);
        if (this.needWatch) {
          this.needWatch = false;
          this.watchFrom(this.rev + 1n);
        }
        return;
      } catch (err) {
        if (this.closed) return;
        this.log.warn(`registry: listing ${this.prefix} failed (${(err as Error).message}); retrying`);
        await sleep(backoff.next());
      }
    }
  }
}
