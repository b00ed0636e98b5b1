/**
 * Part 1 of bench/compare.ts: round trips, one message in flight, for each
 * system a requester child and a replier child (compare-procs.ts places them):
 *
 *   rxmesh request/reply  mesh-app.ts `request` (await inst.request) → `pong` (msg.reply)
 *   rxmesh raw            mesh-app.ts `ping` (sendTo) → `pong` (msg.reply(msg.data)), the same two apps
 *   Unix socket           socket-pingpong.ts ping → pong, length-prefixed frames
 *   NATS                  nats-app.ts `ping` (nc.request) → `pong` (m.respond) through nats-server
 *   ZeroMQ                zmq-app.ts REQ → REP over ipc://
 *
 * Each pair first makes one whole untimed run (startup transients: JIT,
 * background compilation, GC), then the pairs take turns, `reps` runs each;
 * the result is the median of the runs' p50s and of their p99s.
 */
import type { Procs } from './compare-procs.js';
import { median, type AppReady, type Channel, type PingArg, type RttResult, type SocketPingArg } from './mesh-ipc.js';

export const RTT_SYSTEMS = ['rxmesh request/reply', 'rxmesh request/reply, no reply poll', 'rxmesh raw (sendTo/reply)', 'Unix socket', 'NATS request/reply', 'ZeroMQ REQ/REP'] as const;
export type RttSystem = (typeof RTT_SYSTEMS)[number];

export interface RttOptions {
  count: number;
  warmup: number;
  size: number;
  reps: number;
  log(line: string): void;
}

export interface RttRow {
  system: RttSystem;
  p50: number;
  p99: number;
}

/** One system's way to make a run of round trips. */
interface Pair {
  system: RttSystem;
  run(): Promise<RttResult>;
}

export async function measureRtt(procs: Procs, agentSocket: string, natsUrl: string, o: RttOptions): Promise<RttRow[]> {
  const started: Channel[] = [];
  /** A requester and its replier; `serve` is the replier's command that starts answering, if it needs one. */
  const pairOf = async <R>(label: string, script: string, args: (role: string) => string[], serve?: string) => {
    const replier = procs.child<R>(`${label} replier`, script, args('pong'), 'replier');
    started.push(replier);
    const ready = await replier.ready;
    if (serve) await replier.call(serve);
    const requester = procs.child<R>(`${label} requester`, script, args('ping'), 'requester');
    started.push(requester);
    await requester.ready;
    return { requester, ready };
  };
  try {
    const arg: SocketPingArg = { count: o.count, warmup: o.warmup, size: o.size };
    const mesh = await pairOf<AppReady>('rxmesh', 'mesh-app.ts', (role) => [agentSocket, role], 'pong');
    const meshArg: PingArg = { ...arg, to: mesh.ready.ref };
    // the same replier; a requester that parks at once while it waits for a reply (connect's replySpinUs 0)
    const parker = procs.child<AppReady>('rxmesh parking requester', 'mesh-app.ts', [agentSocket, 'ping-parking', '--reply-spin-us', '0'], 'requester');
    started.push(parker);
    await parker.ready;
    const sock = await pairOf('socket', 'socket-pingpong.ts', (role) => [role, procs.path('pingpong.sock')]);
    const nats = await pairOf('nats', 'nats-app.ts', () => [natsUrl], 'pong');
    const zmq = await pairOf('zmq', 'zmq-app.ts', () => [procs.root], 'pong');
    const pairs: Pair[] = [
      { system: 'rxmesh request/reply', run: () => mesh.requester.call('request', meshArg) },
      { system: 'rxmesh raw (sendTo/reply)', run: () => mesh.requester.call('ping', meshArg) },
      { system: 'rxmesh request/reply, no reply poll', run: () => parker.call('request', meshArg) },
      { system: 'Unix socket', run: () => sock.requester.call('ping', arg) },
      { system: 'NATS request/reply', run: () => nats.requester.call('ping', arg) },
      { system: 'ZeroMQ REQ/REP', run: () => zmq.requester.call('ping', arg) },
    ];
    for (const p of pairs) {
      const r = await p.run();
      o.log(`  rtt warm-up ${p.system}: p50 ${r.p50.toFixed(1)} us`);
    }
    const runs = pairs.map((): RttResult[] => []);
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const [i, p] of pairs.entries()) {
        const r = await p.run();
        runs[i]!.push(r);
        o.log(`  rtt run ${rep} ${p.system}: p50 ${r.p50.toFixed(1)} us, p99 ${r.p99.toFixed(1)} us, max ${r.max.toFixed(0)} us`);
      }
    }
    return pairs.map((p, i) => ({ system: p.system, p50: median(runs[i]!.map((r) => r.p50)), p99: median(runs[i]!.map((r) => r.p99)) }));
  } finally {
    await Promise.allSettled(started.map((c) => c.stop()));
  }
}
