/**
 * Sealed link stream (link protocol 3): after the handshake, every byte a
 * link carries, in both directions, is in a sealed chunk
 *
 *   u32 BE payload length | 16-byte tag | payload (whole frames)
 *
 * tag = GMAC: AES-256-GCM with the payload as associated data and nothing
 * encrypted, under a key for that direction derived from the handshake
 * (HKDF-SHA256 of the mesh secret, salted with both nonces, bound to both
 * agents, their incarnations and addresses), nonce = the chunk's number on
 * the connection. So a frame can be neither forged, altered, replayed,
 * reordered nor dropped without the receiver closing the connection, and a
 * relay that passed the handshake through learns no key. The payload is not
 * encrypted: confidentiality is what TLS is for (tls.ts); inside TLS chunks
 * are not sealed again.
 *
 * One tag per chunk, and a chunk is one write (a batch of frames), so a busy
 * link pays about 20 us per 64 KiB. Tags are made by Node's own OpenSSL over
 * one reused context per direction (lib/native/gmac.ts: about 2-3 us for a
 * lone frame), or by node:crypto where that cannot be bound (a cipher object
 * per tag: 4-6 us); the opener compares tags in constant time.
 */
import { createCipheriv, hkdfSync, timingSafeEqual } from 'node:crypto';
import { GmacKey } from '../native/index.js';
import { ProtocolError } from './errors.js';
import type { FrameGate } from './frame.js';

export const SEAL_TAG = 16;
export const SEAL_HEADER = 4 + SEAL_TAG;
/** Largest payload of one chunk (a sealer splits longer writes). */
export const SEAL_MAX_PAYLOAD = 8 * 1024 * 1024;

export interface LinkKeys {
  /** dialer -> acceptor */
  forward: Buffer;
  /** acceptor -> dialer */
  backward: Buffer;
}

export interface HandshakeFacts {
  dialer: string;
  acceptor: string;
  dialerEpoch: number;
  acceptorEpoch: number;
  /** where the acceptor was dialled (its advertised address) */
  acceptorAddress: string;
  /** where the dialer says it listens */
  dialerAddress: string;
  /** the acceptor's CHALLENGE nonce and the dialer's HELLO nonce */
  acceptorNonce: Uint8Array;
  dialerNonce: Uint8Array;
}

/** The two directions' keys of one handshake. */
export function linkKeys(secret: string, f: HandshakeFacts): LinkKeys {
  const salt = Buffer.concat([f.acceptorNonce, f.dialerNonce]);
  const info = `rxmesh-link/3\0${f.dialer}\0${f.acceptor}\0${f.dialerEpoch}\0${f.acceptorEpoch}\0${f.dialerAddress}\0${f.acceptorAddress}`;
  const out = Buffer.from(hkdfSync('sha256', secret, salt, info, 64));
  return { forward: out.subarray(0, 32), backward: out.subarray(32) };
}

/** Writes into `tag` the GMAC of parts[from, to) under `nonce`. */
type Tagger = (nonce: Buffer, parts: readonly Uint8Array[], from: number, to: number, tag: Uint8Array) => void;

/** 'native': Node's OpenSSL over a reused context when it can be bound; 'crypto': node:crypto always. */
export type SealEngine = 'native' | 'crypto';

function taggerFor(key: Buffer, engine: SealEngine): Tagger {
  const gmac = engine === 'native' ? GmacKey.for(key) : undefined;
  if (gmac) return (nonce, parts, from, to, tag) => gmac.tag(nonce, parts, from, to, tag);
  return (nonce, parts, from, to, tag) => {
    const mac = createCipheriv('aes-256-gcm', key, nonce);
    for (let k = from; k < to; k++) mac.setAAD(parts[k]!);
    mac.final();
    tag.set(mac.getAuthTag());
  };
}

/** The nonce of chunk `n` of a direction, written into `iv` (12 bytes: 4 zero, then n as 64 bits). */
const setNonce = (iv: Buffer, n: number): Buffer => {
  iv.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 4);
  iv.writeUInt32BE(n >>> 0, 8);
  return iv;
};

