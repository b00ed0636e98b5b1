/**
 * The seed's sender: sends statelessly to `example.recv_server` instances
 * (round-robin) and prints which instance each message was routed to.
 *
 *   npx tsx samples/send_server.ts [--count 10] [--strategy round-robin|random] [--agent SOCKET]
 */
import { parseArgs } from 'node:util';
import { filter, firstValueFrom } from 'rxjs';
import { type StrategyName } from '../lib/index.js';
import { connectOrExplain } from './connect.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '10' },
    strategy: { type: 'string', default: 'round-robin' },
    game: { type: 'string', default: 'demo' },
    key: { type: 'string', default: process.env['RXMESH_KEY'] ?? 'demo-key' },
    agent: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: send_server.ts [--count N] [--strategy round-robin|random] [--game ID] [--key KEY] [--agent SOCKET]');
  process.exit(0);
}

const target = `${args.game}.recv_server.1.0`;
const mesh = await connectOrExplain({ gameId: args.game!, password: args.key!, ...(args.agent ? { agent: args.agent } : {}) });
const inst = mesh.instance(`${args.game}.send_server.1.0`, { userData: `send-${process.pid}`, watch: [target] });
await firstValueFrom(inst.startup$);
inst.undeliverable$.subscribe((u) => console.log(`undeliverable (${u.reason}): ${JSON.stringify(u.value())}`));
await firstValueFrom(inst.members$(target).pipe(filter((m) => m.length > 0)));
for (let i = 0; i < Number(args.count); i++) {
  const routed = inst.send(target, { seq: i, text: `hello ${i}` }, { strategy: args.strategy as StrategyName });
  console.log(`message ${i} -> ${routed?.id ?? 'no route'}`);
}
await new Promise((r) => setTimeout(r, 100)); // let the agent take the last batch before we leave
await mesh.close();
