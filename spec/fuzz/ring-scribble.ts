/**
 * How the ring fuzz app scribbles (ring-cases.ts ops) on one instance's two
 * ring files: through its own producer mapping of the tx ring for
 * well-formed records, and with plain positioned writes (pwrite) into the
 * files for everything else; never past the end of a file and never
 * truncating it. Reads of the current header values come from the files too.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { Layout, type Ring } from '../../lib/native/index.js';
import { ENVELOPE_BYTES, writeEnvelope } from '../../lib/protocol/envelope.js';
import { FuzzRandom } from './prng.js';
import { FIELD, fieldWidth, type FieldValue, type RingOp } from './ring-cases.js';

export interface ScribbleTarget {
  localId: number;
  epoch: number;
  tx: Ring;
  txPath: string;
  rxPath: string;
}

/** Positioned access to one ring file. */
class RingFile {
  readonly fd: number;
  constructor(path: string, readonly capacity: number) {
    this.fd = openSync(path, 'r+');
  }

  read(at: number, width: 4 | 8): bigint {
    const b = Buffer.alloc(width);
    readSync(this.fd, b, 0, width, at);
    return width === 8 ? b.readBigUInt64LE(0) : BigInt(b.readUInt32LE(0));
  }

  write(at: number, bytes: Uint8Array): void {
    const end = Layout.DATA_OFFSET + this.capacity;
    if (at < 0 || at >= end) return;
    writeSync(this.fd, bytes, 0, Math.min(bytes.length, end - at), at);
  }

  /** `bytes` into the data area at ring position `pos` (wrapping like the ring does). */
  writeData(pos: number, bytes: Uint8Array): void {
    const off = pos % this.capacity;
    const first = Math.min(bytes.length, this.capacity - off);
    this.write(Layout.DATA_OFFSET + off, bytes.subarray(0, first));
    if (first < bytes.length) this.write(Layout.DATA_OFFSET, bytes.subarray(first));
  }

  close(): void {
    closeSync(this.fd);
  }
}

export class Scribbler {
  private readonly txFile: RingFile;
  private readonly rxFile: RingFile;

  constructor(readonly t: ScribbleTarget) {
    this.txFile = new RingFile(t.txPath, t.tx.capacity);
    this.rxFile = new RingFile(t.rxPath, t.tx.capacity);
  }

  close(): void {
    this.txFile.close();
    this.rxFile.close();
  }

  /** Apply one op; `r` supplies the random bytes. Throws RingError when the app's own producer refuses (its ring is then its own problem). */
  apply(op: RingOp, r: FuzzRandom): void {
    switch (op.op) {
      case 'record': return this.record(op, r);
      case 'header': {
        const read = Number(this.txFile.read(FIELD.cursor, 8));
        const at = op.at === 'read' ? read : op.at === 'read+8' ? read + 8 : read + (this.t.tx.capacity - (read % this.t.tx.capacity)) - 8;
        const b = Buffer.alloc(8);
        b.writeInt32LE(op.len | 0, 0);
        b.writeInt32LE(op.type | 0, 4);
        // the type first, then the length (the length is what publishes a record)
        this.txFile.writeData(at + 4, b.subarray(4));
        this.txFile.writeData(at, b.subarray(0, 4));
        return;
      }
      case 'data': {
        const f = op.ring === 'tx' ? this.txFile : this.rxFile;
        const bytes = op.fill === 'random' ? r.bytes(op.bytes) : Buffer.alloc(op.bytes, op.fill === 'ones' ? 0xff : 0);
        if (op.fill === 'pad') {
          for (let i = 0; i + 8 <= bytes.length; i += 8) {
            bytes.writeInt32LE(8, i);
            bytes.writeInt32LE(Layout.TYPE_PAD, i + 4);
          }
        }
        f.writeData(op.at, bytes);
        return;
      }
      case 'field': {
        const f = op.ring === 'tx' ? this.txFile : this.rxFile;
        const width = fieldWidth(op.field);
        const v = this.resolve(f, op.field, op.value, width);
        const b = Buffer.alloc(width);
        if (width === 8) b.writeBigUInt64LE(v, 0);
        else b.writeUInt32LE(Number(v & 0xffffffffn), 0);
        f.write(FIELD[op.field], b);
        return;
      }
      default:
        return;
    }
  }

  private resolve(f: RingFile, field: keyof typeof FIELD, v: FieldValue, width: 4 | 8): bigint {
    const mask = width === 8 ? (1n << 64n) - 1n : 0xffffffffn;
    if ('abs' in v) return BigInt(v.abs) & mask;
    const base = v.rel === 'cur' ? f.read(FIELD[field], width)
      : v.rel === 'tail' ? f.read(FIELD.tail, 8)
        : v.rel === 'head' ? f.read(FIELD.head, 8)
          : BigInt(this.t.tx.capacity);
    return (base + BigInt(v.delta)) & mask;
  }

  private record(op: Extract<RingOp, { op: 'record' }>, r: FuzzRandom): void {
    const dest = op.dest === 'self' ? this.t.localId : op.dest === 'nobody' ? 999_999 : op.dest === 'zero' ? 0 : op.dest;
    const epoch = op.epoch === 'agent' ? this.t.epoch : op.epoch === 'stale' ? (this.t.epoch - 1) >>> 0 : op.epoch;
    const len = Math.min(this.t.tx.maxRecord, op.short ? Math.min(op.payload, ENVELOPE_BYTES - 1) : ENVELOPE_BYTES + op.payload);
    const body = r.bytes(len);
    if (!op.short) writeEnvelope(body, op.node, dest, op.flags, op.corr, epoch, op.aux);
    const type = ((op.kind & Layout.KIND_MASK) | (op.frag << Layout.FRAG_SHIFT) | op.extraBits) & 0x7fffffff;
    this.t.tx.write(type, body);
  }

  /** A valid message to itself (so the agent writes into the rx ring), through the app's own producer. */
  selfSend(r: FuzzRandom): void {
    const body = r.bytes(ENVELOPE_BYTES + r.pick([0, 16, 200, 2000]));
    writeEnvelope(body, 0, this.t.localId, 0, 0, this.t.epoch, 0);
    this.t.tx.write(1, body);
  }
}
