/**
 * Runs peer-link cases (link-cases.ts) against a real agent's link port,
 * playing peer agents. Each linked batch borrows a peer identity (agent id,
 * incarnation, next sequence number: an identity is used by one batch at a
 * time, since a peer's new connection replaces its old one), does the real
 * handshake with the mesh secret, announces sources 1..4 of game `g`, sends
 * its cases and then a PING sentinel: the PONG says everything before it was
 * handled, a close says a case was refused.
 */
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { ENVELOPE_BYTES, writeEnvelope } from '../../lib/protocol/envelope.js';
import { encodeFrame } from '../../lib/protocol/frame.js';
import { encodeBareFrame, encodeRecordFrame, LINK_VERSION, LinkFrame, linkProof, helloState } from '../../lib/protocol/link-frames.js';
import { linkKeys } from '../../lib/protocol/link-seal.js';
import { factsOf, helloFrame, type Challenge } from '../helpers/link-handshake.js';
import { flood, halfClose } from './connection-stress.js';
import { SENTINEL_ID } from './framed.js';
import type { Driver } from './harness.js';
import { groupLink, LINK_MAX, makeLinkCase, type LinkCase, type LinkPart, type RecordSpec } from './link-cases.js';
import { encodeBody, type Body } from './mutate.js';
import { FuzzRandom } from './prng.js';
import type { Tally } from './tally.js';
import { FuzzConn, sleep } from './wire.js';

const ANSWER_MS = 10_000;
const SENTINEL = encodeBareFrame(LinkFrame.PING, SENTINEL_ID);
const NOBODY = 999_999;

interface Identity {
  agentId: string;
  epoch: number;
  nextSeq: number;
  busy: boolean;
}

export interface LinkTargetInfo {
  port: number;
  secret: string;
  /** The victim instance's local id (DATA goes there), and the canary's (never addressed). */
  victim: () => number;
  canary: () => number[];
}

export class LinkDriver implements Driver<LinkCase> {
  readonly target = 'link';
  private readonly peers: Identity[] = Array.from({ length: 8 }, (_, i) => ({ agentId: `fuzz-peer-${i}`, epoch: 1, nextSeq: 1, busy: false }));
  /** The agent itself (a peer with the secret that claims the agent's own id). */
  private self: Identity | undefined;

  constructor(private readonly t: LinkTargetInfo) {}

  make(seed: number, index: number): LinkCase {
    return makeLinkCase(seed, index);
  }

  group(cases: LinkCase[]): LinkCase[][] {
    return groupLink(cases);
  }

  /**
   * A connection for a batch. Pre-handshake cases come from an address of
   * their own in 127/8: the link port limits failed handshakes per address,
   * and the fuzzer's mangled HELLOs would otherwise lock every later batch out.
   */
  private open(first?: LinkCase): Promise<FuzzConn> {
    const i = (first?.index ?? 0) + 1;
    const localAddress = first?.phase === 'fresh' ? `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) || 2}` : undefined;
    return FuzzConn.open({ host: '127.0.0.1', port: this.t.port }, { maxFrame: LINK_MAX, ...(localAddress ? { localAddress } : {}) });
  }

  async runBatch(batch: LinkCase[], tally: Tally): Promise<void> {
    const first = batch[0]!;
    const hello = encodeFrame(LinkFrame.HELLO, 0, encodeValue({ v: LINK_VERSION }));
    if (first.special?.kind === 'flood') return flood(() => this.open(), hello, first.special.count, first.special.prefix, tally);
    const conn = await this.open(first);
    tally.connections++;
    try {
      if ((await conn.until(() => conn.frames.some((f) => f.type === LinkFrame.CHALLENGE), ANSWER_MS)) !== 'done') {
        tally.add(conn.closed ? 'closed before CHALLENGE' : 'no CHALLENGE', batch.length);
        return;
      }
      const challenge = decodeValue<Challenge>(conn.frames.find((f) => f.type === LinkFrame.CHALLENGE)!.body);
      if (first.special?.kind === 'half-close') return await halfClose(conn, undefined, tally, ANSWER_MS);
      if (first.phase === 'fresh') return await this.fresh(conn, first, challenge, tally);
      const id = await this.borrow(first, challenge);
      try {
        await this.linked(conn, batch, id, challenge, tally);
      } finally {
        id.busy = false;
      }
    } finally {
      conn.destroy();
    }
  }

