/**
 * Message: what `messages$` emits. `data` is the payload bytes (a view into
 * the ring, valid only during `next`, when the instance was created with
 * `zeroCopy: true`); `value()` decodes CBOR values; `headers` are the strings
 * its sender attached (headers.ts), if any; `reply(x)` answers the sender (a
 * request's reply carries its correlation id).
 */
import type { InstanceInfo } from '../protocol/control-messages.js';
import type { UndeliverableReason } from '../protocol/envelope.js';
import { Flag } from '../protocol/envelope.js';
import { splitHeaders, type Headers } from '../protocol/headers.js';
import { decodePayload } from './payload.js';

/** An instance's address and names. Pass it to sendTo, or as `via` to send. */
export type InstanceRef = InstanceInfo;

/** What a Message needs from its instance to reply. */
export interface ReplyPort {
  /**
   * Answer a message: a request gets a reply (its correlation id), anything else a plain message.
   * `traced`: the message came with headers, so its sender reads them, and the answer may carry trace context.
   */
  replyTo(node: number, localId: number, epoch: number, corr: number, value: unknown, request: boolean, error: boolean, headers: Headers | undefined, traced: boolean): void;
  resolveRef(node: number, localId: number, epoch?: number): InstanceRef;
  whenWritable(timeoutMs?: number, signal?: AbortSignal): Promise<void>;
}

/** Options of `msg.reply`. */
export interface MessageReplyOptions {
  /** Headers for the reply (checked as for send). */
  headers?: Headers;
}

/**
 * A message to an instance, as `messages$` (or a request's reply) hands it out: its bytes, its sender
 * (`from`, stamped by the agent), whether it is a request, and `reply`/`replyError` to answer it.
 */
export class Message {
  /** The value's bytes (without the header block). */
  readonly data: Uint8Array;
  /** The headers its sender attached (frozen), or undefined when it sent none. */
  readonly headers: Headers | undefined;

  constructor(
    payload: Uint8Array,
    private readonly flags: number,
    private readonly node: number,
    private readonly local: number,
    private readonly epoch: number,
    readonly corr: number,
    readonly to: InstanceRef,
    private readonly port: ReplyPort,
  ) {
    if (flags & Flag.HEADERS) ({ headers: this.headers, data: this.data } = splitHeaders(payload));
    else {
      this.data = payload;
      this.headers = undefined;
    }
  }

  /** The sender (stamped by the agent, so it cannot be spoofed). */
  get from(): InstanceRef {
    return this.port.resolveRef(this.node, this.local, this.epoch);
  }

  get isRequest(): boolean {
    return (this.flags & Flag.REQUEST) !== 0;
  }

  /** The payload decoded: a CBOR value, or the bytes when it was sent as bytes. */
  value<T = unknown>(): T {
    return decodePayload<T>(this.data, this.flags);
  }

  /** Answer the sender; for a request, the reply resolves its `request()` promise. */
  reply(value: unknown, opts?: MessageReplyOptions): void {
    this.port.replyTo(this.node, this.local, this.epoch, this.corr, value, this.isRequest, false, opts?.headers, this.headers !== undefined);
  }

  /** Resolves once the receiving instance can send again (see Instance.whenWritable). */
  whenWritable(timeoutMs?: number, signal?: AbortSignal): Promise<void> {
    return this.port.whenWritable(timeoutMs, signal);
  }

  /** Answer a request with an error (its `request()` rejects with a RemoteError). */
  replyError(error: { code?: string; message: string }, opts?: MessageReplyOptions): void {
    this.port.replyTo(this.node, this.local, this.epoch, this.corr, { code: error.code ?? 'REMOTE', message: error.message }, this.isRequest, true, opts?.headers, this.headers !== undefined);
  }
}

/** A message this instance sent that could not be delivered (or, `in_doubt`, may not have been). */
export interface Undeliverable {
  to: InstanceRef;
  reason: UndeliverableReason;
  /** The value's bytes (without the header block). */
  data: Uint8Array;
  /** The headers it was sent with (undefined when none, or when only its tail came back: a streamed large message). */
  headers: Headers | undefined;
  /** The payload decoded (as Message.value). */
  value<T = unknown>(): T;
  corr: number;
}
