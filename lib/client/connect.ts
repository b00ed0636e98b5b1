/** connect(): the entry point of an app. */
import { defaultAgentSocket } from '../protocol/shm-home.js';
import type { Mesh } from './mesh-api.js';
import { MeshImpl, type ConnectOptions } from './mesh.js';

/**
 * Connect to the local agent and authenticate with the game key.
 * Rejects with AuthError (wrong key) or AgentLostError (no agent).
 */
export function connect(options: ConnectOptions): Promise<Mesh> {
  return MeshImpl.connect(options, options.agent ?? process.env['RXMESH_AGENT'] ?? defaultAgentSocket());
}
