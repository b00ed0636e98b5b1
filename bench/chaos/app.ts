/**
 * The chaos app fixture: one real app process, started by the harness with
 * its configuration as a JSON argument (AppConfig), driven by JSON command
 * lines on stdin (AppCommand), answering with JSON event lines on stdout
 * (AppEvent). It exits when stdin closes (the harness went away).
 *
 * It connects to its agent (retrying until the agent is there), creates its
 * instances (senders watch every receiver service) and, when told, sends.
 * Everything the accounting needs goes to its log file (EventLog, wire.ts),
 * never to stdout, so it survives a SIGKILL.
 *
 * An instance that ends without being told to (failed to resume after an
 * agent restart, say) is created again a second later as a new generation;
 * one kicked by a replacement is not (its name lives elsewhere now).
 */
import { createInterface } from 'node:readline';
import { firstValueFrom } from 'rxjs';
import { connect, type Instance, type InstanceRef, type Mesh } from '../../lib/index.js';
import { Receiver } from './app-receiver.js';
import { Sender } from './app-sender.js';
import { EventLog } from './event-log.js';
import { Prng, deriveSeed } from './prng.js';
import {
  GAME, GAME_KEY, RECEIVER_PATTERN, addr, agentIndexOf, receiverKey, receiverService, receiverUserData, senderKey, senderService, senderUserData,
} from './wire.js';

export interface InstanceSpec {
  role: 'send' | 'recv';
  /** Global index of the sender or receiver (its name: s<k> / r<k>). */
  index: number;
  /** Agent index its service is named after. */
  home: number;
  conflict: 'reject' | 'replace';
  /** Sender: messages per second while traffic is on. */
  rate?: number;
}

export interface AppConfig {
  app: number;
  inc: number;
  seed: number;
  socket: string;
  log: string;
  /** Date.now() at the start of the run (log times are relative to it). */
  t0: number;
  traffic: boolean;
  instances: InstanceSpec[];
  requestTimeoutMs: number;
}

export type AppCommand =
  | { op: 'traffic'; on: boolean }
  | { op: 'create'; spec: InstanceSpec }
  | { op: 'close'; role: 'send' | 'recv'; index: number; recreateAfterMs: number }
  | { op: 'pause'; index: number; ms: number }
  | { op: 'slow'; index: number; ms: number; perMsgMs: number }
  | { op: 'flood'; sender: number; target: number; ms: number };

export type AppEvent =
  | { ev: 'ready' }
  | { ev: 'online'; role: 'send' | 'recv'; index: number; key: string; addr: string }
  | { ev: 'ended'; role: 'send' | 'recv'; index: number; key: string; why: string }
  | { ev: 'error'; text: string };

