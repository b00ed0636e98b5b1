/**
 * Runs control-socket cases (control-cases.ts) against a real agent: each
 * batch gets its own connection (HELLO and, for authed batches, AUTH with
 * the right game key done properly first), writes its cases' frames in one
 * go, then a sentinel request that the agent answers in every state, and
 * counts what each request got back. Closing the connection at the end tears
 * down whatever the batch created, so nothing accumulates in the agent.
 */
import { encodeValue, decodeValue } from '../../lib/protocol/cbor.js';
import { gameProof } from '../../lib/protocol/auth.js';
import { ControlMessage } from '../../lib/protocol/control-messages.js';
import { RESULT } from '../../lib/protocol/connection.js';
import { encodeFrame } from '../../lib/protocol/frame.js';
import { GAMES } from '../helpers/mesh.js';
import { groupControl, makeControlCase, OwnRef, type ControlCase, type ControlPart } from './control-cases.js';
import { failureMessage, finish, outcome, SENTINEL_ID } from './framed.js';
import type { Driver } from './harness.js';
import { encodeBody, type Body } from './mutate.js';
import { FuzzRandom } from './prng.js';
import type { Tally } from './tally.js';
import { FuzzConn } from './wire.js';
import { flood, halfClose } from './connection-stress.js';

/** Type 0x7ffe is no control message: before AUTH it is refused (FAILURE, then close), after AUTH answered FAILURE. */
const SENTINEL = encodeFrame(0x7ffe, SENTINEL_ID, encodeValue({}));
const ANSWER_MS = 10_000;

/** What a connection made that later requests may name. */
interface Made {
  instances: number[];
  watches: number[];
}

export class ControlDriver implements Driver<ControlCase> {
  readonly target = 'control';

  constructor(private readonly socketPath: string, private readonly canaryIds: () => number[]) {}

  make(seed: number, index: number): ControlCase {
    return makeControlCase(seed, index);
  }

  group(cases: ControlCase[]): ControlCase[][] {
    return groupControl(cases);
  }

  async runBatch(batch: ControlCase[], tally: Tally): Promise<void> {
    const first = batch[0]!;
    if (first.special?.kind === 'flood') return flood(() => FuzzConn.open({ path: this.socketPath }), encodeFrame(ControlMessage.HELLO, 1, encodeValue({ gameId: 'g', pid: 1 })), first.special.count, first.special.prefix, tally);
    const conn = await FuzzConn.open({ path: this.socketPath }, { maxFrame: 64 * 1024 * 1024 });
    tally.connections++;
    try {
      if (first.special?.kind === 'half-close') return await halfClose(conn, first.special.afterHello ? encodeFrame(ControlMessage.HELLO, 1, encodeValue({ gameId: 'g', pid: 1 })) : undefined, tally, ANSWER_MS);
      if (first.phase !== 'fresh') {
        const ready = await this.handshake(conn, first.game, first.phase === 'authed');
        if (!ready) {
          // the agent (or a connection deadline) closed us before the case: it reached nobody
          tally.unsent += batch.length;
          tally.add(`handshake ${conn.closed ? 'closed' : 'unanswered'}`, batch.length);
          return;
        }
      }
      const made: Made = { instances: [], watches: [] };
      const r = new FuzzRandom(`control-run/${first.index}`);
      for (const c of batch) {
        const bytes = Buffer.concat(c.parts.map((p) => this.encode(r, p, made)));
        if (c.drip) await conn.drip(bytes, c.drip.chunk, c.drip.delayMs);
        else conn.write(bytes);
        // later cases of an authed batch name what earlier ones created: wait for creations only
        const creating = c.parts.filter((p) => !p.bytes && p.id !== 0 && (p.type === ControlMessage.CREATE || p.type === ControlMessage.WATCH));
        if (!c.fatal && creating.length) {
          await conn.until(() => creating.every((p) => conn.answer(p.id) !== undefined), ANSWER_MS);
          this.learn(conn, c, made);
        }
      }
      const last = batch[batch.length - 1]!;
      const how = await finish(conn, last.ending, SENTINEL, ANSWER_MS);
      if (how === 'timeout' && last.ending === 'sentinel') {
        tally.add('sentinel unanswered');
        tally.note('sentinel unanswered', `cases ${first.index}..${last.index}: the agent neither answered nor closed within ${ANSWER_MS} ms`);
      }
      for (const c of batch) {
        const ids = c.parts.filter((p) => p.id !== 0).map((p) => p.id);
        const label = ids.length ? outcome(conn, ids[ids.length - 1]!) : conn.closed ? 'closed' : 'no answer expected';
        tally.add(label);
        // an INTERNAL answer is the agent's own code failing on the input: worth a look
        if (label === 'FAILURE INTERNAL') tally.note(`INTERNAL ${failureMessage(conn, ids[ids.length - 1]!)}`, `case ${c.index}: ${c.desc}`);
      }
      if (how === 'closed' && first.phase === 'authed' && !batch.some((c) => c.fatal)) {
        tally.note('authed connection closed', `cases ${first.index}..${last.index} (no fatal case among them): ${batch.map((c) => c.desc).join(' | ')}`);
      }
    } finally {
      conn.destroy();
    }
  }

  /** HELLO (and AUTH) as a correct client does them. False if the agent closed or did not answer. */
  private async handshake(conn: FuzzConn, game: string, auth: boolean): Promise<boolean> {
    conn.write(encodeFrame(ControlMessage.HELLO, 1, encodeValue({ gameId: game, pid: process.pid })));
    if ((await conn.until(() => conn.answer(1) !== undefined, ANSWER_MS)) !== 'done' || conn.answer(1)!.type !== RESULT) return false;
    if (!auth) return true;
    const { nonce } = decodeValue<{ nonce: Uint8Array }>(conn.answer(1)!.body);
    conn.write(encodeFrame(ControlMessage.AUTH, 2, encodeValue({ proof: gameProof(GAMES[game]!, nonce) })));
    return (await conn.until(() => conn.answer(2) !== undefined, ANSWER_MS)) === 'done' && conn.answer(2)!.type === RESULT;
  }

  private encode(r: FuzzRandom, p: ControlPart, made: Made): Buffer {
    if (p.bytes) return p.bytes;
    let body = p.body;
    if (body && typeof body === 'object' && !Array.isArray(body) && !(body instanceof Uint8Array)) {
      body = Object.fromEntries(Object.entries(body as Body).map(([k, v]) => [k, v instanceof OwnRef ? this.resolve(v, made) : v]));
    }
    return encodeFrame(p.type, p.id, body === undefined ? new Uint8Array(0) : encodeBody(r, body));
  }

  private resolve(ref: OwnRef, made: Made): number {
    if (ref.what === 'canary') return this.canaryIds()[ref.k % 2] ?? 0;
    const list = ref.what === 'instance' ? made.instances : made.watches;
    return list.length ? list[ref.k % list.length]! : 100_000 + ref.k;
  }

  private learn(conn: FuzzConn, c: ControlCase, made: Made): void {
    for (const p of c.parts) {
      const f = p.id ? conn.answer(p.id) : undefined;
      if (f?.type !== RESULT) continue;
      try {
        const b = decodeValue<{ localId?: unknown; watchId?: unknown }>(f.body);
        if (typeof b?.localId === 'number') made.instances.push(b.localId);
        if (typeof b?.watchId === 'number') made.watches.push(b.watchId);
      } catch { /* not ours to judge here */ }
    }
  }
}
