/**
 * LinkTable: the agent's peer links, by node (one per peer incarnation). It
 * knows where each peer listens and the game of each remote instance (from the
 * registry records the agent sees), gives the Router the PeerLink for a remote
 * destination (RemoteRoutes), and runs the listening side (LinkServer) with one
 * InboundSession per sending peer. It is the only place that connects the two
 * directions of a pair: a refusal the peer sends back on its own link settles
 * a record of ours, and our refusals go out on our link to the peer.
 */
import type { AdmissionOptions, AdmissionStats } from '../../protocol/admission.js';
import type { TlsMaterial } from '../../protocol/tls.js';
import type { InstanceRecord } from '../../protocol/registry-messages.js';
import { BounceReason } from '../../protocol/envelope.js';
import type { Logger } from '../../protocol/logger.js';
import type { NodeTable } from '../node-table.js';
import type { RecordSink, Ticket } from '../record-sink.js';
import type { RemoteRoutes } from '../router.js';
import { InboundSession, type InboundHost, type InboundStats } from './inbound-session.js';
import { LinkServer } from './link-server.js';
import { DEFAULT_TIMINGS, type LinkStats, type LinkTimings } from './link-contract.js';
import { PeerLink } from './peer-link.js';

export interface LinkOptions extends Partial<LinkTimings> {
  /** 'host:port' to listen on for peers (port 0: any). */
  listen?: string;
  /** 'host:port' peers should dial (default: the listen address), e.g. behind a proxy or NAT. */
  advertise?: string;
  secret: string;
  /** TLS with mutual authentication for the links, both ways (tls.ts). */
  tls?: TlsMaterial | undefined;
  /** Bounds on inbound connections (handshake deadline, counts, frame size before it, buffered bytes). */
  admission?: Partial<AdmissionOptions>;
}

export interface LinkTableHost {
  readonly agentId: string;
  readonly epoch: number;
  readonly nodes: NodeTable;
  readonly log: Logger;
  round(fn: () => void): void;
  /** A local instance's game, for announcing it to peers. */
  gameOf(localId: number): string | null;
  /** A local instance's own sink (bounces of its messages). */
  ownSink(localId: number): RecordSink | undefined;
  /** The local sink for a record from a peer (Router.inbound). */
  destination(epoch: number, localId: number, game: string): RecordSink | BounceReason;
}

const key = (node: number, local: number): number => node * 0x1_0000_0000 + local;

export class LinkTable implements RemoteRoutes, InboundHost {
  readonly secret: string;
  private readonly links = new Map<number, PeerLink>();
  private readonly sessions = new Map<number, InboundSession>();
  private readonly addresses = new Map<number, string>();
  /** Game of each remote instance we may send to. */
  private readonly games = new Map<number, string>();
  private advertised = '';
  private readonly timings: LinkTimings;
  private server: LinkServer | undefined;
  private sweep: NodeJS.Timeout | undefined;
  lostBounces = 0;

  constructor(private readonly host: LinkTableHost, private readonly options: LinkOptions) {
    this.secret = options.secret;
    this.timings = { ...DEFAULT_TIMINGS, ...Object.fromEntries(Object.entries(options).filter(([k, v]) => k in DEFAULT_TIMINGS && v !== undefined)) };
  }

  get epoch(): number {
    return this.host.epoch;
  }

  /** Start listening when asked to; returns the address to advertise ('' if none). */
  async listen(): Promise<string> {
    if (!this.options.listen) return '';
    const i = this.options.listen.lastIndexOf(':');
    const host = i < 0 ? '127.0.0.1' : this.options.listen.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
    const port = Number(i < 0 ? this.options.listen : this.options.listen.slice(i + 1));
    const server = new LinkServer({
      agentId: this.host.agentId,
      epoch: this.host.epoch,
      secret: this.secret,
      tls: this.options.tls,
      advertised: () => this.advertised,
      log: this.host.log,
      session: (agentId, epoch) => this.session(agentId, epoch),
      learnAddress: (agentId, epoch, address) => {
        const node = this.host.nodes.nodeOf(agentId, epoch);
        if (address && !this.addresses.has(node)) this.addresses.set(node, address);
      },
      round: (fn) => this.host.round(fn),
    }, { deadMs: this.timings.deadMs, admission: this.options.admission });
    this.server = server;
    const bound = await server.listen(host, port);
    this.advertised = this.options.advertise ?? bound;
    this.sweep = setInterval(() => this.sweepSessions(), 1000);
    this.sweep.unref();
    return this.advertised;
  }

  /** The real listening address (may differ from the advertised one). */
  get listening(): string {
    return this.server?.address ?? '';
  }

  private session(agentId: string, epoch: number): InboundSession {
    const node = this.host.nodes.nodeOf(agentId, epoch);
    let s = this.sessions.get(node);
    if (s) return s;
    s = new InboundSession(agentId, epoch, node, this);
    this.sessions.set(node, s);
    // an earlier incarnation of that agent is gone: end its unfinished messages
    for (const [n, old] of this.sessions) {
      if (old.peer !== agentId || old.epoch === epoch) continue;
      this.host.round(() => old.abortOpen());
      if (old.held === 0) this.sessions.delete(n);
    }
    return s;
  }

