/**
 * The game-shard scenario against a real `rxmesh up`: a gateway shards 1000
 * players over 3 scenes with shardBy; one scene stops while commands are in
 * flight; only its players move, and every command gets exactly one reply or
 * one undeliverable report.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { firstValueFrom, from, toArray } from 'rxjs';
import { shardBy, type Instance, type Mesh, type Message } from '../../lib/index.js';
import { GAME, KEY, startUp, type MeshProcess } from '../helpers/mesh.js';
import { startFixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';

const SCENE = 'g.scene.1.0';
const PLAYERS = Array.from({ length: 1000 }, (_, i) => `player-${i}`);
interface Command { id: number; player: string }
interface Result { id: number; player: string; scene: string; moves: number }

let up: MeshProcess;
let gateMesh: Mesh;
let gate: Instance;
const scenes: { name: string; mesh: Mesh; inst: Instance }[] = [];
const replies = new Map<number, Result[]>();
const bounced = new Map<number, number>();
let nextId = 0;

const Shard = suite('game shard');
Shard.before(async () => {
  up = await startUp();
  for (const name of ['scene-1', 'scene-2', 'scene-3']) {
    const mesh = await up.connect(); // each scene on its own connection, as in its own process
    const inst = mesh.instance(SCENE, { userData: name });
    const moves = new Map<string, number>();
    // shardBy sends plain messages: each scene answers with a plain message back (msg.reply)
    inst.messages$.subscribe((m: Message) => {
      const c = m.value<Command>();
      moves.set(c.player, (moves.get(c.player) ?? 0) + 1);
      m.reply({ id: c.id, player: c.player, scene: name, moves: moves.get(c.player)! } satisfies Result);
    });
    scenes.push({ name, mesh, inst });
  }
  gateMesh = await up.connect();
  gate = gateMesh.instance('g.gate.1.0', { userData: 'gw', watch: ['g.scene.1.*'] });
  gate.messages$.subscribe((m) => {
    const r = m.value<Result>();
    replies.set(r.id, [...(replies.get(r.id) ?? []), r]);
  });
  gate.undeliverable$.subscribe((u) => {
    const id = u.value<Command>().id;
    bounced.set(id, (bounced.get(id) ?? 0) + 1);
  });
  for (const s of scenes) await next(s.inst.startup$);
  await next(gate.startup$);
  await next(gate.members$(SCENE), (m) => m.length === 3);
});
Shard.after(async () => {
  await gateMesh?.close();
  for (const s of scenes) await s.mesh.close();
  await up?.stop();
  cleanupShm();
});

/** One command per player; returns the commands and the scene each was routed to. */
async function round(): Promise<{ cmds: Command[]; owner: Map<string, string> }> {
  const cmds = PLAYERS.map((player) => ({ id: nextId++, player }));
  const refs = await firstValueFrom(from(cmds).pipe(shardBy(gate, SCENE, (c) => c.player), toArray()));
  assert.is(refs.length, cmds.length);
  return { cmds, owner: new Map(cmds.map((c, i) => [c.player, refs[i]!.userData])) };
}

const answered = (cmds: Command[]): boolean => cmds.every((c) => replies.has(c.id) || bounced.has(c.id));

function exactlyOnce(cmds: Command[]): void {
  for (const c of cmds) {
    const n = (replies.get(c.id)?.length ?? 0) + (bounced.get(c.id) ?? 0);
    assert.is(n, 1, `command ${c.id}: ${replies.get(c.id)?.length ?? 0} replies, ${bounced.get(c.id) ?? 0} undeliverable`);
  }
}

Shard('game shard - 1000 players across 3 scenes; a stopped scene moves only its players; one answer per command', async () => {
  const r1 = await round();
  await until(() => answered(r1.cmds), undefined, 'round 1 answered');
  exactlyOnce(r1.cmds);
  for (const c of r1.cmds) assert.is(replies.get(c.id)![0]!.scene, r1.owner.get(c.player), 'answered by the scene it was routed to');
  const counts = new Map<string, number>();
  for (const s of r1.owner.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
  assert.is(counts.size, 3, 'all scenes used');
  for (const [s, n] of counts) assert.ok(n > 150, `${s} got ${n} players`);

  // Round 2 is in flight while scene-2 stops: what it had not read comes back as undeliverable.
  const victim = scenes[1]!;
  const gone = next(gate.offline$, (o) => o.instance.userData === victim.name);
  const r2 = await round();
  await victim.mesh.close();
  await gone;
  await until(() => answered(r2.cmds), undefined, 'round 2 answered');
  exactlyOnce(r2.cmds);
  for (const c of r2.cmds) if (r1.owner.get(c.player) !== victim.name) assert.ok(replies.has(c.id), 'other scenes answer everything');

  const r3 = await round();
  await until(() => answered(r3.cmds), undefined, 'round 3 answered');
  exactlyOnce(r3.cmds);
  let moved = 0;
  for (const c of r3.cmds) {
    const was = r1.owner.get(c.player)!;
    const now = r3.owner.get(c.player)!;
    const res = replies.get(c.id)![0]!;
    assert.is(res.scene, now);
    if (was === victim.name) {
      moved++;
      assert.is.not(now, victim.name);
      assert.is(res.moves, 1, 'a moved player starts fresh on its new scene');
    } else {
      assert.is(now, was, `${c.player} stayed on ${was}`);
      assert.is(res.moves, 3, 'and kept its state');
    }
  }
  assert.is(moved, counts.get(victim.name), 'exactly the stopped scene\'s players moved');
});

Shard.run();

let sampleUp: MeshProcess;
const Sample = suite('game shard sample');
Sample.before(async () => {
  sampleUp = await startUp();
});
Sample.after(async () => {
  await sampleUp?.stop();
  cleanupShm();
});

Sample('game shard sample - runs and reports that only the stopped scene\'s players moved', async () => {
  const f = startFixture('samples/game-shard.ts', ['--agent', sampleUp.socket, '--game', GAME, '--key', KEY, '--players', '300']);
  const exit = await f.exited;
  assert.is(exit.code, 0, f.stderr);
  assert.match(f.stdout, /game-shard: 300 players on 3 scenes; stopped scene-2 \((\d+) players\); \1 players moved, all from scene-2: true/);
});

Sample.run();
