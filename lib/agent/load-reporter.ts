/**
 * LoadReporter: tells apps how deep the queues of this agent's instances are,
 * so their clients can route `least-loaded`. An instance's depth is the bytes
 * waiting for it: unread in its rx ring plus staged in the agent.
 *
 * It sends ControlMessage.LOAD to every app connection that hosts an instance
 * of the same game (game isolation: nothing about other games), with only the
 * depths that changed since the last report; a connection it has not reported
 * to yet gets every depth of its game. It polls at most every INTERVAL_MS and
 * only while data moves: the RingPump pokes it on every round with work, and
 * it keeps polling while depths still change (apps draining their rings do
 * not wake the agent). When nothing changes it stops, so an idle agent stays
 * idle.
 */
import { ControlMessage } from '../protocol/control-messages.js';
import type { LoadItem, LoadReport } from '../protocol/control-bodies.js';
import type { LocalInstance } from './local-instance.js';

const INTERVAL_MS = 100;

export class LoadReporter {
  private timer: NodeJS.Timeout | undefined;
  private readonly last = new Map<number, number>();
  private readonly informed = new Set<number>();
  private stopped = false;

  constructor(
    private readonly instances: ReadonlyMap<number, LocalInstance>,
    private readonly notify: (clientId: number, type: number, body: unknown) => void,
  ) {}

  /** Data moved: report within INTERVAL_MS. */
  poke(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => this.tick(), INTERVAL_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    this.timer = undefined;
    const all = new Map<string, LoadItem[]>();
    const changed = new Map<string, LoadItem[]>();
    const clients = new Map<number, string>();
    for (const [localId, inst] of this.instances) {
      if (inst.state !== 'online') continue;
      const item = { node: 0, localId, depth: inst.rx.stats().depth + inst.sink.queued };
      clients.set(inst.clientId, inst.gameId);
      push(all, inst.gameId, item);
      if (this.last.get(localId) !== item.depth) push(changed, inst.gameId, item);
      this.last.set(localId, item.depth);
    }
    for (const localId of this.last.keys()) if (this.instances.get(localId)?.state !== 'online') this.last.delete(localId);
    for (const clientId of this.informed) if (!clients.has(clientId)) this.informed.delete(clientId);
    for (const [clientId, game] of clients) {
      const items = this.informed.has(clientId) ? changed.get(game) : all.get(game);
      this.informed.add(clientId);
      if (items?.length) this.notify(clientId, ControlMessage.LOAD, { items } satisfies LoadReport);
    }
    if (changed.size > 0) this.poke();
  }
}

function push(m: Map<string, LoadItem[]>, key: string, item: LoadItem): void {
  const list = m.get(key);
  if (list) list.push(item);
  else m.set(key, [item]);
}