  /** One pre-handshake case: a mangled HELLO (or something else), then the sentinel. */
  private async fresh(conn: FuzzConn, c: LinkCase, ch: Challenge, tally: Tally): Promise<void> {
    const r = new FuzzRandom(`link-run/${c.index}`);
    let bytes: Buffer;
    const h = c.hello;
    if (!h) {
      const hello = this.hello({ agentId: 'fuzz-peer-drip', epoch: 1, nextSeq: 1, busy: true }, ch, 1, c.setup.address);
      conn.sealAfter(LinkFrame.WELCOME, hello.keys);
      await conn.drip(hello.frame, c.drip?.chunk ?? 1, c.drip?.delayMs ?? 1);
    } else {
      if (h.mutate === 'body') {
        const proved = this.prove(h.body, ch);
        if (proved.keys) conn.sealAfter(LinkFrame.WELCOME, proved.keys);
        bytes = encodeFrame(LinkFrame.HELLO, 0, encodeBody(r, proved.body));
      } else if (h.mutate === 'proof') bytes = encodeFrame(LinkFrame.HELLO, 0, encodeValue({ v: LINK_VERSION, agentId: 'fuzz-peer-x', epoch: 1, address: '', next: 1, nonce: r.bytes(32), proof: r.bytes(32) }));
      else bytes = h.bytes!;
      conn.write(bytes);
    }
    const how = await this.finish(conn, c);
    tally.add(conn.frames.some((f) => f.type === LinkFrame.WELCOME) ? `welcomed${conn.closed ? ', then closed' : ''}` : how === 'done' ? 'partial frame, dropped by us' : how);
  }

  /** A HELLO body mutated by the case, with a valid proof for whatever id, epoch and address it claims (so more than the proof check is reached). */
  private prove(body: unknown, ch: Challenge): { body: unknown; keys?: { read: Buffer; write: Buffer } } {
    if (!body || typeof body !== 'object' || Array.isArray(body)) return { body };
    const b = { ...(body as Body) };
    const zeros = (x: unknown): boolean => x instanceof Uint8Array && x.length === 32 && x.every((v) => v === 0);
    if (!zeros(b['proof']) || typeof b['agentId'] !== 'string' || typeof b['epoch'] !== 'number' || !(b['nonce'] instanceof Uint8Array)) return { body: b };
    const address = typeof b['address'] === 'string' ? b['address'] : '';
    const facts = factsOf(ch, { agentId: b['agentId'], epoch: b['epoch'], address, next: 1, nonce: b['nonce'] }, this.acceptor);
    b['proof'] = linkProof(this.t.secret, 'd', facts, helloState(typeof b['next'] === 'number' ? b['next'] : NaN));
    const keys = linkKeys(this.t.secret, facts);
    return { body: b, keys: { read: keys.backward, write: keys.forward } };
  }

  /** The agent's advertised address: handshakes are made for it. */
  private get acceptor(): string {
    return `127.0.0.1:${this.t.port}`;
  }

  private hello(id: Identity, ch: Challenge, next: number, address: string): { frame: Buffer; keys: { read: Buffer; write: Buffer } } {
    const nonce = new FuzzRandom(`${id.agentId}/${id.epoch}/${next}`).bytes(32);
    return helloFrame(this.t.secret, factsOf(ch, { agentId: id.agentId, epoch: id.epoch, address, next, nonce }, this.acceptor), next);
  }

  /** A free identity for this batch (waiting for one if all are in use). */
  private async borrow(c: LinkCase, ch: Challenge): Promise<Identity> {
    if (c.setup.self) {
      this.self ??= { agentId: ch.agentId, epoch: ch.epoch, nextSeq: 1, busy: false };
      while (this.self.busy) await sleep(2);
      this.self.busy = true;
      return this.self;
    }
    for (;;) {
      const free = this.peers.find((p) => !p.busy);
      if (free) {
        free.busy = true;
        if (c.setup.reincarnate) {
          free.epoch++;
          free.nextSeq = 1;
        }
        return free;
      }
      await sleep(2);
    }
  }

