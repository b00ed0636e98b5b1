/**
 * Runs HTTP cases (http-cases.ts) against the name server's HTTP port. A
 * batch is one connection: its whole requests pipelined, then either a
 * sentinel GET /healthz (everything before it was answered once its answer
 * arrives) or, after a broken request, a half-close (the server must answer
 * or close). Each case is counted by the status it got ("http 404"), or
 * "closed"; any 5xx is noted with the case that caused it.
 */
import type { Driver } from './harness.js';
import { groupHttp, makeHttpCase, type HttpCase } from './http-cases.js';
import type { Tally } from './tally.js';
import { FuzzConn } from './wire.js';

const SENTINEL = Buffer.from('GET /healthz HTTP/1.1\r\nHost: ns\r\nX-Fuzz: sentinel\r\n\r\n');
const ANSWER_MS = 10_000;

/** Status codes of the responses in `bytes`, in order (interim 1xx skipped). */
export function statuses(bytes: Buffer): number[] {
  const out: number[] = [];
  for (const m of bytes.toString('latin1').matchAll(/HTTP\/\d\.\d (\d{3})/g)) {
    const s = Number(m[1]);
    if (s >= 200) out.push(s);
  }
  return out;
}

export class HttpDriver implements Driver<HttpCase> {
  readonly target = 'ns-http';

  constructor(private readonly port: number) {}

  make(seed: number, index: number): HttpCase {
    return makeHttpCase(seed, index);
  }

  group(cases: HttpCase[]): HttpCase[][] {
    return groupHttp(cases);
  }

  async runBatch(batch: HttpCase[], tally: Tally): Promise<void> {
    const conn = await FuzzConn.open({ host: '127.0.0.1', port: this.port }, { framed: false });
    tally.connections++;
    try {
      for (const c of batch) {
        if (c.drip) await conn.drip(c.bytes, c.drip.chunk, c.drip.delayMs);
        else conn.write(c.bytes);
      }
      const last = batch[batch.length - 1]!;
      const whole = batch.filter((c) => c.whole).length;
      if (last.whole) {
        conn.write(SENTINEL);
        const how = await conn.until(() => statuses(conn.received).length >= whole + 1, ANSWER_MS);
        if (how === 'timeout') {
          tally.add('sentinel unanswered');
          tally.note('sentinel unanswered', `cases ${batch[0]!.index}..${last.index}: no answer to GET /healthz within ${ANSWER_MS} ms`);
        }
      } else {
        conn.end();
        if (!(await conn.closedWithin(ANSWER_MS))) {
          tally.add('half-closed: left open');
          tally.note('half-closed: left open', `case ${last.index}: ${last.desc}`);
        }
      }
      const got = statuses(conn.received);
      batch.forEach((c, i) => {
        const s = got[i];
        tally.add(s === undefined ? (conn.closed ? 'closed' : 'unanswered') : `http ${s}`);
        if (s !== undefined && s >= 500) tally.note(`http ${s}`, `case ${c.index}: ${c.desc}`);
      });
    } finally {
      conn.destroy();
    }
  }
}
