/** connect(): the entry point of an app. */
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Mesh, type ConnectOptions } from './mesh.js';

export const defaultAgentSocket = (): string => join(`/dev/shm/rxmesh-${userInfo().username}`, 'agent.sock');

/**
 * Connect to the local agent and authenticate with the game key.
 * Rejects with AuthError (wrong key) or AgentLostError (no agent).
 */
export function connect(options: ConnectOptions): Promise<Mesh> {
  return Mesh.connect(options, options.agent ?? process.env['RXMESH_AGENT'] ?? defaultAgentSocket());
}
