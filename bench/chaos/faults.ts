/**
 * The faults of the chaos bench, and their seeded schedule.
 *
 * planFaults draws the whole schedule up front (kind, time, targets,
 * durations) from the run's Prng, so `--verbose` can print it and a seed
 * replays it. Targets are indices (agent, app slot, receiver, sender)
 * resolved when the fault fires (a receiver may have moved by then). A fault
 * whose target is busy with another fault, or gone, is skipped and says so.
 * Each fault undoes itself (restart, SIGCONT, resume, recreate) before it
 * resolves, so the settle phase starts from a whole cluster.
 */
import type { Cluster } from './cluster.js';
import type { Prng } from './prng.js';
import { AGENT_LETTERS } from './wire.js';

export const FAULT_KINDS = ['kill-agent', 'kill-app', 'reset-link', 'stall-link', 'stop-agent', 'close', 'replace', 'stop-reading'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  /** ms after traffic starts. */
  at: number;
  agent: number;
  slot: number;
  /** A second slot (replace: the app that takes the name over). */
  other: number;
  receiver: number;
  sender: number;
  /** close: which side is closed. */
  side: 'recv' | 'send';
  /** How long the fault lasts (down time, pause, stall). */
  ms: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The schedule for a run of `durationMs`: faults 1-3 s apart, none in the first or last second. */
export function planFaults(rng: Prng, kinds: readonly FaultKind[], durationMs: number, shape: { apps: number; senders: number; receivers: number }): Fault[] {
  const out: Fault[] = [];
  if (kinds.length === 0) return out;
  for (let at = rng.range(800, 2000); at < durationMs - 1000; at += rng.range(1000, 3000)) {
    const kind = rng.pick(kinds);
    const slot = rng.int(0, shape.apps - 1);
    const ms = kind === 'kill-agent' ? rng.int(300, 2000)
      : kind === 'kill-app' ? rng.int(200, 1500)
      : kind === 'stop-reading' ? rng.int(1000, 4000)
      : kind === 'stall-link' || kind === 'stop-agent' ? 3000
      : kind === 'close' ? rng.int(500, 1500) : 0;
    out.push({
      kind, at: Math.round(at), ms, slot,
      agent: rng.int(0, AGENT_LETTERS.length - 1),
      other: (slot + rng.int(1, shape.apps - 1)) % shape.apps,
      receiver: rng.int(0, shape.receivers - 1),
      sender: rng.int(0, shape.senders - 1),
      side: rng.chance(0.5) ? 'recv' : 'send',
    });
  }
  return out;
}

export function describeFault(f: Fault): string {
  const agent = `agent ${AGENT_LETTERS[f.agent]}`;
  switch (f.kind) {
    case 'kill-agent': return `SIGKILL ${agent}, restart after ${f.ms} ms`;
    case 'kill-app': return `SIGKILL app ${f.slot}, restart after ${f.ms} ms`;
    case 'reset-link': return `reset the links to ${agent}`;
    case 'stall-link': return `stall the links to ${agent} for ${f.ms} ms`;
    case 'stop-agent': return `SIGSTOP ${agent} for ${f.ms} ms`;
    case 'close': return f.side === 'recv'
      ? `close receiver r${f.receiver} with a backlog (slow, flooded by s${f.sender}), recreate after ${f.ms} ms`
      : `close sender s${f.sender} blocked on slow r${f.receiver}, recreate after ${f.ms} ms`;
    case 'replace': return `replace receiver r${f.receiver} from app ${f.other} (or the next app that does not host it)`;
    case 'stop-reading': return `receiver r${f.receiver} stops reading for ${f.ms} ms`;
  }
}

/** Targets each running fault holds, so two faults do not pull the same lever at once. */
const busy = new Set<string>();

async function holding<T>(targets: string[], fn: () => Promise<T>): Promise<T | 'busy'> {
  if (targets.some((t) => busy.has(t))) return 'busy';
  for (const t of targets) busy.add(t);
  try {
    return await fn();
  } finally {
    for (const t of targets) busy.delete(t);
  }
}

/** Run one fault to its end (including its undo). Returns what happened, for the verbose log. */
export async function runFault(f: Fault, c: Cluster): Promise<string> {
  const proxy = c.proxies[f.agent];
  const r = await (async (): Promise<string | 'busy'> => {
    switch (f.kind) {
      case 'kill-agent':
        return holding([`agent${f.agent}`], async () => {
          await c.killAgent(f.agent);
          await sleep(f.ms);
          await c.startAgent(f.agent);
          return 'done';
        });
      case 'stop-agent':
        return holding([`agent${f.agent}`], async () => {
          c.agents[f.agent]!.signal('SIGSTOP');
          await sleep(f.ms);
          c.agents[f.agent]!.signal('SIGCONT');
          return 'done';
        });
      case 'reset-link':
        if (proxy) {
          proxy.reset();
          return 'done';
        }
        // no proxy (the agent lacks --advertise): the agent's own test hook cuts its links for 1 s
        c.agents[f.agent]!.signal('SIGUSR2');
        return 'done (SIGUSR2: no proxy)';
      case 'stall-link':
        if (!proxy) return 'skipped: no proxy (agent lacks --advertise)';
        return holding([`proxy${f.agent}`], async () => {
          await proxy.stall(f.ms);
          return 'done';
        });
      case 'kill-app':
        return holding([`app${f.slot}`], async () => {
          await c.killApp(f.slot);
          await sleep(f.ms);
          await c.startApp(f.slot);
          return 'done';
        });
      case 'stop-reading': {
        const host = c.hostOf('recv', f.receiver);
        if (!host?.proc?.running) return 'skipped: receiver not hosted by a running app';
        return holding([`app${host.slot}`, `r${f.receiver}`], async () => {
          host.proc!.send({ op: 'pause', index: f.receiver, ms: f.ms });
          await sleep(f.ms + 200);
          return 'done';
        });
      }
      case 'replace': {
        const from = c.hostOf('recv', f.receiver);
        let to = c.slots[f.other]!;
        if (to === from) to = c.slots[(f.other + 1) % c.slots.length]!;
        if (!from || !to.proc?.running) return 'skipped: no running app to take it over';
        return holding([`app${from.slot}`, `app${to.slot}`, `r${f.receiver}`], async () => {
          const spec = from.instances.find((i) => i.role === 'recv' && i.index === f.receiver)!;
          from.instances = from.instances.filter((i) => i !== spec);
          const moved = { ...spec, conflict: 'replace' as const };
          to.instances.push(moved);
          to.proc!.send({ op: 'create', spec: moved });
          await sleep(1000);
          return `done (app ${from.slot} -> app ${to.slot})`;
        });
      }
      case 'close':
        return closeWithBacklog(f, c);
    }
  })();
  return r === 'busy' ? 'skipped: target busy with another fault' : r;
}

/**
 * Make a backlog, then close into it: receiver r is made slow (its app blocks
 * 3 ms per message to it) and sender s floods it, so r's ring fills and s
 * ends up blocked; 1.5 s later either r (unread messages in its ring) or s
 * (messages queued behind a full ring) is closed, and recreated f.ms later.
 */
async function closeWithBacklog(f: Fault, c: Cluster): Promise<string> {
  const rHost = c.hostOf('recv', f.receiver);
  const sHost = c.hostOf('send', f.sender);
  if (!rHost?.proc?.running || !sHost?.proc?.running) return 'skipped: receiver or sender not running';
  const r = await holding([`app${rHost.slot}`, `app${sHost.slot}`, `r${f.receiver}`, `s${f.sender}`], async () => {
    const burst = 1500 + f.ms + 1000;
    rHost.proc!.send({ op: 'slow', index: f.receiver, ms: burst, perMsgMs: 3 });
    sHost.proc!.send({ op: 'flood', sender: f.sender, target: f.receiver, ms: burst });
    await sleep(1500);
    const host = f.side === 'recv' ? rHost : sHost;
    host.proc!.send({ op: 'close', role: f.side, index: f.side === 'recv' ? f.receiver : f.sender, recreateAfterMs: f.ms });
    await sleep(f.ms + 1000);
    return 'done';
  });
  return r;
}