interface Entry {
  spec: InstanceSpec;
  key: string;
  inst: Instance;
  sender?: Sender;
  receiver?: Receiver;
  why?: 'closed' | 'kicked';
  /** It went online (a startup that failed is retried by create(), not by ended()). */
  up?: boolean;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as AppConfig;
const log = new EventLog(cfg.log, cfg.t0);
const emit = (e: AppEvent): void => void process.stdout.write(`${JSON.stringify(e)}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const rng = new Prng(deriveSeed(cfg.seed, cfg.app, cfg.inc));
const live = new Map<string, Entry>();
const generations = new Map<string, number>();
let traffic = cfg.traffic;
let mesh: Mesh;

const slot = (role: string, index: number): string => `${role}${index}`;

function nextGen(role: string, index: number): number {
  const g = generations.get(slot(role, index)) ?? 0;
  generations.set(slot(role, index), g + 1);
  return g;
}

async function connectWithRetry(): Promise<Mesh> {
  for (let delay = 100; ; delay = Math.min(1000, delay * 2)) {
    try {
      return await connect({ gameId: GAME, password: GAME_KEY, agent: cfg.socket });
    } catch (err) {
      log.line('L', `connect failed: ${(err as Error).message}`);
      await sleep(delay);
    }
  }
}

/** Create `spec` as a new generation; retries a ConflictError (a dead holder's lease) for up to 20 s. */
async function create(spec: InstanceSpec): Promise<void> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const gen = nextGen(spec.role, spec.index);
    const key = spec.role === 'send' ? senderKey(cfg.app, cfg.inc, spec.index, gen) : receiverKey(cfg.app, cfg.inc, spec.index, gen);
    const service = spec.role === 'send' ? senderService(spec.home) : receiverService(spec.home);
    const userData = spec.role === 'send' ? senderUserData(spec.index) : receiverUserData(spec.index);
    const inst = mesh.instance(service, { userData, conflict: spec.conflict, ...(spec.role === 'send' ? { watch: [RECEIVER_PATTERN] } : {}) });
    const entry: Entry = { spec, key, inst };
    live.set(slot(spec.role, spec.index), entry);
    if (spec.role === 'send') {
      entry.sender = new Sender(inst, key, {
        app: cfg.app, inc: cfg.inc, index: spec.index, gen, rate: spec.rate ?? 100, requestTimeoutMs: cfg.requestTimeoutMs, maxRequests: 64,
      }, rng.fork(spec.index * 1000 + gen), log);
    } else {
      entry.receiver = new Receiver(inst, key, spec.index, log);
      entry.receiver.read();
    }
    inst.undeliverable$.subscribe({ complete: () => ended(entry) });
    inst.offline$.subscribe(({ instance, reason }) => {
      if (instance.id === `${service}/${userData}` && reason === 'replaced') entry.why ??= 'kicked';
    });
    let ref: InstanceRef;
    try {
      ref = await firstValueFrom(inst.startup$);
    } catch (err) {
      const code = (err as { code?: string }).code;
      log.line('L', `${key} startup failed: ${code} ${(err as Error).message}`);
      if (live.get(slot(spec.role, spec.index)) === entry) live.delete(slot(spec.role, spec.index));
      if ((code === 'CONFLICT' || code === 'AGENT_LOST') && performance.now() < deadline) {
        await sleep(250);
        continue;
      }
      emit({ ev: 'error', text: `${key}: startup failed: ${(err as Error).message}` });
      return;
    }
    entry.up = true;
    online(entry, ref);
    if (entry.sender) entry.sender.setTraffic(traffic);
    return;
  }
}

function online(entry: Entry, ref: InstanceRef): void {
  const a = addr(agentIndexOf(ref.agentId), ref.localId);
  entry.receiver?.online(ref);
  log.line('U', entry.key, ref.id, a);
  emit({ ev: 'online', role: entry.spec.role, index: entry.spec.index, key: entry.key, addr: a });
}

function ended(entry: Entry): void {
  const why = entry.why ?? 'failed';
  log.line('E', entry.key, why);
  entry.sender?.stop();
  entry.receiver?.stop();
  const s = slot(entry.spec.role, entry.spec.index);
  if (live.get(s) === entry) live.delete(s);
  if (!entry.up) return; // startup failed: create() retries
  emit({ ev: 'ended', role: entry.spec.role, index: entry.spec.index, key: entry.key, why });
  if (why === 'failed') setTimeout(() => void create(entry.spec), 1000);
}

async function command(c: AppCommand): Promise<void> {
  switch (c.op) {
    case 'traffic':
      traffic = c.on;
      for (const e of live.values()) e.sender?.setTraffic(c.on);
      return;
    case 'create':
      return create(c.spec);
    case 'close': {
      const e = live.get(slot(c.role, c.index));
      if (!e) return;
      e.why = 'closed';
      log.line('L', `${e.key} closing`);
      await e.inst.close();
      if (c.recreateAfterMs >= 0) {
        await sleep(c.recreateAfterMs);
        await create({ ...e.spec, conflict: 'reject' });
      }
      return;
    }
    case 'pause':
      return live.get(slot('recv', c.index))?.receiver?.pause(c.ms);
    case 'slow':
      return live.get(slot('recv', c.index))?.receiver?.slow(c.ms, c.perMsgMs);
    case 'flood':
      return live.get(slot('send', c.sender))?.sender?.setFlood(c.target, c.ms);
  }
}

async function main(): Promise<void> {
  log.line('L', `start app ${cfg.app} inc ${cfg.inc} pid ${process.pid}`);
  const lines = createInterface({ input: process.stdin });
  const queued: AppCommand[] = [];
  let ready = false;
  lines.on('line', (l) => {
    if (!l.trim()) return;
    const c = JSON.parse(l) as AppCommand;
    if (ready) void command(c).catch((err: Error) => emit({ ev: 'error', text: `${c.op}: ${err.message}` }));
    else queued.push(c);
  });
  lines.on('close', () => process.exit(0));
  mesh = await connectWithRetry();
  mesh.lost$.subscribe((err) => log.line('L', `agent lost: ${err.message}`));
  mesh.reconnected$.subscribe(() => {
    log.line('L', 'agent reconnected');
    for (const e of live.values()) if (e.inst.ref) online(e, e.inst.ref);
  });
  await Promise.all(cfg.instances.map((s) => create(s)));
  ready = true;
  emit({ ev: 'ready' });
  for (const c of queued.splice(0)) await command(c);
}

main().catch((err: Error) => {
  emit({ ev: 'error', text: `app ${cfg.app}: ${err.stack ?? err.message}` });
  process.exit(1);
});
