/**
 * The agent's taken-ledger (written with RXMESH_TEST_HOOKS=1): when an app
 * dies, for each of its instances, every message in that instance's rx ring
 * that the app had already taken (handed out) but not released is appended
 * to `<shm-dir>/taken.ledger` as one line, the hex of the first 32 bytes of
 * its payload (fewer if the payload is shorter). Such a message may have
 * reached the app's handler without its D line being written (a SIGKILL in
 * between), so the accounting counts a ledger line as a delivery to the
 * instance whose ring it was.
 *
 * The format is new and may change: this file is the only place that knows it.
 */
import { join } from 'node:path';
import { LineTail } from './tail.js';
import { decodeHeader, type Header } from './wire.js';

export const LEDGER_FILE = 'taken.ledger';

/** One ledger line: the message's header, or undefined for a line that is not a chaos message. */
export function parseLedgerLine(line: string): Header | undefined {
  const hex = line.trim();
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) return undefined;
  return decodeHeader(Buffer.from(hex, 'hex'));
}

/** Follows one agent's ledger (it survives the agent's restarts: same shm dir). */
export class LedgerReader {
  private readonly tail: LineTail;
  /** Lines that were not chaos messages (a format change shows here). */
  unreadable = 0;

  constructor(shmDir: string) {
    this.tail = new LineTail(join(shmDir, LEDGER_FILE));
  }

  /** Headers of the messages appended since the last read. */
  read(): Header[] {
    const out: Header[] = [];
    for (const line of this.tail.read()) {
      if (!line.trim()) continue;
      const h = parseLedgerLine(line);
      if (h) out.push(h);
      else this.unreadable++;
    }
    return out;
  }
}
