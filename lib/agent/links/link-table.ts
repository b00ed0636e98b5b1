/**
 * LinkTable: the agent's peer links. It knows where each peer agent listens
 * (from the registry records the agent sees) and the game of each remote
 * instance, routes records for other nodes onto the right PeerLink, and hands
 * records arriving from peers to the router. Bounces for remote failures go
 * to the local source, once per message.
 */
import { randomBytes } from 'node:crypto';
import { BounceReason } from '../../protocol/envelope.js';
import type { InstanceRecord } from '../../protocol/registry-messages.js';
import type { LocalInstance } from '../local-instance.js';
import type { NodeTable } from '../node-table.js';
import type { RemoteRoute, Router } from '../router.js';
import { LinkServer, type InboundStats } from './link-server.js';
import { DEFAULT_TIMINGS, PeerLink, type LinkStats, type LinkTimings } from './peer-link.js';

export interface LinkOptions extends Partial<LinkTimings> {
  /** 'host:port' to listen on for peers (port 0: any). */
  listen?: string;
  secret: string;
  /** How long a remote destination may refuse a message (its ring full) before it bounces QUEUE_FULL. */
  fullMs?: number;
}

export interface LinkTableHost {
  readonly agentId: string;
  readonly instances: ReadonlyMap<number, LocalInstance>;
  readonly nodes: NodeTable;
  readonly router: Router;
  log(msg: string): void;
  /** Run the pump soon (staged bounces, paused sources). */
  wake(): void;
}

const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

export class LinkTable implements RemoteRoute {
  readonly session = randomBytes(12).toString('hex');
  readonly secret: string;
  private readonly links = new Map<string, PeerLink>();
  private readonly addresses = new Map<string, string>();
  /** Game of each remote instance we may send to, by node * 2^32 + localId. */
  private readonly games = new Map<number, string>();
  private advertised = '';
  private readonly timings: LinkTimings;
  private server: LinkServer | undefined;

  constructor(private readonly host: LinkTableHost, private readonly options: LinkOptions) {
    this.secret = options.secret;
    this.timings = { ...DEFAULT_TIMINGS, ...Object.fromEntries(Object.entries(options).filter(([k, v]) => k in DEFAULT_TIMINGS && v !== undefined)) };
  }

  get agentId(): string {
    return this.host.agentId;
  }

  log(msg: string): void {
    this.host.log(msg);
  }

  /** Start listening when asked to; returns the address to advertise ('' if none). */
  async listen(): Promise<string> {
    if (!this.options.listen) return '';
    const i = this.options.listen.lastIndexOf(':');
    const host = i < 0 ? '127.0.0.1' : this.options.listen.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
    const port = Number(i < 0 ? this.options.listen : this.options.listen.slice(i + 1));
    const server = new LinkServer({
      agentId: this.host.agentId,
      secret: this.secret,
      log: (m) => this.host.log(m),
      deliver: (peer, type, record) => this.deliver(peer, type, record),
      learnAddress: (peer, address) => {
        if (address && !this.addresses.has(peer)) this.addresses.set(peer, address);
      },
      flushDelivered: () => {
        const all = this.host.router.flushRemote();
        if (!all) this.host.wake();
        return all;
      },
    }, { deadMs: this.timings.deadMs, windowBytes: this.timings.windowBytes, fullMs: this.options.fullMs ?? 5000 });
    this.server = server;
    this.advertised = await server.listen(host, port);
    return this.advertised;
  }

  /** A record from `peer`: stage it; a delivered sender becomes a route for replies (same game as its destination). */
  private deliver(peer: string, type: number, record: Uint8Array): number {
    const node = this.host.nodes.nodeOf(peer);
    const r = this.host.router.deliverRemote(node, type, record);
    if (r === 0) {
      const key = node * 0x1_0000_0000 + u32(record, 0);
      if (!this.games.has(key)) this.games.set(key, this.host.instances.get(u32(record, 4))!.gameId);
    }
    return r;
  }

