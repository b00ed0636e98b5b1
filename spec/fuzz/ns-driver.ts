/**
 * Runs name-server TCP cases (ns-cases.ts) against a real name server: each
 * batch gets its own connection; leased batches first authenticate (CHALLENGE,
 * HELLO with the mesh secret's proof, ns-auth-raw.ts) as their fuzz agent (resuming that agent's last lease when the case says so),
 * then their requests, then a sentinel (UNWATCH of watch 0, answered in every
 * state, or refused with PROTOCOL once the connection is condemned). What
 * each request got back is counted; anything answered INTERNAL is noted.
 */
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { RESULT } from '../../lib/protocol/connection.js';
import { encodeFrame } from '../../lib/protocol/frame.js';
import { NsMessage } from '../../lib/protocol/registry-messages.js';
import { failureMessage, finish, outcome, SENTINEL_ID } from './framed.js';
import type { Driver } from './harness.js';
import { encodeBody, type Body } from './mutate.js';
import { groupNs, LeaseRef, makeNsCase, type NsCase, type NsPart } from './ns-cases.js';
import { FuzzRandom } from './prng.js';
import type { Tally } from './tally.js';
import { authenticateRaw } from './ns-auth-raw.js';
import { FuzzConn } from './wire.js';
import { flood, halfClose } from './connection-stress.js';

const SENTINEL = encodeFrame(NsMessage.UNWATCH, SENTINEL_ID, encodeValue({ watchId: 0 }));
const ANSWER_MS = 10_000;

interface Lease {
  agentId: string;
  leaseId: string;
  address: string;
}

interface Made {
  lease: Lease | undefined;
  watches: number[];
}

export class NsDriver implements Driver<NsCase> {
  readonly target = 'ns-tcp';
  /** The last lease of each fuzz agent (resumed by cases that ask). */
  private readonly leases = new Map<string, Lease>();

  /** @param realAgentId the agent of the `up` under test: the fuzzer never speaks as it */
  constructor(private readonly port: number, private readonly realAgentId: string, private readonly secret: string) {}

  make(seed: number, index: number): NsCase {
    return makeNsCase(seed, index);
  }

  group(cases: NsCase[]): NsCase[][] {
    return groupNs(cases);
  }

  async runBatch(batch: NsCase[], tally: Tally): Promise<void> {
    const first = batch[0]!;
    if (first.special?.kind === 'flood') return flood(() => FuzzConn.open({ host: '127.0.0.1', port: this.port }), encodeFrame(NsMessage.HELLO, 1, encodeValue({ agentId: 'fuzz-agent-flood', address: '' })), first.special.count, first.special.prefix, tally);
    const conn = await FuzzConn.open({ host: '127.0.0.1', port: this.port });
    tally.connections++;
    try {
      if (first.special?.kind === 'half-close') return await halfClose(conn, first.special.afterHello ? encodeFrame(NsMessage.HELLO, 1, encodeValue({ agentId: 'fuzz-agent-hc', address: '', ttlMs: 100 })) : undefined, tally, ANSWER_MS);
      const made: Made = { lease: undefined, watches: [] };
      if (first.phase === 'leased') {
        made.lease = await this.hello(conn, first);
        if (!made.lease) {
          tally.unsent += batch.length;
          tally.add(`hello ${conn.closed ? 'closed' : 'unanswered'}`, batch.length);
          return;
        }
      }
      const r = new FuzzRandom(`ns-run/${first.index}`);
      for (const c of batch) {
        const bytes = Buffer.concat(c.parts.map((p) => this.encode(r, p, made)));
        if (c.drip) await conn.drip(bytes, c.drip.chunk, c.drip.delayMs);
        else conn.write(bytes);
        const watching = c.parts.filter((p) => !p.bytes && p.id !== 0 && p.type === NsMessage.WATCH);
        if (!c.fatal && watching.length) {
          await conn.until(() => watching.every((p) => conn.answer(p.id) !== undefined), ANSWER_MS);
          for (const p of watching) this.learnWatch(conn, p.id, made);
        }
      }
      const last = batch[batch.length - 1]!;
      const how = await finish(conn, last.ending, SENTINEL, ANSWER_MS);
      if (how === 'timeout' && last.ending === 'sentinel') {
        tally.add('sentinel unanswered');
        tally.note('sentinel unanswered', `cases ${first.index}..${last.index}: the name server neither answered nor closed within ${ANSWER_MS} ms`);
      }
      for (const c of batch) {
        const ids = c.parts.filter((p) => p.id !== 0).map((p) => p.id);
        const id = ids[ids.length - 1];
        const label = id !== undefined ? outcome(conn, id) : conn.closed ? 'closed' : 'no answer expected';
        tally.add(label);
        if (label === 'FAILURE INTERNAL') tally.note(`INTERNAL ${failureMessage(conn, id!)}`, `case ${c.index}: ${c.desc}`);
      }
    } finally {
      conn.destroy();
    }
  }

  /** A valid HELLO as the batch's fuzz agent; the lease, or undefined if the server closed or did not answer. */
  private async hello(conn: FuzzConn, c: NsCase): Promise<Lease | undefined> {
    const agentId = `fuzz-agent-${c.agent}`;
    const old = c.resume ? this.leases.get(agentId) : undefined;
    const address = old?.address ?? `127.0.0.1:${1 + c.agent}`;
    const answer = await authenticateRaw(conn, this.secret, agentId, address, { ttlMs: c.ttlMs, ...(old ? { leaseId: old.leaseId } : {}) }, ANSWER_MS);
    if (!answer) return undefined;
    const lease = { agentId, leaseId: answer.leaseId, address };
    this.leases.set(agentId, lease);
    return lease;
  }

  private encode(r: FuzzRandom, p: NsPart, made: Made): Buffer {
    if (p.bytes) return p.bytes;
    const fill = (v: unknown): unknown => {
      if (v instanceof LeaseRef) {
        if (v.what === 'watch') return made.watches.length ? made.watches[v.k % made.watches.length]! : 1_000_000 + v.k;
        if (v.what === 'address') return made.lease?.address ?? '';
        return v.what === 'agentId' ? made.lease?.agentId ?? 'fuzz-agent-x' : made.lease?.leaseId ?? 'no-lease';
      }
      return v === this.realAgentId ? 'fuzz-agent-not-real' : v;
    };
    let body = p.body;
    if (body && typeof body === 'object' && !Array.isArray(body) && !(body instanceof Uint8Array)) {
      body = Object.fromEntries(Object.entries(body as Body).map(([k, v]) => [k,
        v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof LeaseRef) && !(v instanceof Uint8Array)
          ? Object.fromEntries(Object.entries(v as Body).map(([k2, v2]) => [k2, fill(v2)]))
          : fill(v)]));
    }
    return encodeFrame(p.type, p.id, body === undefined ? new Uint8Array(0) : encodeBody(r, body));
  }

  private learnWatch(conn: FuzzConn, id: number, made: Made): void {
    const f = conn.answer(id);
    if (f?.type !== RESULT) return;
    try {
      const b = decodeValue<{ watchId?: unknown }>(f.body);
      if (typeof b?.watchId === 'number') made.watches.push(b.watchId);
    } catch { /* counted by the outcome */ }
  }
}
