/**
 * AppBells: the doorbells between the agent and its apps. Each app connection
 * has its own (the agent rings it when it wrote to that app's rings); each
 * Unix user other than the agent's has an agent doorbell of its own in its
 * directory (its apps ring it), so no user can ring or read another's.
 */
import { join } from 'node:path';
import { Doorbell, type PeerCred } from '../native/index.js';
import type { UserDirs } from './user-dirs.js';

export class AppBells {
  private readonly clientBells = new Map<number, Doorbell>();
  /** Users other than ours (an agent running as root): their own agent doorbell each, by uid. */
  private readonly userBells = new Map<number, Doorbell>();

  /**
   * @param agentBellPath the agent's own doorbell (its user's apps ring it)
   * @param wake what ringing a user's agent doorbell does (schedule the data path)
   */
  constructor(private readonly users: UserDirs, private readonly agentBellPath: string, private readonly wake: () => void) {}

  /** The doorbell this user's apps ring to wake the agent (their own, when not ours). */
  agentBellFor(peer: PeerCred): string {
    if (peer.uid === this.users.agentUid) return this.agentBellPath;
    let bell = this.userBells.get(peer.uid);
    if (!bell) {
      bell = Doorbell.create(join(this.users.dirFor(peer), 'agent.bell'));
      this.users.own(bell.path, peer);
      bell.listen(this.wake);
      this.userBells.set(peer.uid, bell);
    }
    return bell.path;
  }

  /** A new app connection's doorbell, in its user's directory and owned by it; returns its path. */
  open(clientId: number, peer: PeerCred): string {
    const path = join(this.users.dirFor(peer), `c${clientId}.bell`);
    this.clientBells.set(clientId, Doorbell.create(path));
    this.users.own(path, peer);
    return path;
  }

  /** The doorbell of app connection `clientId` (undefined once it closed). */
  of(clientId: number): Doorbell | undefined {
    return this.clientBells.get(clientId);
  }

  close(clientId: number): void {
    this.clientBells.get(clientId)?.close();
    this.clientBells.delete(clientId);
  }

  /** The agent stops: every doorbell closed, every other user's directory removed. */
  closeAll(): void {
    for (const b of this.clientBells.values()) b.close();
    this.clientBells.clear();
    for (const [uid, b] of this.userBells) {
      b.close();
      this.users.remove(uid);
    }
    this.userBells.clear();
  }
}
