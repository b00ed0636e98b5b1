/**
 * Connection-level cases shared by the framed targets: a flood of
 * connections that each send a few bytes of a HELLO and hold, and a
 * half-close (at once, or right after a HELLO). The server must answer what
 * it got, close what it must, and keep serving everyone else.
 */
import type { Tally } from './tally.js';
import { sleep, type FuzzConn } from './wire.js';

/** Open `count` connections at once, send each `prefix` bytes of `hello`, hold 50 ms, drop them all. */
export async function flood(open: () => Promise<FuzzConn>, hello: Buffer, count: number, prefix: number, tally: Tally): Promise<void> {
  const conns = await Promise.allSettled(Array.from({ length: count }, open));
  const opened = conns.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : []));
  tally.connections += opened.length;
  for (const c of opened) c.write(hello.subarray(0, prefix));
  await sleep(50);
  const closedEarly = opened.filter((c) => c.closed).length;
  for (const c of opened) c.destroy();
  tally.add(`flood: ${opened.length === count ? 'all accepted' : `${count - opened.length} refused`}${closedEarly ? ', some closed early' : ''}`);
}

/** Half-close `conn` (after writing `hello`, when given, as request id 1): it must be closed by the server. */
export async function halfClose(conn: FuzzConn, hello: Buffer | undefined, tally: Tally, waitMs: number): Promise<void> {
  if (hello) conn.write(hello);
  conn.end();
  const closed = await conn.closedWithin(waitMs);
  tally.add(closed ? `half-closed: ${hello && conn.answer(1) ? 'answered, ' : ''}closed` : 'half-closed: left open');
  if (!closed) tally.note('half-closed: left open', `the server kept a half-closed connection open for ${waitMs} ms`);
}
