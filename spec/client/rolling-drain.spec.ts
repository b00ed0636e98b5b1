/**
 * Rolling restarts under steady request traffic: three scene processes
 * (fixtures/scene.ts) behind one agent, a gateway here sending requests to
 * the service through the public API with several in flight, and one scene at
 * a time restarted. With drain: not one request fails, every one is answered
 * exactly once, and each restarted scene takes traffic. With a plain close,
 * the same run loses requests (the spec can fail).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Instance, Mesh } from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

const SVC = 'g.scene.1.0';
const SCENES = ['a', 'b', 'c'];
const IN_FLIGHT = 8;
const HANDLER_MS = 5;
const TIMEOUT_MS = 3000;

let up: MeshProcess;
let mesh: Mesh;
let gw: Instance;

interface Scene {
  userData: string;
  f: Fixture;
  pid: number;
}

/** Start a scene process and wait until the gateway routes to it. */
async function startScene(userData: string): Promise<Scene> {
  const f = startFixture('spec/helpers/fixtures/scene.ts', [up.socket, SVC, userData, String(HANDLER_MS)]);
  await f.waitFor('started');
  await next(gw.members$(SVC), (refs) => refs.some((r) => r.userData === userData));
  return { userData, f, pid: f.pid };
}

/** Tell a scene to leave (`drain` or `close`); its count of requests answered once it exited. */
async function stopScene(s: Scene, how: 'drain' | 'close'): Promise<number> {
  s.f.child.stdin!.write(`${how}\n`);
  const exit = await s.f.exited;
  assert.is(exit.code, 0, `scene ${s.userData} exited cleanly: ${s.f.stderr}`);
  const line = s.f.stdout.split('\n').find((l) => l.startsWith('{'))!;
  return (JSON.parse(line) as { served: number }).served;
}

interface Traffic {
  sent: number;
  ok: number;
  failed: Map<string, number>;
  /** replies by scene process */
  byPid: Map<number, number>;
  stop(): Promise<void>;
}

/** IN_FLIGHT workers, each sending one request after another to the service until stopped. */
function traffic(): Traffic {
  const t: Traffic = { sent: 0, ok: 0, failed: new Map(), byPid: new Map(), stop: async () => {} };
  let running = true;
  const answered = new Set<number>();
  const worker = async (): Promise<void> => {
    while (running) {
      const seq = t.sent++;
      try {
        const m = await gw.request(SVC, seq, { timeoutMs: TIMEOUT_MS });
        const v = m.value<{ x: number; pid: number }>();
        assert.is(v.x, seq, 'the reply to this request');
        assert.not.ok(answered.has(seq), `request ${seq} answered twice`);
        answered.add(seq);
        t.ok++;
        t.byPid.set(v.pid, (t.byPid.get(v.pid) ?? 0) + 1);
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).message;
        t.failed.set(code, (t.failed.get(code) ?? 0) + 1);
      }
      await sleep(1);
    }
  };
  const workers = Array.from({ length: IN_FLIGHT }, worker);
  t.stop = async () => {
    running = false;
    await Promise.all(workers);
  };
  return t;
}

/** `restarts` rolling restarts (one scene at a time, `how`), under traffic; then every scene drained. */
async function rolling(how: 'drain' | 'close', restarts: number): Promise<{ t: Traffic; served: number; restarted: number[] }> {
  const scenes = await Promise.all(SCENES.map(startScene));
  const t = traffic();
  let served = 0;
  const restarted: number[] = [];
  await sleep(300);
  for (let r = 0; r < restarts; r++) {
    const i = r % scenes.length;
    served += await stopScene(scenes[i]!, how);
    scenes[i] = await startScene(SCENES[i]!);
    restarted.push(scenes[i]!.pid);
    await sleep(300); // steady traffic over all three
  }
  await until(() => restarted.every((pid) => (t.byPid.get(pid) ?? 0) > 0), 5000, 'every restarted scene answered something');
  await t.stop();
  for (const s of scenes) served += await stopScene(s, 'drain');
  return { t, served, restarted };
}

const Rolling = suite('mesh rolling drain');
Rolling.before(async () => {
  up = await startUp();
  mesh = await up.connect();
  gw = mesh.instance('g.gate.1.0', { userData: 'gw', watch: [SVC] });
  await next(gw.startup$);
});
Rolling.after(async () => {
  await mesh?.close();
  await up?.stop();
  cleanupShm();
});

Rolling('rolling - 6 restarts with drain under steady requests: none fails, each answered once, restarted scenes take traffic', async () => {
  const { t, served, restarted } = await rolling('drain', 6);
  console.log(`  drain: ${t.sent} requests, ${t.ok} answered, failed ${JSON.stringify(Object.fromEntries(t.failed))}, ${restarted.length} restarts`);
  assert.equal(Object.fromEntries(t.failed), {}, 'no request failed');
  assert.is(t.ok, t.sent, 'every request answered');
  assert.is(served, t.ok, 'the scenes answered each request once (no duplicate, no loss)');
  for (const pid of restarted) assert.ok((t.byPid.get(pid) ?? 0) > 0, `restarted scene ${pid} took traffic`);
});

Rolling('rolling - the same with a plain close instead of drain loses requests (the spec can fail)', async () => {
  const { t } = await rolling('close', 2);
  console.log(`  close: ${t.sent} requests, ${t.ok} answered, failed ${JSON.stringify(Object.fromEntries(t.failed))}`);
  const failed = [...t.failed.values()].reduce((a, b) => a + b, 0);
  assert.ok(failed >= 2, `a plain close drops the requests it holds (${failed} failed)`);
});

Rolling.run();
