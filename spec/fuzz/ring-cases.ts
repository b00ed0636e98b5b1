/**
 * Cases for an app's own rings (lib/native/shmq*.c as the agent uses them:
 * lib/agent/source.ts reads the tx ring, local-sink.ts writes the rx ring).
 * The app scribbles only on the two ring files it legitimately has mapped
 * (never changing their size) and on the agent's doorbell:
 *   record     a well-formed record with a bent envelope or type (any kind,
 *              fragment, taken bit, destination, epoch, aux, length)
 *   header     a record header at the agent's read position that lies (zero,
 *              a claim, too long, unaligned, padding past the end)
 *   data       random bytes anywhere in a data area (tx or rx)
 *   field      a header field of either ring: the rx consumer position
 *              (head, cursor), tail, caches, parked/space words, pids, and
 *              the immutable line (magic, version, capacity, max record)
 *   bells      the agent's doorbell rung many times
 *   retire     the instance closed (CLOSE + RELEASE) or its connection dropped
 * Each case ends with a message the instance sends itself (so the agent also
 * writes into the scribbled rx ring) and a ring of the agent's bell.
 * Cases are plain data: the fixture process rebuilds them from (seed, index).
 */
import { Frag, Layout, recordType } from '../../lib/native/index.js';
import { Flag, RecordKind } from '../../lib/protocol/envelope.js';
import type { FuzzCase } from './harness.js';
import { FuzzRandom } from './prng.js';

/** Byte offsets of the ring header fields (shmq_ring.h; checked against Layout where it has them). */
export const FIELD = {
  magic: 0, version: 4, capacity: 8, max_record: 12, creator_pid: 16, producer_pid: 20, consumer_pid: 24, data_offset: 28,
  tail: Layout.OFF_TAIL, records_written: 136, full_count: 144, head_cache: Layout.OFF_HEAD_CACHE,
  head: Layout.OFF_HEAD, records_read: 392, unblocked: 400, cursor: Layout.OFF_CURSOR,
  parked: Layout.OFF_PARKED, space_wanted: Layout.OFF_SPACE_WANTED, wakeups: 520, space_wakeups: 528,
} as const;
export type Field = keyof typeof FIELD;
const WIDE: ReadonlySet<Field> = new Set(['tail', 'records_written', 'full_count', 'head_cache', 'head', 'records_read', 'unblocked', 'cursor', 'wakeups', 'space_wakeups']);
export const fieldWidth = (f: Field): 4 | 8 => (WIDE.has(f) ? 8 : 4);

/** A value for a field, relative to what is there (`cur`), the ring's tail or capacity, or absolute. */
export type FieldValue =
  | { rel: 'cur' | 'tail' | 'head' | 'cap'; delta: number }
  | { abs: string }; // decimal string: may exceed 2^53

export type RingOp =
  | { op: 'record'; kind: number; frag: number; extraBits: number; dest: 'self' | 'nobody' | 'zero' | number; node: number; flags: number; corr: number;
      epoch: 'agent' | 'stale' | number; aux: number; payload: number; short: boolean }
  | { op: 'header'; at: 'read' | 'read+8' | 'end'; len: number; type: number }
  | { op: 'data'; ring: 'tx' | 'rx'; at: number; bytes: number; fill: 'random' | 'zero' | 'ones' | 'pad' }
  | { op: 'field'; ring: 'tx' | 'rx'; field: Field; value: FieldValue }
  | { op: 'bells'; n: number }
  | { op: 'retire'; how: 'close' | 'disconnect' };

export interface RingCase extends FuzzCase {
  ops: RingOp[];
  /** Read the rx ring as a correct app would, before the scribbles (else it fills up). */
  drain: boolean;
}

const RX_FIELDS: Field[] = ['head', 'head', 'head', 'cursor', 'cursor', 'tail', 'head_cache', 'parked', 'space_wanted', 'consumer_pid', 'producer_pid', 'records_read', 'magic', 'capacity', 'max_record', 'data_offset'];
const TX_FIELDS: Field[] = ['tail', 'head', 'cursor', 'head_cache', 'parked', 'space_wanted', 'producer_pid', 'consumer_pid', 'magic', 'version', 'capacity', 'max_record', 'records_written'];

function value(r: FuzzRandom): FieldValue {
  switch (r.below(5)) {
    case 0: return { rel: 'cur', delta: r.pick([1, -1, 8, -8, 3, 4096, -4096, 1 << 20, -(1 << 20)]) };
    case 1: return { rel: 'tail', delta: r.pick([0, 8, -8, 1, 16, -16, 4096]) };
    case 2: return { rel: 'head', delta: r.pick([0, 8, -8, 1, 64]) };
    case 3: return { rel: 'cap', delta: r.pick([0, 1, 8, -8, 16]) };
    default: return { abs: r.pick(['0', '1', '7', '4294967295', '2147483648', '18446744073709551615', '9223372036854775807', '4503599627370496', String(r.u32())]) };
  }
}

