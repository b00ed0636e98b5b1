/**
 * One agent, several Unix users: the isolation model on a host.
 *
 * The agent learns each app's user from its control socket (SO_PEERCRED,
 * which the app cannot forge). Apps of the agent's own user use the shm
 * directory itself, as with one user. An agent running as root also serves
 * other users: each gets its own directory `u<uid>/` (mode 0700, owned by
 * that user) holding its rings, its doorbells and its own agent doorbell,
 * all owned by it with mode 0600, so no other user can open, read or write
 * them. The shm directory is then 0711 (enterable, not listable) and the
 * control socket 0666: anyone may connect, and the game key still decides
 * which game a connection may act in. An agent not running as root serves
 * only its own user (the directory stays 0700 and the socket 0600).
 */
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCred } from '../native/index.js';

export class UserDirs {
  readonly agentUid: number;

  constructor(private readonly shmDir: string, agentUid = process.getuid?.() ?? 0) {
    this.agentUid = agentUid;
  }

  /** Root: serves every user, each in its own directory. */
  get multiUser(): boolean {
    return this.agentUid === 0;
  }

  /** Mode of the shm directory and of the control socket. */
  get dirMode(): number {
    return this.multiUser ? 0o711 : 0o700;
  }

  get socketMode(): number {
    return this.multiUser ? 0o666 : 0o600;
  }

  /** May this agent serve an app of this user? */
  serves(peer: PeerCred): boolean {
    return this.multiUser || peer.uid === this.agentUid;
  }

  /** May this user see everything the agent holds (status of every game)? */
  isAdmin(peer: PeerCred): boolean {
    return peer.uid === 0 || peer.uid === this.agentUid;
  }

  /** The directory for this user's files (created, 0700 and theirs, on first use). */
  dirFor(peer: PeerCred): string {
    if (peer.uid === this.agentUid) return this.shmDir;
    const dir = join(this.shmDir, `u${peer.uid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chownSync(dir, peer.uid, peer.gid);
    chmodSync(dir, 0o700);
    return dir;
  }

  /** Hand a file the agent created for this user over to it (mode 0600). */
  own(path: string, peer: PeerCred): void {
    if (peer.uid === this.agentUid) return;
    chownSync(path, peer.uid, peer.gid);
    chmodSync(path, 0o600);
  }

  /** Remove a user's directory (the agent stopping, or its last app gone). */
  remove(uid: number): void {
    if (uid === this.agentUid) return;
    rmSync(join(this.shmDir, `u${uid}`), { recursive: true, force: true });
  }
}
