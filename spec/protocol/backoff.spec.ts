/**
 * The one back-off: each delay lies in [step/2, step), the step doubles from
 * min up to max and stays there, reset() starts over, and nonsense bounds are
 * refused. With the random source pinned to its extremes the bounds are exact.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Backoff } from '../../lib/protocol/backoff.js';

const B = suite('backoff');

B('backoff - delays double from min to max, each in [step/2, step)', () => {
  const low = new Backoff(100, 2000, () => 0);
  assert.equal(Array.from({ length: 7 }, () => low.next()), [50, 100, 200, 400, 800, 1000, 1000]);
  const high = new Backoff(100, 2000, () => 0.999999);
  for (const [i, step] of [100, 200, 400, 800, 1600, 2000, 2000].entries()) {
    const d = high.next();
    assert.ok(d < step && d > step * 0.999, `delay ${i}: ${d} just under ${step}`);
  }
});

B('backoff - with Math.random, every delay stays within its step and the spread is real', () => {
  const b = new Backoff(10, 80);
  const steps = [10, 20, 40, 80, 80, 80];
  const seen = new Set<number>();
  for (let round = 0; round < 50; round++) {
    b.reset();
    for (const step of steps) {
      const d = b.next();
      assert.ok(d >= step / 2 && d < step, `${d} in [${step / 2}, ${step})`);
      seen.add(Math.round(d));
    }
  }
  assert.ok(seen.size > 20, 'jittered, not fixed');
});

B('backoff - reset starts again from min', () => {
  const b = new Backoff(100, 1000, () => 0);
  b.next();
  b.next();
  b.next();
  b.reset();
  assert.is(b.next(), 50);
});

B('backoff - bounds that make no sense are refused', () => {
  for (const [min, max] of [[0, 100], [-1, 100], [200, 100], [Number.NaN, 100]]) {
    assert.throws(() => new Backoff(min!, max!), (e: unknown) => e instanceof RangeError, `${min}..${max}`);
  }
});

B.run();
