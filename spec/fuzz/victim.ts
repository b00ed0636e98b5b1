/**
 * The victim app of the peer-link fuzz: a real app process (fixtures/echo-app.ts)
 * with one instance of game `g` that fuzzed peers address, so their records
 * reach a real rx ring and a real reader. Its health is reported, not asserted:
 * the specs judge the agent.
 */
import { startFixture, type Fixture } from '../helpers/process.js';

export class Victim {
  private constructor(readonly fixture: Fixture) {}

  static async start(socket: string): Promise<Victim> {
    const fixture = startFixture('spec/fuzz/fixtures/echo-app.ts', [socket, 'g.linkvictim.1.0']);
    await fixture.waitFor('started ');
    return new Victim(fixture);
  }

  /** Its current instance (it starts a new one when the agent drops the old). */
  get localId(): number {
    const all = [...this.fixture.stdout.matchAll(/^started (\d+)$/gm)];
    return Number(all[all.length - 1]![1]);
  }

  /** Messages it received so far (from its last stats line, printed every 500 ms). */
  get received(): number {
    const all = [...this.fixture.stdout.matchAll(/^stats received (\d+) /gm)];
    return all.length ? Number(all[all.length - 1]![1]) : 0;
  }

  /** Instances the agent dropped under it (each a FAULT it got). */
  get restarts(): number {
    return [...this.fixture.stdout.matchAll(/^instance \d+ ended$/gm)].length;
  }

  get alive(): boolean {
    return this.fixture.child.exitCode === null && this.fixture.child.signalCode === null;
  }

  /** Its last stats line and anything unusual it printed. */
  summary(): string {
    const lines = this.fixture.stdout.split('\n');
    const stats = lines.filter((l) => l.startsWith('stats ')).pop() ?? 'no stats';
    const odd = lines.filter((l) => /^(messages\$ error|restart failed|lost)/.test(l)).slice(0, 3);
    const exit = this.alive ? 'running' : `exited (${this.fixture.child.exitCode ?? this.fixture.child.signalCode}): ${this.fixture.stderr.slice(-600)}`;
    return `victim app ${exit}; ${stats}; its instance was dropped by the agent ${this.restarts} time(s)${odd.length ? `; ${odd.join('; ')}` : ''}`;
  }

  async stop(): Promise<void> {
    await this.fixture.kill();
  }
}