  private async linked(conn: FuzzConn, batch: LinkCase[], id: Identity, ch: Challenge, tally: Tally): Promise<void> {
    const setup = batch[0]!.setup;
    if (setup.next === 'skip') id.nextSeq += 1000;
    const hello = this.hello(id, ch, setup.next === 'rewind' ? 1 : id.nextSeq, setup.address);
    conn.sealAfter(LinkFrame.WELCOME, hello.keys);
    conn.write(hello.frame);
    if ((await conn.until(() => conn.frames.some((f) => f.type === LinkFrame.WELCOME), ANSWER_MS)) !== 'done') {
      tally.unsent += batch.length;
      tally.add(`handshake ${conn.closed ? 'closed' : 'unanswered'}`, batch.length);
      return;
    }
    const announce = [1, 2, 3, 4].map((local) => encodeFrame(LinkFrame.SOURCE, 0, encodeValue({ local, game: 'g' })));
    conn.write(Buffer.concat(announce));
    const r = new FuzzRandom(`link-run/${batch[0]!.index}`);
    for (const c of batch) conn.write(Buffer.concat(c.parts.map((p) => this.encode(r, p, id, ch))));
    const last = batch[batch.length - 1]!;
    const how = await this.finish(conn, last);
    if (how === 'timeout') tally.note('sentinel unanswered', `cases ${batch[0]!.index}..${last.index}: no PONG and no close within ${ANSWER_MS} ms`);
    if (how === 'closed' && !last.fatal) tally.note('link closed on a case not expected to close it', `cases ${batch[0]!.index}..${last.index}: ${batch.map((c) => c.desc).join(' | ').slice(0, 400)}`);
    for (const c of batch) {
      if (how !== 'closed') tally.add(how === 'done' ? 'handled (PONG)' : how);
      else if (!last.fatal) tally.add('closed (not expected)');
      else tally.add(c === last ? 'closed (on this case)' : 'sent before the case the link closed on');
    }
  }

  private encode(r: FuzzRandom, p: LinkPart, id: Identity, ch: Challenge): Buffer {
    switch (p.kind) {
      case 'ping': return encodeBareFrame(LinkFrame.PING, p.id);
      case 'frame': return p.bytes;
      case 'source': return encodeFrame(LinkFrame.SOURCE, 0, encodeBody(r, p.body));
      default: return this.dataFrame(p.rec, id, ch);
    }
  }

  private dataFrame(rec: RecordSpec, id: Identity, ch: Challenge): Buffer {
    let seq: number;
    if (rec.seq === 'next') seq = id.nextSeq++;
    else if (rec.seq === 'dup') seq = Math.max(1, id.nextSeq - 1);
    else if (rec.seq === 'gap') seq = id.nextSeq + 1;
    else if (rec.seq === 'zero') seq = 0;
    else seq = rec.seq;
    if (rec.short) return encodeRecordFrame(seq, rec.type, rec.payload.subarray(0, ENVELOPE_BYTES - 1));
    let dest = rec.dest === 'victim' ? this.t.victim() : rec.dest === 'nobody' ? NOBODY : rec.dest;
    if (this.t.canary().includes(dest)) dest = this.t.victim(); // legitimate traffic to the canary is not the point
    const epoch = rec.epoch === 'agent' ? ch.epoch : rec.epoch === 'stale' ? (ch.epoch - 1) >>> 0 : rec.epoch;
    const body = Buffer.alloc(ENVELOPE_BYTES + rec.payload.length);
    writeEnvelope(body, rec.src, dest, rec.flags, rec.corr, epoch, rec.aux);
    rec.payload.copy(body, ENVELOPE_BYTES);
    return encodeRecordFrame(seq, rec.type, body);
  }

  /** The sentinel after whole frames (PONG or close); else the case's own ending. */
  private async finish(conn: FuzzConn, c: LinkCase): Promise<'done' | 'closed' | 'timeout'> {
    if (c.ending === 'sentinel') {
      if (!conn.write(SENTINEL)) return 'closed';
      return conn.until(() => conn.frames.some((f) => f.type === LinkFrame.PONG && f.id === SENTINEL_ID), ANSWER_MS);
    }
    if (c.ending === 'end') {
      conn.end();
      return (await conn.closedWithin(ANSWER_MS)) ? 'closed' : 'timeout';
    }
    if (c.ending === 'linger') return (await conn.closedWithin(25)) ? 'closed' : 'done';
    return 'done';
  }
}
