/**
 * PendingRequests' timing wheel: a request times out no sooner than its
 * timeoutMs and at most a slot (TICK_MS) plus scheduling later, in deadline
 * order whatever order the requests started in; a settled request never
 * times out; the one timer is gone as soon as nothing waits (an idle instance
 * keeps no timer and no process alive); abort and rejectAll release it too.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PendingRequests, TICK_MS } from '../../lib/client/pending-requests.js';
import { ClosedError, TimeoutError } from '../../lib/protocol/errors.js';

const Wheel = suite('pending requests');

/** Timers of this process right now (Timeout handles). */
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Slack for a busy 2-core machine on top of the slot width. */
const SLACK_MS = 60;

/** The error `p` rejects with (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return assert.unreachable('resolved');
}

Wheel('timeouts - each request times out after its own timeoutMs, in deadline order, never early', async () => {
  const pr = new PendingRequests();
  const t0 = performance.now();
  const order: string[] = [];
  const at = new Map<string, number>();
  const watch = (label: string, timeoutMs: number): Promise<void> =>
    pr.start(label, timeoutMs, undefined, () => {}).then(
      () => assert.unreachable(`${label} resolved`),
      (err: Error) => {
        assert.instance(err, TimeoutError);
        assert.match(err.message, `request to ${label} timed out after ${timeoutMs} ms`);
        order.push(label);
        at.set(label, performance.now() - t0);
      },
    );
  await Promise.all([watch('c', 150), watch('a', 30), watch('b', 90), watch('a2', 30)]);
  assert.equal(order, ['a', 'a2', 'b', 'c']);
  for (const [label, ms] of [['a', 30], ['a2', 30], ['b', 90], ['c', 150]] as const) {
    const took = at.get(label)!;
    assert.ok(took >= ms - 1, `${label} timed out after ${took.toFixed(1)} ms, before its ${ms} ms`);
    assert.ok(took <= ms + TICK_MS + SLACK_MS, `${label} timed out after ${took.toFixed(1)} ms (timeout ${ms} ms)`);
  }
  assert.is(pr.size, 0);
});

Wheel('settle - a settled request never times out, and the timer goes when nothing waits', async () => {
  const before = timers();
  const pr = new PendingRequests();
  let corr = 0;
  const p = pr.start('x', 20, undefined, (c) => (corr = c));
  assert.is(timers(), before + 1, 'one timer while a request waits');
  const q = pr.start('y', 40, undefined, () => {});
  assert.is(timers(), before + 1, 'still one timer for two requests');
  pr.settle(corr)!.resolve('done' as never);
  assert.is(await p, 'done');
  assert.instance(await rejection(q), TimeoutError);
  assert.is(pr.size, 0);
  assert.is(timers(), before, 'no timer once nothing waits');
  await sleep(40); // nothing left to fire
  assert.is(pr.size, 0);
});

Wheel('settle - settling the earliest re-arms for the next, not for nothing', async () => {
  const pr = new PendingRequests();
  let first = 0;
  void pr.start('first', 20, undefined, (c) => (first = c)).catch(() => assert.unreachable('first was settled'));
  const late = pr.start('late', 80, undefined, () => {});
  pr.settle(first)!.resolve(undefined as never);
  const t0 = performance.now();
  assert.instance(await rejection(late), TimeoutError);
  assert.ok(performance.now() - t0 >= 70, 'the later request waited for its own deadline');
});

Wheel('abort and close - an aborted request rejects at once and releases its entry; rejectAll empties the wheel', async () => {
  const before = timers();
  const pr = new PendingRequests();
  const ac = new AbortController();
  const a = pr.start('a', 10_000, ac.signal, () => {});
  const b = pr.start('b', 10_000, undefined, () => {});
  ac.abort();
  assert.instance(await rejection(a), ClosedError);
  assert.is(pr.size, 1);
  pr.rejectAll(new ClosedError('instance closed'));
  assert.instance(await rejection(b), ClosedError);
  assert.is(pr.size, 0);
  assert.is(timers(), before);
});

Wheel('send - a send that throws rejects the request with that error and leaves nothing behind', async () => {
  const before = timers();
  const pr = new PendingRequests();
  const boom = new Error('ring full');
  assert.is(await rejection(pr.start('x', 1000, undefined, () => { throw boom; })), boom);
  assert.is(pr.size, 0);
  assert.is(timers(), before);
});

Wheel.run();
