/**
 * Router: moves each record read from a source's tx ring into its
 * destination's staging batch, stamping the source address into the envelope
 * (so it cannot be spoofed), or bounces it back to the source with a reason.
 * It never buffers without bound: a destination whose ring and staging are
 * full pauses the source (backpressure reaches the sender's tx ring).
 */
import { fragOf, kindOf, recordType } from '../native/index.js';
import { BounceReason, bounceFlags, ENVELOPE_BYTES, RecordKind } from '../protocol/envelope.js';
import type { LocalInstance } from './local-instance.js';

const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

function setU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

export interface RouterStats {
  forwarded: number;
  bounced: number;
  dropped: number;
}

/** Where records for other agents go (the peer links). */
export interface RemoteRoute {
  /** Route a record from `src` to agent `node`; false: `src` is now paused. */
  forward(src: LocalInstance, type: number, body: Uint8Array, node: number): boolean;
  /** A message from agent `node` that we had taken cannot be delivered after all;
   * `record` holds (src local, dest local, flags, corr). */
  bounceBack(node: number, type: number, record: Uint8Array, reason: BounceReason): void;
}

export class Router {
  readonly stats: RouterStats = { forwarded: 0, bounced: 0, dropped: 0 };
  remote: RemoteRoute | undefined;
  /** Destinations deliverRemote() staged into since the last flushRemote(). */
  private readonly touched = new Set<LocalInstance>();

  constructor(
    private readonly instances: ReadonlyMap<number, LocalInstance>,
    private readonly log: (msg: string) => void,
  ) {}

  /** Route one record from `src`. False: the destination is full; `src` is now paused on it. */
  forward(src: LocalInstance, type: number, body: Uint8Array): boolean {
    if (body.length < ENVELOPE_BYTES || kindOf(type) !== RecordKind.DATA) {
      this.stats.dropped++;
      this.log(`dropped a malformed record (type ${type}, ${body.length} bytes) from ${src.info.id}`);
      return true;
    }
    const node = u32(body, 0);
    if (node !== 0) return this.remote ? this.remote.forward(src, type, body, node) : this.bounce(src, type, body, BounceReason.NO_ROUTE);
    const dest = this.instances.get(u32(body, 4));
    if (!dest || dest.state !== 'online') return this.bounce(src, type, body, BounceReason.OFFLINE);
    if (dest.gameId !== src.gameId) return this.bounce(src, type, body, BounceReason.CROSS_GAME);
    let at = dest.staging.reserve(type, body.length);
    if (at < 0) {
      dest.flush();
      at = dest.staging.reserve(type, body.length);
      if (at < 0) {
        src.blockedOn = dest;
        dest.waiters.add(src);
        return false;
      }
    }
    const out = dest.staging.buffer;
    out.set(body, at);
    setU32(out, at, 0);
    setU32(out, at + 4, src.localId);
    this.stats.forwarded++;
    return true;
  }

  /**
   * A record from a peer agent (`record` holds src local, dest local, flags,
   * corr): stage it for its destination with the source stamped as
   * (srcNode, src local). 0 taken, -1 destination full, > 0 bounce reason.
   */
  deliverRemote(srcNode: number, type: number, record: Uint8Array): number {
    if (kindOf(type) !== RecordKind.DATA) return BounceReason.NO_ROUTE;
    const dest = this.instances.get(u32(record, 4));
    if (!dest || dest.state !== 'online') return BounceReason.OFFLINE;
    let at = dest.staging.reserve(type, record.length);
    if (at < 0) {
      dest.flush();
      at = dest.staging.reserve(type, record.length);
      if (at < 0) return -1;
    }
    const out = dest.staging.buffer;
    out.set(record, at);
    setU32(out, at + 4, u32(record, 0));
    setU32(out, at, srcNode);
    this.touched.add(dest);
    this.stats.forwarded++;
    return 0;
  }

  /** Flush the destinations deliverRemote() staged into; true when all of it is in their rx rings. */
  flushRemote(): boolean {
    let all = true;
    for (const d of this.touched) {
      if (d.flush()) this.touched.delete(d);
      else all = false;
    }
    return all;
  }

  /** Send a record back to `src` as undeliverable. The envelope keeps the destination. */
  bounce(src: LocalInstance, type: number, body: Uint8Array, reason: BounceReason): true {
    this.stats.bounced++;
    if (src.state === 'gone') return true;
    const btype = recordType(RecordKind.BOUNCE, fragOf(type));
    const at = src.staging.reserve(btype, body.length);
    const copy = at >= 0 ? src.staging.buffer.subarray(at, at + body.length) : new Uint8Array(body.length);
    copy.set(body);
    setU32(copy, 8, bounceFlags(u32(body, 8), reason));
    if (at < 0) src.overflow.push({ type: btype, body: copy });
    return true;
  }

  /**
   * `dest` went offline: every message queued for it — staged here or unread
   * in its rx ring — goes back to its source, once, with reason OFFLINE.
   * The rx ring is read through a fresh consumer handle (its app is gone).
   */
  bounceQueued(dest: LocalInstance, readUnread: (visit: (type: number, body: Uint8Array) => void) => void): void {
    const back = (type: number, body: Uint8Array): void => {
      if (kindOf(type) !== RecordKind.DATA || body.length < ENVELOPE_BYTES) return;
      const node = u32(body, 0);
      if (node !== 0) {
        const record = body.slice();
        setU32(record, 0, u32(body, 4));
        setU32(record, 4, dest.localId);
        this.stats.bounced++;
        this.remote?.bounceBack(node, type, record, BounceReason.OFFLINE);
        return;
      }
      const src = this.instances.get(u32(body, 4));
      if (!src) return;
      const copy = body.slice();
      setU32(copy, 0, 0);
      setU32(copy, 4, dest.localId);
      this.bounce(src, type, copy, BounceReason.OFFLINE);
    };
    readUnread(back);
    const view = new DataView(dest.staging.buffer.buffer, dest.staging.buffer.byteOffset);
    for (let off = 0; off < dest.staging.length; ) {
      const len = view.getInt32(off, true);
      back(view.getInt32(off + 4, true), dest.staging.buffer.subarray(off + 8, off + len));
      off += (len + 7) & ~7;
    }
    dest.staging.reset();
    this.touched.delete(dest);
    for (const w of dest.waiters) w.blockedOn = null;
    dest.waiters.clear();
  }
}
