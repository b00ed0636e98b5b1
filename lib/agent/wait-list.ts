/**
 * WaitList: the records a LocalSink holds for its instance while its ring has
 * no room, in order (FIFO per source holds because everything later for the
 * sink queues behind). It holds *units*: a single record, or a whole message
 * (the fragments of a message of at most the sink's whole size, gathered here
 * until its last fragment has come). A unit goes into the ring all at once or
 * not at all, so a reader never waits in a full ring for the rest of a message.
 *
 * Refusing (a stall, the instance leaving or gone) works unit by unit: a unit
 * that has not reached the ring goes back whole; the remaining fragments of a
 * streamed message whose start is already in the ring are kept unless the
 * reader is gone. Reports for the instance's own sends are never refused, nor
 * are pair markers (pair-marker.ts: refused, one would leave its sender writing
 * a pair ring its reader never opens).
 */
import { Frag, fragOf, kindOf } from '../native/index.js';
import { envFlags, Flag, RecordKind } from '../protocol/envelope.js';
import type { Ticket } from './record-sink.js';

export interface WaitingRecord {
  type: number;
  /** stamped copy, ready for the ring */
  body: Uint8Array;
  ticket: Ticket;
}

interface Unit {
  records: WaitingRecord[];
  /** bytes the unit takes in the ring */
  size: number;
  /** source key (stamped address) */
  key: string;
  /** a report (a bounce for the instance itself) or a pair marker: never refused */
  report: boolean;
  /** a whole message, gathered */
  whole: boolean;
}

export const recordSize = (body: number): number => (8 + body + 7) & ~7;

export class WaitList {
  private units: Unit[] = [];
  private head = 0;
  private readonly gathering = new Map<string, Unit>();
  /** Payload bytes held (units and messages being gathered). */
  bytes = 0;

  /** Units ready for the ring (gathered messages not counted until complete). */
  get length(): number {
    return this.units.length - this.head;
  }

  get empty(): boolean {
    return this.head >= this.units.length;
  }

  /** Add a record as its own unit. */
  push(key: string, r: WaitingRecord): void {
    const report = kindOf(r.type) !== RecordKind.DATA || (envFlags(r.body) & Flag.PAIR) !== 0;
    this.units.push({ records: [r], size: recordSize(r.body.length), key, report, whole: false });
    this.bytes += r.body.length;
  }

  /** Add a fragment of a whole message; returns the message once complete (removed from the list: the caller
   * stages it, or pushes it back with pushUnit when it must wait). An unfinished one it replaces goes to `abandoned`. */
  gather(key: string, r: WaitingRecord, abandoned: (records: WaitingRecord[]) => void): WaitingRecord[] | null {
    const frag = fragOf(r.type);
    let u = this.gathering.get(key);
    if (frag === Frag.BEGIN || !u) {
      if (u) abandoned(this.dropGathering(key)); // its source started anew without ending it
      u = { records: [], size: 0, key, report: false, whole: true };
      this.gathering.set(key, u);
    }
    u.records.push(r);
    u.size += recordSize(r.body.length);
    this.bytes += r.body.length;
    if (frag !== Frag.END) return null;
    this.gathering.delete(key);
    this.bytes -= u.records.reduce((n, x) => n + x.body.length, 0);
    return u.records;
  }

  /** Queue a complete whole message. */
  pushWhole(key: string, records: WaitingRecord[]): void {
    const size = records.reduce((n, r) => n + recordSize(r.body.length), 0);
    this.units.push({ records, size, key, report: false, whole: true });
    this.bytes += records.reduce((n, r) => n + r.body.length, 0);
  }

  /** Size in the ring of the next unit (0 when none). */
  get nextSize(): number {
    return this.empty ? 0 : this.units[this.head]!.size;
  }

  /** Take the next unit (the caller writes it to the ring). */
  shift(): WaitingRecord[] {
    const u = this.units[this.head]!;
    this.units[this.head++] = undefined as unknown as Unit;
    this.bytes -= u.records.reduce((n, r) => n + r.body.length, 0);
    if (this.head >= this.units.length) {
      this.units = [];
      this.head = 0;
    }
    return u.records;
  }

  private dropGathering(key: string): WaitingRecord[] {
    const u = this.gathering.get(key);
    if (!u) return [];
    this.gathering.delete(key);
    this.bytes -= u.records.reduce((n, r) => n + r.body.length, 0);
    return u.records;
  }

  /**
   * Take out, in order, the data records to refuse: every unit that has not
   * reached the ring, and the messages being gathered; the rest of a streamed
   * message already started into the ring only if `cutStarted`. Returns them
   * and the source keys whose message is refused while unfinished.
   */
  takeRefused(cutStarted: boolean): { records: WaitingRecord[]; unfinished: Set<string> } {
    const out: WaitingRecord[] = [];
    const keep: Unit[] = [];
    const verdict = new Map<string, boolean>();
    for (let i = this.head; i < this.units.length; i++) {
      const u = this.units[i]!;
      if (u.report) {
        keep.push(u);
        continue;
      }
      let refuse = true;
      if (!u.whole) {
        const frag = fragOf(u.records[0]!.type);
        if (frag === Frag.BEGIN) verdict.set(u.key, true);
        else if (frag !== Frag.COMPLETE) {
          refuse = verdict.get(u.key) ?? cutStarted;
          if (frag === Frag.END) verdict.delete(u.key);
          else verdict.set(u.key, refuse);
        }
      }
      if (refuse) out.push(...u.records);
      else keep.push(u);
    }
    const unfinished = new Set([...verdict].filter(([, refused]) => refused).map(([k]) => k));
    for (const key of [...this.gathering.keys()]) {
      out.push(...this.dropGathering(key));
      unfinished.add(key);
    }
    this.units = keep;
    this.head = 0;
    this.bytes = keep.reduce((n, u) => n + u.records.reduce((m, r) => m + r.body.length, 0), 0);
    return { records: out, unfinished };
  }

  /** Everything left (reports of an instance that is gone). */
  takeAll(): WaitingRecord[] {
    const out: WaitingRecord[] = [];
    for (let i = this.head; i < this.units.length; i++) out.push(...this.units[i]!.records);
    for (const key of [...this.gathering.keys()]) out.push(...this.dropGathering(key));
    this.units = [];
    this.head = 0;
    this.bytes = 0;
    return out;
  }
}

/** An ABORT record (a message ended unfinished by its source): never reported on its own. */
export const isAbort = (r: WaitingRecord): boolean => kindOf(r.type) === RecordKind.DATA && (envFlags(r.body) & Flag.ABORT) !== 0;

