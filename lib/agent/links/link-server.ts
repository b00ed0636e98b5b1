/**
 * LinkServer: the TCP port peer agents dial to send to us. Each connection
 * starts with the mesh-secret handshake; then its DATA frames are delivered
 * in sequence order into destination rx rings, once each (a resent frame the
 * peer's session already delivered is dropped by sequence number), and
 * acknowledged once they are in the rings. A destination that cannot take
 * more holds the link's later frames (the peer's window then fills and its
 * senders pause); after `fullMs` the held message bounces as QUEUE_FULL.
 * Garbage, oversize or out-of-protocol frames close only that connection.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { decodeValue, encodeValue } from '../../protocol/cbor.js';
import { ProtocolError } from '../../protocol/errors.js';
import { encodeFrame, FrameDecoder, type Frame } from '../../protocol/frame.js';
import { checkLinkProof, decodeRecordBody, encodeBareFrame, encodeRecordFrame, LINK_MAX_FRAME, LinkFrame, linkProof } from '../../protocol/link-frames.js';
import { BounceReason, bounceFlags } from '../../protocol/envelope.js';

/** Result of delivering one record: 0 taken, -1 destination full (retry), > 0 a bounce reason. */
export type DeliverResult = number;

export interface LinkServerHost {
  readonly agentId: string;
  readonly secret: string;
  log(msg: string): void;
  deliver(peer: string, recordType: number, record: Uint8Array): DeliverResult;
  /** Where the authenticated peer says it listens (a route back for replies). */
  learnAddress(peer: string, address: string): void;
  /** Flush what deliver() staged into the rings; true when all of it is in. */
  flushDelivered(): boolean;
}

export interface InboundStats {
  peer: string;
  connected: boolean;
  msgsIn: number;
  bytesIn: number;
  duplicates: number;
  bounced: number;
}

interface Inbound {
  session: string;
  lastSeq: number;
  socket: Socket | undefined;
  stats: InboundStats;
}

const HANDSHAKE_MS = 5000;
const RETRY_MS = 1;


export class LinkServer {
  private server!: Server;
  private readonly peers = new Map<string, Inbound>();
  private readonly sockets = new Set<Socket>();
  address = '';

  constructor(private readonly host: LinkServerHost, private readonly t: { deadMs: number; windowBytes: number; fullMs: number }) {}

