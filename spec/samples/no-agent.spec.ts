/**
 * A newcomer runs a sample before starting an agent: each sample says, in
 * one line, that no agent is listening and how to start one, and exits 1
 * (no stack trace); an app's connect() rejects with AGENT_LOST saying the same.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentLostError, connect } from '../../lib/index.js';
import { startFixture } from '../helpers/process.js';

const NoAgent = suite('samples without an agent');
const dir = mkdtempSync('/dev/shm/rxmesh-noagent-');
const socket = join(dir, 'agent.sock'); // nothing listens here
NoAgent.after(() => rmSync(dir, { recursive: true, force: true }));

for (const sample of ['pingpong', 'recv_server', 'send_server', 'game-shard']) {
  NoAgent(`${sample} - says no agent is listening and how to start one, exits 1, no stack trace`, async () => {
    const f = startFixture(join('samples', `${sample}.ts`), [], { RXMESH_AGENT: socket });
    const exit = await f.exited;
    assert.is(exit.code, 1, f.stderr);
    assert.match(f.stderr, `AGENT_LOST: cannot reach the agent at ${socket}: no agent is listening there`);
    assert.match(f.stderr, 'npx tsx lib/cli/main.ts up');
    assert.not.match(f.stderr, /\n\s+at /, 'no stack trace');
  });
}

NoAgent('connect - rejects with AgentLostError naming the socket and how to start an agent', async () => {
  const err = await connect({ gameId: 'demo', password: 'demo-key', agent: socket }).then(() => null, (e: unknown) => e);
  assert.instance(err, AgentLostError);
  assert.match((err as Error).message, `cannot reach the agent at ${socket}: no agent is listening there`);
  assert.match((err as Error).message, 'npx rxmesh up');
});

NoAgent.run();
