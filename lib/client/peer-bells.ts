/**
 * PeerBells: the doorbells of other app connections on this host, which an
 * app rings after writing a pair ring they read. Each is opened once and
 * shared by every pair ring to that app, and closed with the last of them.
 */
import { Doorbell } from '../native/index.js';

export class PeerBells {
  private readonly bells = new Map<string, { bell: Doorbell; users: number }>();

  open(path: string): Doorbell {
    let b = this.bells.get(path);
    if (!b) this.bells.set(path, (b = { bell: Doorbell.open(path), users: 0 }));
    b.users++;
    return b.bell;
  }

  release(path: string): void {
    const b = this.bells.get(path);
    if (!b || --b.users > 0) return;
    this.bells.delete(path);
    b.bell.close();
  }

  closeAll(): void {
    for (const b of this.bells.values()) b.bell.close();
    this.bells.clear();
  }
}
