/**
 * EventLog: an app's log file, one line per event, written with
 * fs.writeSync inside the handler that saw the event, so a line is in the
 * kernel before the handler returns and survives a SIGKILL of the app right
 * after. Line formats: wire.ts.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export class EventLog {
  private readonly fd: number;

  constructor(path: string, private readonly t0: number) {
    this.fd = openSync(path, 'a');
  }

  /** Append `code t field...` (t = ms since the run started). */
  line(code: string, ...fields: Array<string | number>): void {
    writeSync(this.fd, `${code} ${Date.now() - this.t0} ${fields.join(' ')}\n`);
  }

  close(): void {
    closeSync(this.fd);
  }
}
