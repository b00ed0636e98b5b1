/**
 * EtcdCalls: the etcd3 client as EtcdRegistry uses it. One place for
 * - the client options: etcd auth and TLS (etcd-security.ts),
 *   per-call deadlines on unary calls (streams have none),
 *   the gRPC receive limit raised, watch and circuit back-off capped at ~1 s,
 *   no hidden retries (we retry here, where we know what is idempotent);
 * - `retrying`: run an operation until it succeeds or the request timeout
 *   passes, with capped back-off; failures become RegistryUnavailableError,
 *   except etcd refusing our credentials: RegistryAuthError at once;
 * - typed helpers for ranges (paged, at one revision) and transactions.
 */
import { ConstantBackoff, ExponentialBackoff, type IBackoff, circuitBreaker, ConsecutiveBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, EtcdLeaseInvalidError, isRecoverableError, type IKeyValue, type IRequestOp, type ITxnResponse } from 'etcd3';
import type { ICompare } from 'etcd3';
import { ClosedError, MeshError, RegistryUnavailableError } from '../protocol/errors.js';
import { etcdUrlOf, prefixEnd } from './etcd-keys.js';
import { refusal } from './etcd-refusal.js';
import { clientSecurity, type EtcdSecurity } from './etcd-security.js';
import { Backoff } from '../protocol/backoff.js';

export interface EtcdCallOptions {
  /** Deadline of one unary call. Default 2000 ms. */
  callTimeoutMs: number;
  /** How long an operation may keep retrying. Default 5000 ms. */
  requestTimeoutMs: number;
  /** Cap of every back-off. Default 1000 ms. */
  maxBackoffMs: number;
  /** Keys per page when listing. Default 2000. */
  pageSize: number;
}

export const DEFAULT_CALL_OPTIONS: Readonly<EtcdCallOptions> = { callTimeoutMs: 2000, requestTimeoutMs: 5000, maxBackoffMs: 1000, pageSize: 2000 };

/** The lease we write with is gone: the caller must get a new one first. */
export class LeaseGoneError extends Error {}

export function makeClient(hosts: string[], o: EtcdCallOptions, security: EtcdSecurity = {}): Etcd3 {
  return new Etcd3({
    hosts,
    ...clientSecurity(security),
    dialTimeout: o.callTimeoutMs,
    grpcOptions: {
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': o.maxBackoffMs,
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + o.callTimeoutMs }),
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: o.maxBackoffMs, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 1, backoff: new ConstantBackoff(20) }),
      // etcd3 calls next() on it, as on its own default (a cockatiel 3 factory); its typing predates that
      watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: o.maxBackoffMs }) as unknown as IBackoff<unknown>,
    },
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());


export class EtcdCalls {
  closed = false;

  constructor(
    readonly client: Etcd3,
    readonly options: EtcdCallOptions,
    private readonly what: string,
    private readonly security: EtcdSecurity = {},
  ) {}

  /**
   * Run `op` until it succeeds, throws a MeshError (a verdict, not a failure),
   * etcd refuses our credentials (RegistryAuthError), or `requestTimeoutMs`
   * passes. Every attempt must be safe to repeat.
   */
  async retrying<T>(op: () => Promise<T>, timeoutMs = this.options.requestTimeoutMs): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    const backoff = new Backoff(25, this.options.maxBackoffMs);
    for (;;) {
      if (this.closed) throw new ClosedError('registry closed');
      try {
        return await withDeadline(op(), this.options.callTimeoutMs * 2);
      } catch (err) {
        if (err instanceof MeshError || err instanceof LeaseGoneError) throw err;
        const refused = refusal(err, this.what, this.security);
        if (refused) throw refused;
        if (err instanceof EtcdLeaseInvalidError || /lease not found/i.test((err as Error).message)) {
          throw new LeaseGoneError((err as Error).message);
        }
        const wait = backoff.next();
        if (performance.now() + wait >= deadline) {
          throw new RegistryUnavailableError(`etcd at ${this.what} did not answer within ${timeoutMs} ms: ${(err as Error).message}`, { cause: err });
        }
        await sleep(wait);
      }
    }
  }

  /**
   * etcd cancelled a watch for its auth: it forgot our token (a restarted
   * member forgets every simple token; an unused one expires after
   * --auth-token-ttl), or our role changed. etcd3 1.1 renews the token for
   * unary calls only, and a watch cancelled at creation stalls its queue, so
   * no later watch on that stream is ever created. Drop the token and
   * reconnect the watch stream: every watcher is created again (each
   * follower lists again on reconnecting). Reaches into etcd3's internals.
   */
  renewWatchAuth(): void {
    const c = this.client as unknown as {
      pool?: { authenticator?: { invalidateMetadata?(): void } };
      watchManager?: { state?: number; handleError?(err: Error): void };
    };
    c.pool?.authenticator?.invalidateMetadata?.();
    const CONNECTED = 2; // etcd3's WatchManager State.Connected
    if (c.watchManager?.state === CONNECTED) c.watchManager.handleError?.(new Error('etcd cancelled a watch for its auth token'));
  }

  /** One transaction. */
  txn(compare: ICompare[], success: IRequestOp[], failure: IRequestOp[] = []): Promise<ITxnResponse> {
    return this.client.kv.txn({ compare, success, failure });
  }

  /** Every key under `prefix` at one revision, paged. */
  async list(prefix: string): Promise<{ kvs: IKeyValue[]; revision: bigint }> {
    const start = Buffer.from(prefix);
    const end = prefixEnd(start);
    const kvs: IKeyValue[] = [];
    let key = start;
    let revision: string | undefined;
    for (;;) {
      const res = await this.client.kv.range({ key, range_end: end, limit: this.options.pageSize, ...(revision ? { revision } : {}) });
      revision ??= res.header.revision;
      kvs.push(...res.kvs);
      if (!res.more || res.kvs.length === 0) return { kvs, revision: BigInt(revision) };
      key = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }
}

/** A client for the endpoints (from parseEtcdUrl), with its EtcdCalls. */
export function connect(hosts: string[], o: EtcdCallOptions, security: EtcdSecurity = {}): EtcdCalls {
  return new EtcdCalls(makeClient(hosts, o, security), o, etcdUrlOf(hosts), security);
}

/** Range op for a transaction's failure branch: read the key. */
export const readOp = (key: Buffer): IRequestOp => ({ request_range: { key } });

export const putOp = (key: Buffer, value: Buffer, lease?: string): IRequestOp =>
  ({ request_put: { key, value, ...(lease ? { lease } : {}) } });

export const deleteOp = (key: Buffer): IRequestOp => ({ request_delete_range: { key } });

export const modIs = (key: Buffer, rev: string): ICompare => ({ key, target: 'Mod', result: 'Equal', mod_revision: rev });

export const absent = (key: Buffer): ICompare => ({ key, target: 'Create', result: 'Equal', create_revision: 0 });

/** The key the failure branch read (readOp), if any. */
export const readKv = (res: ITxnResponse, i = 0): IKeyValue | undefined => res.responses[i]?.response_range?.kvs[0];

/** The revision a successful transaction wrote at. */
export const txnRevision = (res: ITxnResponse): string => res.header.revision;

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
    p.then((v) => {
      clearTimeout(timer);
      resolve(v);
    }, (e: unknown) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
