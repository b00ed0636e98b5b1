/**
 * The classic ping-pong: two processes, `--is_ping` sends first, each side
 * adds one to the sequence number and sends it back, until --max_seq. The
 * ping side prints the round-trip p50/p99 and both exit 0.
 *
 *   npx tsx samples/pingpong.ts            # the pong side
 *   npx tsx samples/pingpong.ts --is_ping  # the ping side
 */
import { parseArgs } from 'node:util';
import { filter, firstValueFrom } from 'rxjs';
import { connect } from '../lib/index.js';

const { values: args } = parseArgs({
  options: {
    is_ping: { type: 'boolean', default: false },
    max_seq: { type: 'string', default: '10000' },
    game: { type: 'string', default: 'demo' },
    key: { type: 'string', default: process.env['RXMESH_KEY'] ?? 'demo-key' },
    agent: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: pingpong.ts [--is_ping] [--max_seq N] [--game ID] [--key KEY] [--agent SOCKET]');
  process.exit(0);
}

const maxSeq = Number(args.max_seq);
const service = `${args.game}.pingpong.1.0`;
const me = args.is_ping ? 'ping' : 'pong';
const mesh = await connect({ gameId: args.game!, password: args.key!, ...(args.agent ? { agent: args.agent } : {}) });
const inst = mesh.instance(service, { userData: me, watch: [service] });
await firstValueFrom(inst.startup$);

const rtts: number[] = [];
let sentAt = 0n;
const done = new Promise<void>((resolve) => {
  inst.messages$.subscribe((msg) => {
    const got = msg.value<number>();
    if (args.is_ping) rtts.push(Number(process.hrtime.bigint() - sentAt) / 1000);
    if (got >= maxSeq) return resolve(); // the other side finished the count
    sentAt = process.hrtime.bigint();
    msg.reply(got + 1);
    if (got + 1 >= maxSeq) resolve();
  });
});

if (args.is_ping) {
  const members = await firstValueFrom(inst.members$(service).pipe(filter((m) => m.some((r) => r.userData === 'pong'))));
  sentAt = process.hrtime.bigint();
  inst.sendTo(members.find((r) => r.userData === 'pong')!, 0);
}
await done;
if (args.is_ping) {
  rtts.sort((a, b) => a - b);
  const q = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))]!.toFixed(1);
  console.log(`pingpong: ${rtts.length} round trips, rtt p50 ${q(0.5)} us p99 ${q(0.99)} us`);
} else {
  console.log(`pingpong: pong reached seq ${maxSeq}`);
}
await mesh.close();
