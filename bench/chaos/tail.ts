/**
 * LineTail: reads the complete lines appended to a file since the last read
 * (the harness follows app logs and agent ledgers while a run goes on). A
 * partial last line is kept until its newline arrives; a file that shrank
 * (recreated) is read again from the start; a missing file reads as nothing.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export class LineTail {
  private offset = 0;
  private rest = '';

  constructor(readonly path: string) {}

  /** The lines completed since the previous call. */
  read(): string[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return [];
    }
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) {
        this.offset = 0;
        this.rest = '';
      }
      if (size === this.offset) return [];
      const buf = Buffer.allocUnsafe(size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
      this.offset += got;
      const text = this.rest + buf.subarray(0, got).toString('utf8');
      const lines = text.split('\n');
      this.rest = lines.pop() ?? '';
      return lines;
    } finally {
      closeSync(fd);
    }
  }
}
