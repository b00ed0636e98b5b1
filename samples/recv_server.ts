/**
 * The seed's receiver: an instance of `example.recv_server.1.0` that prints
 * every message it gets, and who sent it.
 *
 *   npx tsx samples/recv_server.ts --id 1 [--agent SOCKET]
 */
import { parseArgs } from 'node:util';
import { concatMap, firstValueFrom } from 'rxjs';
import { connectOrExplain } from './connect.js';

const { values: args } = parseArgs({
  options: {
    id: { type: 'string', default: '1' },
    game: { type: 'string', default: 'demo' },
    key: { type: 'string', default: process.env['RXMESH_KEY'] ?? 'demo-key' },
    agent: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('usage: recv_server.ts [--id N] [--game ID] [--key KEY] [--agent SOCKET]');
  process.exit(0);
}

const mesh = await connectOrExplain({ gameId: args.game!, password: args.key!, ...(args.agent ? { agent: args.agent } : {}) });
const inst = mesh.instance(`${args.game}.recv_server.1.0`, { userData: `recv-${args.id}` });
const me = await firstValueFrom(inst.startup$);
console.log(`${me.id} online`);
inst.messages$
  .pipe(concatMap(async (msg) => ({ value: msg.value(), from: await inst.resolve(msg.from) }))) // the sender's name, from the agent
  .subscribe(({ value, from }) => console.log(`${me.id} got ${JSON.stringify(value)} from ${from.id}`));
process.once('SIGINT', () => void mesh.close().then(() => process.exit(0)));
process.once('SIGTERM', () => void mesh.close().then(() => process.exit(0)));