const EMPTY = new Uint8Array(0);

/** Seals what one side writes. */
export class Sealer {
  private count = 0;
  private readonly nonce = Buffer.alloc(12);
  private readonly tagger: Tagger;

  constructor(key: Buffer, engine: SealEngine = 'native') {
    this.tagger = taggerFor(key, engine);
  }

  /** The buffers to write for `parts` (whole frames): each chunk's header, then its parts. */
  seal(parts: readonly Uint8Array[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < parts.length) {
      let j = i;
      let len = 0;
      while (j < parts.length && (j === i || len + parts[j]!.length <= SEAL_MAX_PAYLOAD)) len += parts[j++]!.length;
      if (len > SEAL_MAX_PAYLOAD) throw new RangeError(`a part of ${len} bytes is larger than a sealed chunk`);
      const header = Buffer.allocUnsafe(SEAL_HEADER);
      header.writeUInt32BE(len, 0);
      this.tagger(setNonce(this.nonce, this.count++), parts, i, j, header.subarray(4));
      out.push(header);
      for (let k = i; k < j; k++) out.push(parts[k]!);
      i = j;
    }
    return out;
  }
}

/**
 * Opens what the other side wrote: bytes in, checked payloads out (views of
 * the input when a chunk lies whole in it, else one buffer filled as its
 * bytes arrive). Throws ProtocolError on a bad tag or length: the connection
 * must close. Pure, like FrameDecoder.
 */
export class Opener {
  private count = 0;
  private readonly header = Buffer.alloc(SEAL_HEADER);
  private headerLen = 0;
  private chunk: Buffer | null = null;
  private filled = 0;
  private readonly nonce = Buffer.alloc(12);
  private readonly expected = Buffer.alloc(SEAL_TAG);
  private readonly one: Uint8Array[] = [EMPTY];
  private readonly tagger: Tagger;

  constructor(key: Buffer, private readonly gate?: FrameGate, engine: SealEngine = 'native') {
    this.tagger = taggerFor(key, engine);
  }

  push(data: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < data.length) {
      if (!this.chunk) {
        if (this.headerLen === 0 && data.length - off >= SEAL_HEADER) {
          const len = this.lengthOf(data, off);
          const start = off + SEAL_HEADER;
          if (data.length - start >= len) {
            out.push(this.check(data.subarray(off + 4, start), data.subarray(start, start + len)));
            off = start + len;
            continue;
          }
          this.header.set(data.subarray(off, start));
          this.start(len);
          off = start;
        } else {
          const take = Math.min(SEAL_HEADER - this.headerLen, data.length - off);
          this.header.set(data.subarray(off, off + take), this.headerLen);
          this.headerLen += take;
          off += take;
          if (this.headerLen < SEAL_HEADER) break;
          this.headerLen = 0;
          this.start(this.lengthOf(this.header, 0));
        }
      }
      const chunk = this.chunk!;
      const take = Math.min(chunk.length - this.filled, data.length - off);
      chunk.set(data.subarray(off, off + take), this.filled);
      this.filled += take;
      off += take;
      if (this.filled === chunk.length) {
        this.chunk = null;
        this.gate?.release(chunk.length);
        out.push(this.check(this.header.subarray(4), chunk));
      }
    }
    return out;
  }

  private lengthOf(b: Uint8Array, at: number): number {
    const len = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
    if (len === 0 || len > SEAL_MAX_PAYLOAD) throw new ProtocolError(`sealed chunk of ${len} bytes`);
    return len;
  }

  private start(len: number): void {
    this.gate?.reserve(len);
    this.chunk = Buffer.allocUnsafe(len);
    this.filled = 0;
  }

  private check(tag: Uint8Array, payload: Uint8Array): Uint8Array {
    this.one[0] = payload;
    this.tagger(setNonce(this.nonce, this.count++), this.one, 0, 1, this.expected);
    this.one[0] = EMPTY;
    if (!timingSafeEqual(this.expected, tag)) throw new ProtocolError('a link chunk failed authentication (forged, altered or out of order)');
    return payload;
  }
}
