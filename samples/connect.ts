/**
 * How every sample connects: like `connect()`, but a sample that finds no
 * agent (or is refused) says so in one line and how to start one, instead of
 * dying with a stack trace.
 */
import { connect, MeshError, type ConnectOptions, type Mesh } from '../lib/index.js';

export async function connectOrExplain(options: ConnectOptions): Promise<Mesh> {
  try {
    return await connect(options);
  } catch (err) {
    if (!(err instanceof MeshError)) throw err;
    console.error(`${err.code}: ${err.message}`);
    if (err.code === 'AGENT_LOST') console.error('In this repository `npm start` runs the demo with its own agent, and `npx tsx lib/cli/main.ts up` starts one for these samples.');
    process.exit(1);
  }
}
