/** Routing strategies alone: pure functions of (candidates, ctx), no processes. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BadArgumentError, type InstanceRef } from '../../../lib/index.js';
import { ConsistentHashStrategy } from '../../../lib/client/strategies/consistent-hash.js';
import { LeastLoadedStrategy } from '../../../lib/client/strategies/least-loaded.js';
import { LocalFirstStrategy } from '../../../lib/client/strategies/local-first.js';
import { RandomStrategy } from '../../../lib/client/strategies/random.js';
import { RoundRobinStrategy } from '../../../lib/client/strategies/round-robin.js';

const SVC = 'g.scene.1.0';
const ref = (userData: string, node = 0, localId = 1): InstanceRef => ({ service: SVC, userData, id: `${SVC}/${userData}`, agentId: node ? 'b' : 'a', node, localId, epoch: 1 });
const refs = (n: number, node = 0): InstanceRef[] => Array.from({ length: n }, (_, i) => ref(`s${i}`, node, i + 1));
const tally = (picks: (InstanceRef | undefined)[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const p of picks) m.set(p!.userData, (m.get(p!.userData) ?? 0) + 1);
  return m;
};

const RoundRobin = suite('strategy round-robin');
RoundRobin('round-robin - exact: 3000 picks over 3, 1000 each, in turn', () => {
  const s = new RoundRobinStrategy();
  const c = refs(3);
  const picks = Array.from({ length: 3000 }, () => s.select(c, { service: SVC }));
  for (const [, n] of tally(picks)) assert.is(n, 1000);
  assert.equal(picks.slice(0, 4).map((p) => p!.userData), ['s0', 's1', 's2', 's0']);
  assert.is(s.select([], { service: SVC }), undefined);
});
RoundRobin.run();

const Random = suite('strategy random');
Random('random - 30 000 picks over 3 stay within statistical bounds', () => {
  const s = new RandomStrategy();
  const c = refs(3);
  const counts = tally(Array.from({ length: 30_000 }, () => s.select(c)));
  assert.is(counts.size, 3);
  // Binomial(30000, 1/3): sd ≈ 81.6; 6 sd ≈ 490 (a false failure is ~1e-9).
  for (const [ud, n] of counts) assert.ok(Math.abs(n - 10_000) < 490, `${ud}: ${n}`);
  // chi-square, 2 degrees of freedom: 40 is far past p = 1e-8
  const chi = [...counts.values()].reduce((a, n) => a + (n - 10_000) ** 2 / 10_000, 0);
  assert.ok(chi < 40, `chi-square ${chi}`);
});
Random.run();

const LeastLoaded = suite('strategy least-loaded');
LeastLoaded('least-loaded - prefers the empty ring', () => {
  const s = new LeastLoadedStrategy();
  const c = refs(3);
  const depth: Record<string, number> = { s0: 4096, s1: 0, s2: 512 };
  for (let i = 0; i < 100; i++) assert.is(s.select(c, { service: SVC, load: (r) => depth[r.userData]! })!.userData, 's1');
});
LeastLoaded('least-loaded - ties are broken at random', () => {
  const s = new LeastLoadedStrategy();
  const c = refs(4);
  const depth: Record<string, number> = { s0: 0, s1: 100, s2: 0, s3: 0 };
  const counts = tally(Array.from({ length: 30_000 }, () => s.select(c, { service: SVC, load: (r) => depth[r.userData]! })));
  assert.is(counts.get('s1'), undefined);
  for (const ud of ['s0', 's2', 's3']) assert.ok(Math.abs(counts.get(ud)! - 10_000) < 490, `${ud}: ${counts.get(ud)}`);
});
LeastLoaded('least-loaded - no reports: all count as empty', () => {
  const s = new LeastLoadedStrategy();
  const counts = tally(Array.from({ length: 3000 }, () => s.select(refs(3), { service: SVC })));
  assert.is(counts.size, 3);
});
LeastLoaded.run();

const Hash = suite('strategy consistent-hash');
const keys = Array.from({ length: 10_000 }, (_, i) => `player-${i}`);
const assign = (s: ConsistentHashStrategy, c: InstanceRef[]): string[] => keys.map((key) => s.select(c, { service: SVC, key })!.userData);

Hash('consistent-hash - the same key goes to the same instance', () => {
  const s = new ConsistentHashStrategy();
  const c = refs(5);
  assert.equal(assign(s, c), assign(new ConsistentHashStrategy(), [...c].reverse()), 'independent of order and of the strategy object');
  assert.is(s.select(c, { service: SVC, key: 42 }), s.select(c, { service: SVC, key: '42' }));
});

Hash('consistent-hash - one joining N moves at most about 1/(N+1) of 10 000 keys, all to it', () => {
  const s = new ConsistentHashStrategy();
  for (let n = 1; n <= 9; n++) {
    const before = assign(s, refs(n));
    const after = assign(s, refs(n + 1));
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      assert.is(after[i], `s${n}`, 'a key that moves goes to the new instance');
    }
    const bound = keys.length / (n + 1);
    assert.ok(moved <= bound * 1.3, `N=${n}: ${moved} moved, 1/(N+1) is ${bound.toFixed(0)}`);
    assert.ok(moved >= bound * 0.7, `N=${n}: ${moved} moved: the new instance takes its share`);
  }
});

Hash('consistent-hash - one leaving moves only its own keys', () => {
  const s = new ConsistentHashStrategy();
  const c = refs(4);
  const before = assign(s, c);
  const after = assign(s, c.filter((r) => r.userData !== 's2'));
  for (let i = 0; i < keys.length; i++) if (before[i] !== 's2') assert.is(after[i], before[i]);
  const share = tally(before.map((ud) => ref(ud)));
  for (const [ud, n] of share) assert.ok(n > 1500 && n < 3500, `${ud} owns ${n} of 10 000`);
});

Hash('consistent-hash - without a key it is an error, not a fallback', () => {
  const s = new ConsistentHashStrategy();
  assert.throws(() => s.select(refs(3), { service: SVC }), (e: Error) => e instanceof BadArgumentError && (e as BadArgumentError).code === 'BAD_ARGUMENT');
  assert.is(s.select([], { service: SVC, key: 'k' }), undefined);
});
Hash.run();

const LocalFirst = suite('strategy local-first');
LocalFirst('local-first - prefers instances on the same agent, round-robin among them', () => {
  const s = new LocalFirstStrategy();
  const c = [ref('r1', 2, 1), ref('l1', 0, 2), ref('r2', 1, 3), ref('l2', 0, 4)];
  const counts = tally(Array.from({ length: 1000 }, () => s.select(c, { service: SVC })));
  assert.equal([...counts.entries()].sort(), [['l1', 500], ['l2', 500]]);
});
LocalFirst('local-first - no local instance: round-robin over the others', () => {
  const s = new LocalFirstStrategy();
  const c = [ref('r1', 1, 1), ref('r2', 2, 2), ref('r3', 2, 3)];
  const counts = tally(Array.from({ length: 900 }, () => s.select(c, { service: SVC })));
  assert.equal([...counts.values()], [300, 300, 300]);
});
LocalFirst.run();
