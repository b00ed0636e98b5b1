/**
 * Fragmentation on the TypeScript side. A message larger than the ring's max
 * record travels as BEGIN, MIDDLE..., END records (Ring.writeFragments does the
 * split in C); Reassembler puts them back together per source, and frees a
 * source's partial message when that source goes away (drop).
 */
import { Frag, Layout } from './shmq.js';

/** The fragment kind in a record type. */
export const fragOf = (type: number): Frag => ((type >>> Layout.FRAG_SHIFT) & 3) as Frag;
/** The record kind without the fragment bits. */
export const kindOf = (type: number): number => type & Layout.KIND_MASK;

/** A type an application record may have: a kind and a fragment marker, no other bits (the taken bit,
 * padding's -1 and anything above are the ring's own). */
export const isRecordType = (type: number): boolean => (type & ~(Layout.KIND_MASK | (3 << Layout.FRAG_SHIFT))) === 0;
/** A record type from a kind and a fragment kind. */
export const recordType = (kind: number, frag: Frag = Frag.COMPLETE): number => (kind | (frag << Layout.FRAG_SHIFT)) >>> 0;

/** A fragment sequence that cannot be valid: the source's partial message is dropped. */
export class ReassemblyError extends Error {
  override readonly name = 'ReassemblyError';
}

interface Partial {
  buf: Uint8Array;
  size: number;
}

/** First buffer for a fragmented message: four fragments' worth, grown by doubling. */
const FIRST_BUFFER = 64 * 1024;

export class Reassembler<K> {
  private readonly partial = new Map<K, Partial>();

  /** @param maxMessage largest message accepted, so a sender cannot grow memory without bound */
  constructor(readonly maxMessage = 64 * 1024 * 1024) {}

  /**
   * Feed one record's payload. Returns the whole message when `type` completes
   * one (for a COMPLETE record that is `chunk` itself, not a copy), else null.
   * Fragments are copied into one buffer per message (grown by doubling, no
   * zero fill), so `chunk` may be a view that is reused afterwards.
   */
  push(key: K, type: number, chunk: Uint8Array): Uint8Array | null {
    const frag = fragOf(type);
    if (frag === Frag.COMPLETE) {
      if (this.partial.delete(key)) throw new ReassemblyError('a whole message arrived inside a fragmented one');
      return chunk;
    }
    let p = this.partial.get(key);
    if (frag === Frag.BEGIN) {
      if (p) {
        this.partial.delete(key);
        throw new ReassemblyError('BEGIN arrived before the previous message ended');
      }
      p = { buf: Buffer.allocUnsafe(Math.min(this.maxMessage, Math.max(FIRST_BUFFER, chunk.length * 4))), size: 0 };
      this.partial.set(key, p);
    } else if (!p) {
      throw new ReassemblyError(`${frag === Frag.END ? 'END' : 'MIDDLE'} fragment without a BEGIN`);
    }
    const size = p.size + chunk.length;
    if (size > this.maxMessage) {
      this.partial.delete(key);
      throw new ReassemblyError(`message exceeds ${this.maxMessage} bytes`);
    }
    if (size > p.buf.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxMessage, Math.max(size, p.buf.length * 2)));
      grown.set(p.buf.subarray(0, p.size));
      p.buf = grown;
    }
    p.buf.set(chunk, p.size);
    p.size = size;
    if (frag !== Frag.END) return null;
    this.partial.delete(key);
    return p.buf.subarray(0, p.size);
  }

  /** Forget a source's partial message (it went offline). */
  drop(key: K): boolean {
    return this.partial.delete(key);
  }

  /** Forget every partial message. */
  clearAll(): void {
    this.partial.clear();
  }

  /** Sources with a message in flight. */
  get pending(): number {
    return this.partial.size;
  }
}
