/**
 * The classic ping-pong with the routing operators: `--is_ping` sends the
 * even sequence numbers as requests (`request`), pong answers each with the
 * next number (`reply`), up to --max_seq. Ping prints the round-trip p50/p99.
 *
 *   npx tsx samples/pingpong.ts            # the pong side
 *   npx tsx samples/pingpong.ts --is_ping  # the ping side
 */
import { parseArgs } from 'node:util';
import { concatMap, defer, filter, firstValueFrom, lastValueFrom, map, of, range, take, toArray } from 'rxjs';
import { reply, request } from '../lib/index.js';
import { connectOrExplain } from './connect.js';

const { values: args } = parseArgs({
  options: {
    is_ping: { type: 'boolean', default: false }, max_seq: { type: 'string', default: '10000' }, game: { type: 'string', default: 'demo' },
    key: { type: 'string', default: process.env['RXMESH_KEY'] ?? 'demo-key' }, agent: { type: 'string' }, help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: pingpong.ts [--is_ping] [--max_seq N] [--game ID] [--key KEY] [--agent SOCKET]');
  process.exit(0);
}
const rounds = Math.ceil(Number(args.max_seq) / 2);
const service = `${args.game}.pingpong.1.0`;
const mesh = await connectOrExplain({ gameId: args.game!, password: args.key!, ...(args.agent ? { agent: args.agent } : {}) });
const inst = mesh.instance(service, { userData: args.is_ping ? 'ping' : 'pong', watch: [service] });
await firstValueFrom(inst.startup$);

if (args.is_ping) {
  const pong = await firstValueFrom(inst.members$(service).pipe(map((m) => m.find((r) => r.userData === 'pong')), filter((r) => r !== undefined)));
  const rtts = await lastValueFrom(range(0, rounds).pipe(
    concatMap((i) => defer(() => {
      const t0 = process.hrtime.bigint();
      return of(2 * i).pipe(request(inst, pong), map(() => Number(process.hrtime.bigint() - t0) / 1000));
    })),
    toArray(),
  ));
  rtts.sort((a, b) => a - b);
  const q = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))]!.toFixed(1);
  console.log(`pingpong: ${rtts.length} round trips, rtt p50 ${q(0.5)} us p99 ${q(0.99)} us`);
} else {
  await lastValueFrom(inst.messages$.pipe(reply((m) => m.value<number>() + 1), take(rounds)));
  console.log(`pingpong: pong reached seq ${2 * rounds - 1}`);
}
await mesh.close();
