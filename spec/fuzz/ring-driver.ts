/**
 * Runs ring cases (ring-cases.ts) through scribbling app processes
 * (fixtures/ring-scribbler.ts), one per lane: a batch is a command to an idle
 * scribbler, which rebuilds the cases from (seed, index), runs them on its
 * own instances and answers with outcome counts. A scribbler that dies (an
 * app may break itself) is noted and replaced; the agent is what is judged.
 */
import { startFixture, type Fixture } from '../helpers/process.js';
import type { Driver } from './harness.js';
import { groupRings, makeRingCase, type RingCase } from './ring-cases.js';
import type { Tally } from './tally.js';
import { sleep, within } from './wire.js';

/** A scribbler that has not finished its batch by then is stuck on its own rings (its problem, not the agent's):
 * it is replaced. Below the harness's batch guard, so that a stuck app is not taken for a hung agent. */
const BATCH_MS = 15_000;

interface Scribbler {
  fixture: Fixture;
  busy: boolean;
  lane: number;
}

export class RingDriver implements Driver<RingCase> {
  readonly target = 'rings';
  private readonly scribblers: Scribbler[] = [];
  /** Every scribbler process started, ready or not (stop() kills them all, even one still starting). */
  private readonly started = new Set<Fixture>();
  private stopped = false;
  private seed = 0;
  private lanes = 0;

  constructor(private readonly socketPath: string, private readonly maxLanes: number) {}

  make(seed: number, index: number): RingCase {
    this.seed = seed;
    return makeRingCase(seed, index);
  }

  group(cases: RingCase[]): RingCase[][] {
    return groupRings(cases);
  }

  private async start(lane: number): Promise<Scribbler> {
    if (this.stopped) throw new Error('the ring driver is stopped');
    const fixture = startFixture('spec/fuzz/fixtures/ring-scribbler.ts', [this.socketPath, String(this.seed), String(lane)]);
    this.started.add(fixture);
    const forget = (): void => void this.started.delete(fixture);
    fixture.exited.then(forget, forget);
    if (!(await within(fixture.waitFor('ready\n').then(() => true), BATCH_MS, false))) throw new Error('a scribbler did not get ready (the agent does not answer)');
    return { fixture, busy: false, lane };
  }

  private async borrow(): Promise<Scribbler> {
    for (;;) {
      if (this.stopped) throw new Error('the ring driver is stopped');
      const idle = this.scribblers.find((s) => !s.busy);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (this.lanes < this.maxLanes) {
        const lane = this.lanes++;
        const s = await this.start(lane).catch((err: Error) => {
          this.lanes--;
          throw err;
        });
        s.busy = true;
        this.scribblers.push(s);
        return s;
      }
      await sleep(5);
    }
  }

  async runBatch(batch: RingCase[], tally: Tally): Promise<void> {
    const s = await this.borrow();
    try {
      const first = batch[0]!.index;
      const mark = s.fixture.stdout.length;
      s.fixture.child.stdin!.write(`run ${first} ${batch.length}\n`);
      const done = await within(s.fixture.waitFor(`done ${first} ${batch.length} `).then(() => true, () => false), BATCH_MS, false);
      if (!done) {
        tally.add('app stuck on its own rings (replaced)', batch.length);
        tally.note('app stuck on its own rings (replaced)', `cases ${first}..${first + batch.length - 1}${s.fixture.stderr ? `: ${s.fixture.stderr.slice(-600)}` : ''}`);
        await s.fixture.kill();
        this.scribblers.splice(this.scribblers.indexOf(s), 1);
        this.lanes--; // the next batch starts a fresh scribbler in its place
        return;
      }
      const line = s.fixture.stdout.slice(mark).split('\n').find((l) => l.startsWith(`done ${first} `))!;
      const counts = JSON.parse(line.slice(`done ${first} ${batch.length} `.length)) as Record<string, number>;
      for (const [k, v] of Object.entries(counts)) {
        tally.add(k, v);
        if (k.startsWith('app error')) tally.note(k, `in cases ${first}..${first + batch.length - 1}`);
      }
    } finally {
      s.busy = false;
    }
  }

  /** Stop every scribbler, started or starting (SIGKILL: the agent sees its apps crash, which is fine). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.started].map((f) => f.kill()));
    this.scribblers.length = 0;
  }
}
