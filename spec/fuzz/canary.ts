/**
 * Canary: a healthy instance pair of game `g` on the fuzzed agent, each on
 * its own app connection, that must keep completing request/reply round
 * trips while the fuzzer runs and after it. `check()` makes one round trip
 * and counts its outcome (no timing is asserted: a generous timeout only
 * tells a hang from a slow machine). The fuzz cases never use the canary's
 * names, so a same-game `replace` registration cannot take them legitimately.
 */
import type { Instance, InstanceRef, Mesh } from '../../lib/index.js';
import type { MeshProcess } from '../helpers/mesh.js';
import { next } from '../helpers/wait.js';

/** Service names the fuzzer must never generate (see cases: `avoidCanary`). */
export const CANARY_SERVICE = 'g.fuzzcanary.1.0';
export const CANARY_CLIENT_SERVICE = 'g.fuzzcanary-client.1.0';

const ROUND_TRIP_MS = 10_000;

export interface CanaryTally {
  ok: number;
  failed: number;
  lost: number;
  errors: string[];
}

export class Canary {
  readonly tally: CanaryTally = { ok: 0, failed: 0, lost: 0, errors: [] };
  private n = 0;

  private constructor(
    private readonly responder: Instance,
    private readonly requester: Instance,
    readonly responderRef: InstanceRef,
    readonly requesterRef: InstanceRef,
  ) {}

  /** Two app connections to `proc`'s agent, a responder and a requester; one round trip to start. */
  static async start(proc: MeshProcess): Promise<Canary> {
    const a: Mesh = await proc.connect();
    const b: Mesh = await proc.connect();
    const responder = a.instance(CANARY_SERVICE, { userData: 'responder' });
    const requester = b.instance(CANARY_CLIENT_SERVICE, { userData: 'requester' });
    const [responderRef, requesterRef] = await Promise.all([next(responder.startup$), next(requester.startup$)]);
    responder.messages$.subscribe((m) => {
      if (!m.isRequest) return; // anything else is not ours to answer
      try {
        m.reply(m.value());
      } catch { /* a malformed message must not stop the canary */ }
    });
    const canary = new Canary(responder, requester, responderRef, requesterRef);
    a.lost$.subscribe(() => canary.tally.lost++);
    b.lost$.subscribe(() => canary.tally.lost++);
    if (!(await canary.check())) throw new Error(`the canary cannot make its first round trip: ${canary.tally.errors.join('; ')}`);
    return canary;
  }

  /** Local ids the fuzz cases must not address (their own traffic to the canary would be legitimate). */
  get localIds(): number[] {
    return [this.responderRef.localId, this.requesterRef.localId];
  }

  /** One request/reply round trip; true when the right answer came back. */
  async check(): Promise<boolean> {
    const n = ++this.n;
    const token = `canary-${n}-${Math.random().toString(36).slice(2)}`;
    try {
      const reply = await this.requester.request(this.responderRef, { n, token }, { timeoutMs: ROUND_TRIP_MS });
      const v = reply.value<{ n: number; token: string }>();
      if (v?.n === n && v.token === token) {
        this.tally.ok++;
        return true;
      }
      this.fail(`round trip ${n}: wrong reply ${JSON.stringify(v)}`);
    } catch (err) {
      this.fail(`round trip ${n}: ${(err as Error).name}: ${(err as Error).message}`);
    }
    return false;
  }

  private fail(msg: string): void {
    this.tally.failed++;
    if (this.tally.errors.length < 10) this.tally.errors.push(msg);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.responder.close(), this.requester.close()]);
  }
}