  /** Sessions disconnected past twice the down budget: their unfinished messages are ended. */
  private sweepSessions(): void {
    const now = performance.now();
    for (const [node, s] of this.sessions) {
      if (s.stats.connected) {
        s.disconnectedAt = 0;
        continue;
      }
      if (!s.disconnectedAt) s.disconnectedAt = now;
      if (s.unfinished > 0 && now - s.disconnectedAt > 2 * this.timings.budgetMs) this.host.round(() => s.abortOpen());
      if (s.idle && now - s.disconnectedAt > this.timings.idleMs) this.sessions.delete(node);
    }
  }

  /** Learn from a registry record: where its agent listens, which game it is in. */
  learn(r: InstanceRecord, node: number): void {
    if (node === 0) return;
    if (r.address) {
      // One incarnation listens at one address for life: the first one seen is
      // kept, and a link is only up once the peer proved itself there.
      const known = this.addresses.get(node);
      if (known === undefined) this.addresses.set(node, r.address);
      else if (known !== r.address) this.host.log.warn(`record of ${r.agentId} (incarnation ${r.epoch}) names ${r.address}, but it is at ${known}: ignored`, { peer: r.agentId });
    }
    this.games.set(key(node, r.localId), r.gameId);
  }

  // ---------------------------------------------------------------- RemoteRoutes

  sinkFor(node: number, local: number, game: string): RecordSink | BounceReason {
    const known = this.games.get(key(node, local));
    if (known === undefined) return BounceReason.NO_ROUTE; // never seen in a registry record
    if (known !== game) return BounceReason.CROSS_GAME;
    return this.linkFor(node) ?? BounceReason.NO_ROUTE;
  }

  private linkFor(node: number): PeerLink | undefined {
    let link = this.links.get(node);
    if (link) return link;
    const peer = this.host.nodes.agentOf(node);
    const address = this.addresses.get(node);
    if (!peer || !address) return undefined;
    link = new PeerLink({ ...peer, node }, address, {
      agentId: this.host.agentId,
      epoch: this.host.epoch,
      secret: this.secret,
      tls: this.options.tls,
      address: this.advertised,
      log: this.host.log,
      gameOf: (local) => this.host.gameOf(local),
      round: (fn) => this.host.round(fn),
      retired: (l) => this.host.log.info(`peer ${l.peer.agentId} incarnation ${l.peer.epoch} is gone`, { peer: l.peer.agentId }),
    }, this.timings);
    this.links.set(node, link);
    return link;
  }

  // ---------------------------------------------------------------- InboundHost

  destination(epoch: number, localId: number, game: string): RecordSink | BounceReason {
    return this.host.destination(epoch, localId, game);
  }

  ownSink(localId: number): RecordSink | undefined {
    return this.host.ownSink(localId);
  }

  learnSource(peerNode: number, local: number, game: string): void {
    this.games.set(key(peerNode, local), game);
  }

  refusedByPeer(peerNode: number, seq: number, reason: BounceReason): boolean {
    return this.links.get(peerNode)?.refuse(seq, reason) ?? false;
  }

  sendBack(peerNode: number, type: number, record: Uint8Array, ticket: Ticket): void {
    const link = this.linkFor(peerNode);
    if (!link) {
      this.lostBounces++;
      this.host.log.warn(`no route back to node ${peerNode} (${this.host.nodes.agentOf(peerNode)?.agentId ?? '?'}): a bounce is lost`);
      ticket.refuse(BounceReason.OFFLINE, type, record, peerNode, 0);
      return;
    }
    link.sendBack(type, record, ticket);
  }

  ackSoon(session: InboundSession): void {
    this.server?.ackSoon(session);
  }

  get log(): Logger {
    return this.host.log;
  }

  round(fn: () => void): void {
    this.host.round(fn);
  }

  /** A message from remote `node` that had reached a ring here was not read: bounce it back (link form record). */
  lateBounce(node: number, type: number, record: Uint8Array, ticket: Ticket): void {
    this.sendBack(node, type, record, ticket);
  }

  /** Test hook: cut every link, ours and the peers' to us; ours stay away for `ms`. */
  cut(ms: number): void {
    for (const l of this.links.values()) l.cut(ms);
    this.server?.cutAll();
  }

  status(): { address: string; listening: string; out: LinkStats[]; in: InboundStats[]; lostBounces: number; admission: AdmissionStats | undefined } {
    return {
      address: this.advertised,
      listening: this.listening,
      admission: this.server?.admissionStats(),
      out: [...this.links.values()].map((l) => l.snapshot()),
      in: [...this.sessions.values()].map((s) => ({ ...s.stats })),
      lostBounces: this.lostBounces,
    };
  }

  /** Wait (up to `ms`) until every link has settled what it holds. */
  async drain(ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (performance.now() < end && [...this.links.values()].some((l) => !l.drained && l.state !== 'failed' && l.state !== 'retired')) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    for (const l of this.links.values()) l.close();
    await this.server?.close();
  }
}