  listen(host: string, port: number): Promise<string> {
    this.server = createServer((s) => this.accept(s));
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const a = this.server.address();
        const p = typeof a === 'object' && a ? a.port : port;
        this.address = `${host.includes(':') ? `[${host}]` : host}:${p}`;
        resolve(this.address);
      });
    });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const decoder = new FrameDecoder(LINK_MAX_FRAME);
    const nonce = randomBytes(32);
    let peer: Inbound | undefined;
    let peerId = '';
    let pending: Frame[] = [];
    let head = 0; // pending[head..] are still to deliver (no shift(): O(n) on long arrays)
    let pendingBytes = 0;
    let acked = 0;
    let retry: NodeJS.Timeout | undefined;
    let blockedSince = 0;

    let lastRx = performance.now();
    const close = (reason: Error): void => {
      if (socket.destroyed) return;
      this.host.log(`link from ${peerId || remote}: closed: ${reason.message}`);
      socket.destroy();
    };
    const handshake = setTimeout(() => close(new ProtocolError('no handshake')), HANDSHAKE_MS);
    const watchdog = setInterval(() => {
      if (performance.now() - lastRx > this.t.deadMs * 2) close(new Error('peer silent'));
    }, 500);
    watchdog.unref();

    const drain = (): void => {
      if (!peer || socket.destroyed) return;
      while (head < pending.length) {
        const f = pending[head]!;
        if (f.id <= peer.lastSeq) {
          peer.stats.duplicates++;
        } else {
          const r = decodeRecordBody(f.body);
          if (!r) return close(new ProtocolError('short DATA frame'));
          let res = this.host.deliver(peerId, r.recordType, r.record);
          if (res < 0) {
            const t = performance.now();
            if (!blockedSince) blockedSince = t;
            if (t - blockedSince < this.t.fullMs) break;
            res = BounceReason.QUEUE_FULL;
          }
          blockedSince = 0;
          if (res > 0) {
            const back = Buffer.from(r.record);
            back.writeUInt32LE(bounceFlags(back.readUInt32LE(8), res as BounceReason), 8);
            socket.write(encodeRecordFrame(LinkFrame.BOUNCE, f.id, r.recordType, back));
            peer.stats.bounced++;
          } else {
            peer.stats.msgsIn++;
            peer.stats.bytesIn += r.record.length;
          }
          peer.lastSeq = f.id;
        }
        head++;
        pendingBytes -= f.body.length;
      }
      if (head === pending.length) {
        pending = [];
        head = 0;
      } else if (head > 4096) {
        pending = pending.slice(head);
        head = 0;
      }
      // Ack at once, in the same turn as the ring write: an agent killed between the two is the only
      // way a message can be both delivered and bounced, so that window must stay this small.
      const flushed = this.host.flushDelivered();
      if (flushed && peer.lastSeq > acked) {
        acked = peer.lastSeq;
        socket.write(encodeBareFrame(LinkFrame.ACK, acked));
      }
      if ((head < pending.length || !flushed) && !retry) {
        retry = setTimeout(() => { retry = undefined; drain(); }, RETRY_MS);
      }
    };

    const onFrame = (f: Frame): void => {
      lastRx = performance.now();
      if (!peer) {
        if (f.type !== LinkFrame.HELLO) throw new ProtocolError(`frame type ${f.type} before HELLO`);
        const h = decodeValue(f.body) as { agentId?: unknown; address?: unknown; session?: unknown; nonce?: unknown; proof?: unknown };
        if (typeof h?.agentId !== 'string' || typeof h.session !== 'string' || !(h.nonce instanceof Uint8Array) || h.nonce.length !== 32) throw new ProtocolError('malformed HELLO');
        if (!checkLinkProof(this.host.secret, 'd', nonce, h.agentId, this.host.agentId, h.proof)) {
          throw new ProtocolError(`refused: wrong mesh secret (claims to be '${h.agentId}')`);
        }
        clearTimeout(handshake);
        peerId = h.agentId;
        if (typeof h.address === 'string') this.host.learnAddress(peerId, h.address);
        let p = this.peers.get(peerId);
        if (!p) {
          p = { session: h.session, lastSeq: 0, socket: undefined, stats: { peer: peerId, connected: false, msgsIn: 0, bytesIn: 0, duplicates: 0, bounced: 0 } };
          this.peers.set(peerId, p);
        }
        if (p.session !== h.session) {
          p.session = h.session;
          p.lastSeq = 0;
        }
        if (p.socket && p.socket !== socket) p.socket.destroy(); // the peer redialled; the old connection is dead to it
        p.socket = socket;
        p.stats.connected = true;
        peer = p;
        acked = p.lastSeq;
        const welcome = { proof: linkProof(this.host.secret, 'a', h.nonce, this.host.agentId, peerId), acked: p.lastSeq };
        socket.write(encodeFrame(LinkFrame.WELCOME, 0, encodeValue(welcome)));
        return;
      }
      switch (f.type) {
        case LinkFrame.DATA:
          pending.push(f);
          pendingBytes += f.body.length;
          if (pendingBytes > 2 * this.t.windowBytes + LINK_MAX_FRAME) throw new ProtocolError('peer overran its window');
          return;
        case LinkFrame.PING:
          socket.write(encodeBareFrame(LinkFrame.PONG, f.id));
          return;
        case LinkFrame.PONG:
          return;
        default:
          throw new ProtocolError(`unexpected link frame type ${f.type}`);
      }
    };

    socket.on('data', (chunk) => {
      try {
        for (const f of decoder.push(chunk)) onFrame(f);
      } catch (err) {
        return close(err as Error);
      }
      if (head < pending.length) {
        socket.cork();
        drain();
        socket.uncork();
      }
    });
    socket.on('error', (err) => close(err));
    socket.on('close', () => {
      this.sockets.delete(socket);
      clearTimeout(handshake);
      clearInterval(watchdog);
      if (retry) clearTimeout(retry);
      if (peer && peer.socket === socket) {
        peer.socket = undefined;
        peer.stats.connected = false;
      }
    });
    socket.write(encodeFrame(LinkFrame.CHALLENGE, 0, encodeValue({ agentId: this.host.agentId, nonce })));
  }

  /** Send a bounce for a message `peer` sent us that we had already taken (its destination went away). */
  bounceBack(peer: string, recordType: number, record: Uint8Array, reason: BounceReason): boolean {
    const s = this.peers.get(peer)?.socket;
    if (!s || s.destroyed) return false;
    const back = Buffer.from(record);
    back.writeUInt32LE(bounceFlags(back.readUInt32LE(8), reason), 8);
    s.write(encodeRecordFrame(LinkFrame.BOUNCE, 0, recordType, back));
    return true;
  }

  /** Test hook: drop every inbound connection. */
  cutAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  stats(): InboundStats[] {
    return [...this.peers.values()].map((p) => ({ ...p.stats }));
  }

  async close(): Promise<void> {
    if (!this.server) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