  /** The address this agent advertises (sent in HELLO so the peer can dial back for replies). */
  setAdvertised(address: string): void {
    if (address) this.advertised = address;
  }

  /** Learn from a registry record: where its agent listens, which game it is in. */
  learn(r: InstanceRecord, node: number): void {
    if (node === 0) return;
    if (r.address) {
      this.addresses.set(r.agentId, r.address);
      const link = this.links.get(r.agentId);
      if (link) link.address = r.address;
    }
    this.games.set(node * 0x1_0000_0000 + r.localId, r.gameId);
  }

  forward(src: LocalInstance, type: number, body: Uint8Array, node: number): boolean {
    const game = this.games.get(node * 0x1_0000_0000 + u32(body, 4));
    if (game === undefined) return this.host.router.bounce(src, type, body, BounceReason.NO_ROUTE);
    if (game !== src.gameId) return this.host.router.bounce(src, type, body, BounceReason.CROSS_GAME);
    const link = this.linkFor(node);
    if (!link) return this.host.router.bounce(src, type, body, BounceReason.NO_ROUTE);
    const r = link.send(type, body, src.localId);
    if (r === 'queued') {
      this.host.router.stats.forwarded++;
      return true;
    }
    if (r === 'down') return this.host.router.bounce(src, type, body, BounceReason.LINK_DOWN);
    src.blockedOn = link;
    link.waiters.add(src);
    return false;
  }

  private linkFor(node: number): PeerLink | undefined {
    const agentId = this.host.nodes.agentOf(node);
    if (!agentId) return undefined;
    let link = this.links.get(agentId);
    if (link) return link;
    const address = this.addresses.get(agentId);
    if (!address) return undefined;
    link = new PeerLink(agentId, address, {
      agentId: this.host.agentId,
      secret: this.secret,
      session: this.session,
      address: this.advertised,
      log: (m) => this.host.log(m),
      released: (l) => this.released(l),
      bounced: (l, type, record, reason) => this.bounced(l, type, record, reason),
    }, this.timings);
    this.links.set(agentId, link);
    return link;
  }

  private released(link: PeerLink): void {
    if (link.queue.full && link.state !== 'failed') return;
    for (const w of link.waiters) w.blockedOn = null;
    link.waiters.clear();
    this.host.wake();
  }

  /** A message of ours came back from `link` (refused there, or the link gave up). */
  private bounced(link: PeerLink, type: number, record: Uint8Array, reason: number | 'link_down'): void {
    const src = this.host.instances.get(u32(record, 0));
    if (!src) return;
    const body = Buffer.from(record);
    body.writeUInt32LE(this.host.nodes.nodeOf(link.peer), 0);
    body.writeUInt32LE(u32(record, 4), 4);
    this.host.router.bounce(src, type, body, reason === 'link_down' ? BounceReason.LINK_DOWN : (reason as BounceReason) || BounceReason.NO_ROUTE);
    this.host.wake();
  }

  bounceBack(node: number, type: number, record: Uint8Array, reason: BounceReason): void {
    const peer = this.host.nodes.agentOf(node);
    if (!peer || !this.server?.bounceBack(peer, type, record, reason)) this.host.log(`lost a bounce for agent ${peer ?? node}: no link from it`);
  }

  /** Test hook: cut every link, ours and the peers' to us; ours stay away for `ms`. */
  cut(ms: number): void {
    for (const l of this.links.values()) l.cut(ms);
    this.server?.cutAll();
  }

  status(): { address: string; out: LinkStats[]; in: InboundStats[] } {
    return { address: this.server?.address ?? '', out: [...this.links.values()].map((l) => l.snapshot()), in: this.server?.stats() ?? [] };
  }

  async close(): Promise<void> {
    for (const l of this.links.values()) l.close(true);
    await this.server?.close();
  }
}