function recordOp(r: FuzzRandom): RingOp {
  const kind = r.chance(0.8) ? RecordKind.DATA : r.pick([RecordKind.BOUNCE, 0, 3, 0xffffff]);
  return {
    op: 'record',
    kind,
    frag: r.chance(0.6) ? Frag.COMPLETE : r.pick([Frag.BEGIN, Frag.MIDDLE, Frag.END]),
    extraBits: r.chance(0.9) ? 0 : r.pick([1 << 26, 1 << 29, 1 << 30]),
    dest: r.chance(0.5) ? 'self' : r.pick(['nobody', 'zero', 'self', r.u32()] as const),
    node: r.chance(0.85) ? 0 : r.pick([1, 2, 0xffffffff]),
    flags: r.chance(0.5) ? 0 : r.pick([Flag.CBOR, Flag.REQUEST, Flag.REPLY, Flag.ERROR_REPLY | Flag.REPLY, Flag.ABORT, r.u32()]),
    corr: r.chance(0.5) ? 0 : r.u32(),
    epoch: r.chance(0.8) ? 'agent' : r.pick(['stale', 0, 0xffffffff] as const),
    aux: r.chance(0.7) ? 0 : r.pick([1, 256 * 1024, 256 * 1024 + 1, 0xffffffff, r.u32()]),
    payload: r.pick([0, 1, 8, 100, r.size(16 * 1024), 16 * 1024 - 24]),
    short: r.chance(0.05),
  };
}

function scribble(r: FuzzRandom): RingOp {
  switch (r.weighted({ record: 6, header: 2.5, rxField: 3, txField: 1.5, data: 2, bells: 0.5 })) {
    case 'record': return recordOp(r);
    case 'header': {
      const len = r.pick([0, -1, -8, -24, -(16 * 1024 + 8), 1, 7, 8, 9, 12, 16 * 1024 + 8, 16 * 1024 + 9, 1 << 20, 0x7fffffff, -0x80000000, 64 * 1024]);
      const type = r.pick([recordType(RecordKind.DATA), recordType(RecordKind.DATA), Layout.TYPE_PAD, -2, 0, 1 << 30, r.u32() | 0]);
      return { op: 'header', at: r.pick(['read', 'read', 'read+8', 'end'] as const), len, type };
    }
    case 'rxField': return { op: 'field', ring: 'rx', field: r.pick(RX_FIELDS), value: value(r) };
    case 'txField': return { op: 'field', ring: 'tx', field: r.pick(TX_FIELDS), value: value(r) };
    case 'data': return { op: 'data', ring: r.chance(0.5) ? 'tx' : 'rx', at: r.u32(), bytes: r.pick([1, 4, 8, 64, 4096, 64 * 1024]), fill: r.pick(['random', 'zero', 'ones', 'pad', 'pad'] as const) };
    default: return { op: 'bells', n: r.pick([1, 10, 100, 1000]) };
  }
}

/**
 * Triage only (bench/fuzz.ts --skip-ring-fields): writes to leave out, as
 * `ring.field` (e.g. `rx.head,rx.tail`), `ring.data.fill` (e.g. `tx.data.pad`) or
 * `tx.header.pad` / `tx.header` (lying headers of padding / of any type),
 * to look past a failure already known. Such an op becomes a doorbell ring,
 * so the other cases stay the same.
 */
const skipList = (): Set<string> => new Set((process.env['FUZZ_RING_SKIP'] ?? '').split(',').filter(Boolean));

/** Case `index` of the ring target under `seed`. */
export function makeRingCase(seed: number, index: number): RingCase {
  const c = makeCase(seed, index);
  const skip = skipList();
  if (skip.size === 0) return c;
  const skips = (op: RingOp): boolean => (op.op === 'field' && skip.has(`${op.ring}.${op.field}`))
    || (op.op === 'data' && skip.has(`${op.ring}.data.${op.fill}`))
    || (op.op === 'header' && skip.has(op.type === Layout.TYPE_PAD ? 'tx.header.pad' : 'tx.header'));
  const ops = c.ops.map((op): RingOp => (skips(op) ? { op: 'bells', n: 1 } : op));
  return { ...c, ops, desc: `${c.drain ? 'read rx; ' : ''}${ops.map(describeOp).join('; ')}` };
}

function makeCase(seed: number, index: number): RingCase {
  const r = FuzzRandom.forCase(seed, 'rings', index);
  if (r.chance(0.04)) {
    const how = r.chance(0.6) ? 'close' : 'disconnect';
    const ops: RingOp[] = [scribble(r), { op: 'retire', how }];
    return { index, desc: `${describeOp(ops[0]!)}, then ${how}`, ops, drain: false };
  }
  const ops = Array.from({ length: r.pick([1, 1, 1, 2, 3]) }, () => scribble(r));
  const drain = r.chance(0.5);
  return { index, desc: `${drain ? 'read rx; ' : ''}${ops.map(describeOp).join('; ')}`, ops, drain };
}

export function describeOp(o: RingOp): string {
  switch (o.op) {
    case 'record': return `record kind ${o.kind} frag ${o.frag}${o.extraBits ? ` +bits 0x${o.extraBits.toString(16)}` : ''} to ${o.node}:${o.dest} epoch ${o.epoch} flags 0x${(o.flags >>> 0).toString(16)} aux ${o.aux} ${o.payload} B${o.short ? ' (short of its envelope)' : ''}`;
    case 'header': return `tx header at ${o.at}: length ${o.len}, type ${o.type}`;
    case 'data': return `${o.bytes} ${o.fill} bytes into ${o.ring} data at ${o.at}`;
    case 'field': return `${o.ring}.${o.field} := ${'abs' in o.value ? o.value.abs : `${o.value.rel}${o.value.delta >= 0 ? '+' : ''}${o.value.delta}`}`;
    case 'bells': return `agent bell x${o.n}`;
    default: return o.how;
  }
}

/** Cases run in batches of consecutive indices (one fixture command each). */
export function groupRings(cases: RingCase[], size = 50): RingCase[][] {
  const out: RingCase[][] = [];
  for (let i = 0; i < cases.length; i += size) out.push(cases.slice(i, i + size));
  return out;
}
