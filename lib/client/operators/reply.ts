/**
 * reply: for `inst.messages$`. Maps each request to a reply value with `fn`
 * (returned directly, as a Promise, or as an Observable whose first value is
 * used) and sends it back to its sender: the reply carries the request's
 * correlation id, so it resolves the sender's `request()`. Emits one outcome
 * per message once its reply went out.
 *
 * It answers requests only. A plain message (`send`, `sendTo`) has nobody
 * waiting for an answer, so `fn` is not called and nothing is sent back: its
 * outcome is `ok: false` with a BadArgumentError (use `msg.reply(x)` to answer
 * a plain message deliberately, ping-pong style).
 *
 * ```
 * messages$: --m1------m2------m3--
 * reply((m) => m.value() * 2)          (fn throws on m2)
 * result:    --ok(2)---err(e)--ok(6)-   the requester of m2 gets a RemoteError
 * ```
 *
 * A handler that throws, rejects, errors or completes without a value does
 * not kill the stream: the sender gets an error reply (`code` from a MeshError,
 * else `REMOTE`) and the outcome says `ok: false`. Replies run concurrently
 * (up to `concurrency`, default unbounded) and may finish out of order.
 * Temperature follows the source (`messages$` is hot). With `zeroCopy`
 * instances, `fn` runs synchronously inside `next`, so it may read `m.data`.
 *
 * Headers: with `echoHeaders`, a reply carries the request's headers back
 * (all of them, or the names listed); `headers` adds fixed ones (or a function
 * of the request). With OpenTelemetry, `fn` runs under a SERVER span that
 * continues the request's trace (tracing.ts), and the reply carries its context.
 *
 * Backpressure: when the tx ring is full, a reply waits for it to drain, up to
 * `drainTimeoutMs`; then that outcome is `ok: false` with QueueFullError.
 * Unsubscribing drops pending replies and their timers.
 *
 * ## Example
 * ```ts
 * scene.messages$.pipe(
 *   filter((m) => m.isRequest),
 *   reply((m) => ({ ok: true, op: m.value<{ op: string }>().op })),
 * ).subscribe();
 * ```
 *
 * @param fn Maps a message to its reply value (sync, Promise or Observable).
 * @param opts `concurrency` of pending replies, `drainTimeoutMs`, `echoHeaders`, `headers`.
 * @return An operator emitting a ReplyOutcome per message.
 */
import { from, isObservable, mergeMap, Observable, of, take, type ObservableInput, type OperatorFunction, type Subscriber, type TeardownLogic } from 'rxjs';
import { BadArgumentError, MeshError, QueueFullError } from '../../protocol/errors.js';
import type { Headers } from '../../protocol/headers.js';
import type { Message } from '../message.js';
import { handlingScope } from '../tracing.js';

/** What reply() emits per message: the value it answered with, or the error it answered (or skipped a plain message) with. */
export type ReplyOutcome<R> = { message: Message; ok: true; value: R } | { message: Message; ok: false; error: Error };

/** reply()'s options. */
export interface ReplyOptions {
  concurrency?: number;
  /** How long one reply may wait for a full tx ring to drain (ms). Default 5000. */
  drainTimeoutMs?: number;
  /** Send the request's headers back with its reply: `true` for all of them, or the names to echo. Default none. */
  echoHeaders?: boolean | readonly string[];
  /** Headers for every reply, or a function of the request (on top of the echoed ones). */
  headers?: Headers | ((message: Message) => Headers | undefined);
}

/** The headers of the reply to `message` that `opts` ask for (undefined: none). */
function replyHeaders(message: Message, opts: ReplyOptions): Headers | undefined {
  const own = typeof opts.headers === 'function' ? opts.headers(message) : opts.headers;
  const asked = opts.echoHeaders;
  const req = message.headers;
  if (!asked || !req) return own;
  const echoed = asked === true ? req : Object.fromEntries(asked.filter((k) => Object.hasOwn(req, k)).map((k) => [k, req[k]!]));
  return own ? { ...echoed, ...own } : echoed;
}

const errorBody = (err: unknown): { code: string; message: string } => ({
  code: err instanceof MeshError ? err.code : 'REMOTE',
  message: err instanceof Error ? err.message : String(err),
});

/**
 * On `messages$`: answer each request with `fn(message)` (a value, a Promise or an Observable's first value),
 * with its correlation id; a throwing `fn` sends an error reply (the requester gets a RemoteError) and the
 * stream goes on. A plain message is not answered: its outcome is `ok: false` (BAD_ARGUMENT).
 */
export function reply<R>(fn: (message: Message) => R | PromiseLike<R> | ObservableInput<R>, opts: ReplyOptions = {}): OperatorFunction<Message, ReplyOutcome<R>> {
  const drainTimeoutMs = opts.drainTimeoutMs ?? 5000;
  const answer = (message: Message) =>
    new Observable<ReplyOutcome<R>>((subscriber) => {
      if (!message.isRequest) {
        subscriber.next({ message, ok: false, error: new BadArgumentError(`a plain message from ${message.from.id} is not a request: reply() answers requests only`) });
        subscriber.complete();
        return;
      }
      const scope = handlingScope(message, 'server');
      return scope ? scope.run(() => handle(message, subscriber, scope.end)) : handle(message, subscriber, () => {});
    });
  const handle = (message: Message, subscriber: Subscriber<ReplyOutcome<R>>, ended: (err?: unknown) => void): TeardownLogic => {
    const abort = new AbortController();
    const send = async (value: unknown, failed: unknown): Promise<void> => {
      for (;;) {
        try {
          const headers = replyHeaders(message, opts);
          if (failed === undefined) message.reply(value, { headers });
          else message.replyError(errorBody(failed), { headers });
          break;
        } catch (err) {
          if (!(err instanceof QueueFullError)) throw err;
          await message.whenWritable(drainTimeoutMs, abort.signal);
        }
      }
    };
    const finish = (value: R | undefined, failed: unknown): void => {
      send(value, failed).then(
        () => {
          ended(failed);
          subscriber.next(failed === undefined ? { message, ok: true, value: value as R } : { message, ok: false, error: failed instanceof Error ? failed : new Error(String(failed)) });
        },
        (err: Error) => {
          ended(err);
          subscriber.next({ message, ok: false, error: err });
        },
      ).finally(() => subscriber.complete());
    };
    let result: Observable<R>;
    try {
      const r = fn(message);
      const async = isObservable(r) || (typeof (r as PromiseLike<R> | null)?.then === 'function');
      result = async ? from(r as ObservableInput<R>).pipe(take(1)) : of(r as R);
    } catch (err) {
      finish(undefined, err ?? new Error('handler threw'));
      return () => abort.abort();
    }
    let got = false;
    const inner = result.subscribe({
      next: (v) => { got = true; finish(v, undefined); },
      error: (err: unknown) => finish(undefined, err ?? new Error('handler failed')),
      complete: () => { if (!got) finish(undefined, new Error('the handler produced no reply')); },
    });
    return () => {
      inner.unsubscribe();
      abort.abort();
      ended();
    };
  };
  return (source) => source.pipe(mergeMap(answer, opts.concurrency ?? Infinity));
}
