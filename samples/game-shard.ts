/**
 * Game sharding: a gateway receives player commands and requests each from
 * the scene shard that owns its player (instances of `<game>.scene.1.0`) with
 * `shardRequest(player)`, a consistent hash. Scenes keep per-player state and
 * answer with `reply`. Then one scene
 * stops: only its players move to the other scenes; the sample prints how many.
 *
 *   npx tsx lib/cli/main.ts up &                    # an agent (demo game)
 *   npx tsx samples/game-shard.ts [--players 1000] [--scenes 3] [--agent SOCKET]
 */
import { parseArgs } from 'node:util';
import { filter, firstValueFrom, from, groupBy, lastValueFrom, mergeMap, toArray } from 'rxjs';
import { reply, shardRequest, type Instance, type Message } from '../lib/index.js';
import { connectOrExplain } from './connect.js';

const { values: args } = parseArgs({
  options: {
    players: { type: 'string', default: '1000' },
    scenes: { type: 'string', default: '3' },
    game: { type: 'string', default: 'demo' },
    key: { type: 'string', default: process.env['RXMESH_KEY'] ?? 'demo-key' },
    agent: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: game-shard.ts [--players N] [--scenes N] [--game ID] [--key KEY] [--agent SOCKET]');
  process.exit(0);
}

interface Command { id: number; player: string; op: 'move' | 'look' }
interface Result { id: number; player: string; scene: string; moves: number }

const SCENE = `${args.game}.scene.1.0`;
const opts = { gameId: args.game!, password: args.key!, ...(args.agent ? { agent: args.agent } : {}) };
const players = Array.from({ length: Number(args.players) }, (_, i) => `player-${i}`);

/** A scene: its own connection (a separate process in a real game). One service's
 * messages$ split by command kind with groupBy, each kind answered by `reply`. */
async function startScene(name: string) {
  const mesh = await connectOrExplain(opts);
  const scene = mesh.instance(SCENE, { userData: name });
  const moves = new Map<string, number>();
  const answer = (m: Message): Result => {
    const c = m.value<Command>();
    if (c.op === 'move') moves.set(c.player, (moves.get(c.player) ?? 0) + 1);
    return { id: c.id, player: c.player, scene: name, moves: moves.get(c.player) ?? 0 };
  };
  scene.messages$.pipe(groupBy((m) => m.value<Command>().op), mergeMap((kind$) => kind$.pipe(reply(answer)))).subscribe();
  await firstValueFrom(scene.startup$);
  return { name, mesh, scene };
}

const scenes = await Promise.all(Array.from({ length: Number(args.scenes) }, (_, i) => startScene(`scene-${i + 1}`)));
const mesh = await connectOrExplain(opts);
const gate: Instance = mesh.instance(`${args.game}.gate.1.0`, { userData: 'gateway', watch: [`${args.game}.scene.1.*`] });
await firstValueFrom(gate.startup$);
await firstValueFrom(gate.members$(SCENE).pipe(filter((m) => m.length === scenes.length)));

/** One command per player, requested from the scene that owns the player; resolves with each player's scene. */
async function round(op: Command['op']): Promise<Map<string, string>> {
  const cmds = players.map((player): Command => ({ id: nextId++, player, op }));
  const replies = await lastValueFrom(from(cmds).pipe(shardRequest(gate, SCENE, (c) => c.player, { concurrency: 64 }), toArray()));
  return new Map(replies.map((r) => [r.value<Result>().player, r.value<Result>().scene]));
}
let nextId = 0;

const before = await round('move');
const victim = scenes[1] ?? scenes[0]!;
const gone = firstValueFrom(gate.offline$.pipe(filter((o) => o.instance.userData === victim.name)));
await victim.mesh.close(); // the scene stops: the gateway sees it offline
await gone;
const after = await round('look');

const onVictim = players.filter((p) => before.get(p) === victim.name).length;
const moved = players.filter((p) => before.get(p) !== after.get(p));
const onlyVictims = moved.every((p) => before.get(p) === victim.name);
console.log(`game-shard: ${players.length} players on ${scenes.length} scenes; stopped ${victim.name} (${onVictim} players); ` +
  `${moved.length} players moved, all from ${victim.name}: ${onlyVictims}`);
await mesh.close();
for (const s of scenes) await s.mesh.close();
process.exitCode = onlyVictims && moved.length === onVictim ? 0 : 1;
