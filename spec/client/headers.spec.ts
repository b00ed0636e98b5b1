/**
 * Message headers (issue 14) on one host, against a real `rxmesh up`: through
 * the agent and through a pair ring, on large (fragmented) messages, in
 * replies (msg.reply and the reply() operator's echoHeaders), in undeliverable
 * reports; bad headers refused with a typed error and nothing sent; messages
 * without headers have none.
 */
import { firstValueFrom, of, toArray } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BadArgumentError, connect, HEADERS_MAX_BYTES, reply, request, toInstance, toService, type Instance, type Mesh, type Message, type Undeliverable,
} from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let up: MeshProcess;
let n = 0;

const Headers = suite('headers one host');
Headers.before(async () => {
  up = await startUp();
});
Headers.after(async () => {
  await up?.stop();
  cleanupShm();
});

/** Two apps, an instance on each (`b` watched by `a`); `pairs: false` keeps every message on the agent path. */
async function pair(pairs: boolean): Promise<{ ma: Mesh; mb: Mesh; a: Instance; b: Instance }> {
  n++;
  const ma = await connect({ gameId: 'g', password: 'g-key', agent: up.socket, pairs });
  const mb = await connect({ gameId: 'g', password: 'g-key', agent: up.socket, pairs });
  const b = mb.instance('g.hb.1.0', { userData: `b${n}` });
  await next(b.startup$);
  const a = ma.instance('g.ha.1.0', { userData: `a${n}`, watch: ['g.hb.1.0'] });
  await next(a.startup$);
  await next(a.members$('g.hb.1.0'), (l) => l.some((r) => r.id === b.ref!.id));
  return { ma, mb, a, b };
}

async function pairRingWrites(a: Instance, b: Instance): Promise<number> {
  return (await up.status()).pairs.find((p) => p.from === a.ref!.localId && p.to === b.ref!.localId)?.ring.recordsWritten ?? 0;
}

/** A stream of `count` messages, each with its number in a header and in its value, checked in order at `b`. */
async function headerStream(a: Instance, b: Instance, count: number): Promise<Message[]> {
  const got: Message[] = [];
  const sub = b.messages$.subscribe((m) => got.push(m));
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) a.sendTo(b.ref!, { i }, { headers: { seq: String(i), kind: 'even' } });
    else a.send('g.hb.1.0', new Uint8Array([i & 0xff, 1, 2, 3]), { headers: { seq: String(i) } });
    if (i % 200 === 199) await sleep(1);
  }
  await until(() => got.length === count, 10_000, `${count} messages (got ${got.length})`);
  sub.unsubscribe();
  got.forEach((m, i) => {
    assert.equal(m.headers, i % 2 === 0 ? { seq: String(i), kind: 'even' } : { seq: String(i) }, `message ${i}'s headers`);
    assert.ok(Object.isFrozen(m.headers), 'headers are frozen');
    if (i % 2 === 0) assert.equal(m.value(), { i });
    else assert.equal([...m.data], [i & 0xff, 1, 2, 3], 'raw bytes: the value without the header block');
  });
  return got;
}

Headers('headers - through the agent: send, sendTo, in order, values intact; no headers means undefined', async () => {
  const { ma, mb, a, b } = await pair(false);
  await headerStream(a, b, 1000);
  const plain = next(b.messages$);
  a.sendTo(b.ref!, 'plain');
  const m = await plain;
  assert.is(m.headers, undefined, 'a message sent without headers has none');
  assert.is(m.value(), 'plain');
  assert.is(await pairRingWrites(a, b), 0, 'no pair ring was used');
  await ma.close();
  await mb.close();
});

Headers('headers - through a pair ring: the same, and some went through the pair ring', async () => {
  const { ma, mb, a, b } = await pair(true);
  await headerStream(a, b, 4000);
  const through = await pairRingWrites(a, b);
  assert.ok(through > 0, `messages went through the pair ring (${through})`);
  await ma.close();
  await mb.close();
});

Headers('headers - large fragmented messages keep their headers (whole and streamed), through the agent and a pair ring', async () => {
  for (const pairs of [false, true]) {
    const { ma, mb, a, b } = await pair(pairs);
    const got: Message[] = [];
    const sub = b.messages$.subscribe((m) => got.push(m));
    const sizes = [100 * 1024, 3 * 1024 * 1024];
    for (const [i, size] of sizes.entries()) {
      const big = new Uint8Array(size).map((_, j) => (j * 7 + i) & 0xff);
      for (;;) {
        try {
          a.sendTo(b.ref!, big, { headers: { size: String(size), pad: 'x'.repeat(3000) } });
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== 'QUEUE_FULL') throw err;
          await a.whenWritable(10_000);
        }
      }
    }
    await until(() => got.length === sizes.length, 20_000, 'both large messages');
    sub.unsubscribe();
    got.forEach((m, i) => {
      const size = sizes[i]!;
      assert.equal(m.headers, { size: String(size), pad: 'x'.repeat(3000) }, `pairs=${pairs}: headers of the ${size}-byte message`);
      assert.is(m.data.length, size, 'the value alone');
      let ok = true;
      for (let j = 0; j < size; j += 4099) if (m.data[j] !== ((j * 7 + i) & 0xff)) ok = false;
      assert.ok(ok, 'the value intact');
    });
    await ma.close();
    await mb.close();
  }
});

