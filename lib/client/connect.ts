/** connect(): the entry point of an app. */
import { defaultAgentSocket } from '../protocol/shm-home.js';
import type { Mesh } from './mesh-api.js';
import { MeshImpl, type ConnectOptions } from './mesh.js';
import { loadTracing } from './tracing.js';

/**
 * Connect to the local agent and authenticate with the game key.
 * Rejects with AuthError (wrong key) or AgentLostError (no agent).
 * Loads `@opentelemetry/api` first when it is installed (tracing.ts).
 */
export async function connect(options: ConnectOptions): Promise<Mesh> {
  await loadTracing();
  return MeshImpl.connect(options, options.agent ?? process.env['RXMESH_AGENT'] ?? defaultAgentSocket());
}
