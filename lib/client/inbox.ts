/**
 * Inbox: turns the records of an instance's rx ring into what they mean —
 * a message, a reply to one of its requests, or a bounce of something it
 * sent — reassembling fragments per source on the way.
 */
import { Frag, fragOf, kindOf, Reassembler, type RecordVisitor } from '../native/index.js';
import { ENVELOPE_BYTES, Flag, RecordKind } from '../protocol/envelope.js';

const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** Where an Inbox delivers. `payload` is a copy unless zero-copy applies (a view valid during the call). */
export interface InboxSink {
  message(payload: Uint8Array, flags: number, node: number, local: number, corr: number): void;
  reply(payload: Uint8Array, flags: number, node: number, local: number, corr: number): void;
  bounce(payload: Uint8Array, flags: number, node: number, local: number, corr: number): void;
}

export class Inbox {
  private readonly reassembler = new Reassembler<string>();
  readonly visit: RecordVisitor = (type, body) => this.onRecord(type, body);

  constructor(
    private readonly sink: InboxSink,
    private readonly zeroCopy: boolean,
  ) {}

  /** A source went offline: free its partial message. */
  forget(node: number, local: number): void {
    this.reassembler.drop(`${RecordKind.DATA}:${node}:${local}`);
  }

  private onRecord(type: number, body: Uint8Array): void {
    if (body.length < ENVELOPE_BYTES) return;
    const kind = kindOf(type);
    const node = u32(body, 0);
    const local = u32(body, 4);
    const flags = u32(body, 8);
    const corr = u32(body, 12);
    let payload: Uint8Array | null = body.subarray(ENVELOPE_BYTES);
    if (fragOf(type) !== Frag.COMPLETE) {
      try {
        payload = this.reassembler.push(`${kind}:${node}:${local}`, type, payload);
      } catch {
        return; // a broken fragment sequence from one source: its partial message is dropped
      }
      if (!payload) return;
    } else if (!this.zeroCopy || kind !== RecordKind.DATA || flags & Flag.REPLY) {
      payload = payload.slice();
    }
    if (kind === RecordKind.BOUNCE) this.sink.bounce(payload, flags, node, local, corr);
    else if (kind !== RecordKind.DATA) return;
    else if (flags & Flag.REPLY) this.sink.reply(payload, flags, node, local, corr);
    else this.sink.message(payload, flags, node, local, corr);
  }
}