Headers('headers - replies carry headers: msg.reply, reply() with echoHeaders (all or named) and its own headers', async () => {
  const { ma, mb, a, b } = await pair(true);
  const manual = b.messages$.subscribe((m) => {
    if (m.isRequest && m.value() === 'manual') m.reply('done', { headers: { answered: 'by hand' } });
  });
  const r1 = await a.request(b.ref!, 'manual', { headers: { ask: '1' } });
  assert.equal(r1.headers, { answered: 'by hand' });
  assert.is(r1.value(), 'done');
  manual.unsubscribe();

  const all = b.messages$.pipe(reply((m) => m.value<number>() * 2, { echoHeaders: true })).subscribe();
  const r2 = await a.request(b.ref!, 21, { headers: { trace: 't-1', user: 'u7' } });
  assert.is(r2.value(), 42);
  assert.equal(r2.headers, { trace: 't-1', user: 'u7' }, 'every request header echoed');
  const r3 = await a.request(b.ref!, 1);
  assert.is(r3.headers, undefined, 'nothing to echo: no headers');
  all.unsubscribe();

  const named = b.messages$.pipe(reply(() => 'ok', { echoHeaders: ['trace', 'absent'], headers: (m) => ({ served: m.to.userData }) })).subscribe();
  const replies = await firstValueFrom(of(1, 2).pipe(request(a, b.ref!, { headers: (v) => ({ trace: `t-${v}`, secret: 's' }) }), toArray()));
  assert.equal(replies.map((r) => r.headers), [{ trace: 't-1', served: b.ref!.userData }, { trace: 't-2', served: b.ref!.userData }], 'only the named headers echoed, plus the handler\'s own');
  named.unsubscribe();
  await ma.close();
  await mb.close();
});

Headers('headers - the sending operators take headers (fixed or per value)', async () => {
  const { ma, mb, a, b } = await pair(true);
  const got: Message[] = [];
  const sub = b.messages$.subscribe((m) => got.push(m));
  await firstValueFrom(of(1, 2).pipe(toService(a, 'g.hb.1.0', { headers: (v) => ({ v: String(v) }) }), toArray()));
  await firstValueFrom(of(3).pipe(toInstance(a, b.ref!, { headers: { v: 'fixed' } }), toArray()));
  await until(() => got.length === 3, 5000, 'three messages');
  assert.equal(got.map((m) => m.headers), [{ v: '1' }, { v: '2' }, { v: 'fixed' }]);
  sub.unsubscribe();
  await ma.close();
  await mb.close();
});

Headers('headers - bad headers: BadArgumentError with a reason, nothing sent, the instance keeps working', async () => {
  const { ma, mb, a, b } = await pair(true);
  const got: Message[] = [];
  const sub = b.messages$.subscribe((m) => got.push(m));
  const bad: unknown[] = [
    { n: 1 },
    { '': 'empty name' },
    { k: null },
    ['a', 'b'],
    'text',
    new Map([['a', 'b']]),
    { big: 'x'.repeat(HEADERS_MAX_BYTES) },
  ];
  for (const h of bad) {
    for (const attempt of [
      () => a.sendTo(b.ref!, 'bad', { headers: h as Record<string, string> }),
      () => a.send('g.hb.1.0', 'bad', { headers: h as Record<string, string> }),
    ]) {
      let err: unknown;
      try {
        attempt();
      } catch (e) {
        err = e;
      }
      assert.instance(err, BadArgumentError, `refused: ${JSON.stringify(h)?.slice(0, 40)}`);
      assert.is((err as BadArgumentError).code, 'BAD_ARGUMENT');
      assert.match((err as Error).message, /header/);
    }
    const rejected = await a.request(b.ref!, 'bad', { headers: h as Record<string, string> }).then(() => undefined, (e: unknown) => e);
    assert.instance(rejected, BadArgumentError, 'a request with bad headers rejects');
  }
  // just under the cap is fine
  const fits = { big: 'x'.repeat(HEADERS_MAX_BYTES - 16) };
  a.sendTo(b.ref!, 'fits', { headers: fits });
  a.sendTo(b.ref!, 'after');
  await until(() => got.length === 2, 5000, 'the two good messages');
  await sleep(50);
  assert.equal(got.map((m) => m.value()), ['fits', 'after'], 'nothing of the refused ones arrived');
  assert.equal(got[0]!.headers, fits);
  assert.is(a.stats().pendingRequests, 0, 'no request left pending');
  sub.unsubscribe();
  await ma.close();
  await mb.close();
});

Headers('headers - undeliverable reports give the headers back (offline, no_route)', async () => {
  const { ma, mb, a, b } = await pair(true);
  const reports: Undeliverable[] = [];
  a.undeliverable$.subscribe((u) => reports.push(u));
  const gone = b.ref!;
  await b.close();
  await next(a.members$('g.hb.1.0'), (l) => !l.some((r) => r.id === gone.id));
  a.sendTo(gone, { small: 1 }, { headers: { id: 'small' } });
  a.sendTo(gone, new Uint8Array(200 * 1024).fill(9), { headers: { id: 'large' } });
  a.send('g.hb.1.0', 'nobody', { headers: { id: 'no-route' } });
  await until(() => reports.length === 3, 10_000, `three reports (got ${reports.length})`);
  const byId = new Map(reports.map((r) => [r.headers?.['id'], r]));
  assert.is(byId.get('small')?.reason, 'offline');
  assert.equal(byId.get('small')?.value(), { small: 1 });
  assert.is(byId.get('large')?.reason, 'offline');
  assert.is(byId.get('large')?.data.length, 200 * 1024, 'the large value alone');
  assert.is(byId.get('no-route')?.reason, 'no_route');
  assert.is(byId.get('no-route')?.value(), 'nobody');
  await ma.close();
  await mb.close();
});

Headers.run();
