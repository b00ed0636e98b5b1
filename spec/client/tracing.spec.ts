/**
 * Tracing (issue 14) across two agents: with the OpenTelemetry SDK registered
 * in this process (an in-memory exporter, W3C propagation, the async-hooks
 * context manager), a gateway on agent 1 requests a scene on agent 2 whose
 * reply() handler makes a span of its own: one trace, each span the child of
 * the one before. Both apps live in this process, each connected to its own
 * agent, so every span lands in one exporter. Without an SDK, no message
 * carries trace headers.
 */
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { reply, withMessageContext, type Instance, type Message } from '../../lib/index.js';
import { startTwoHosts, type TwoHosts } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let hosts: TwoHosts;
let gateway: Instance;
let scene: Instance;
const exporter = new InMemorySpanExporter();
/**
 * Span names in the order their end() ran (a span processor's onEnd is called inside end()). The SDK's end
 * timestamps cannot order two spans that end within a millisecond: each span's clock starts at its own
 * Date.now() (ms) plus a performance.now() duration, so their sub-ms offsets differ.
 */
const ended: string[] = [];
const endOrder: SpanProcessor = {
  onStart: () => {},
  onEnd: (s) => void ended.push(s.name),
  forceFlush: async () => {},
  shutdown: async () => {},
};
const tracer = () => trace.getTracer('spec');

function registerSdk(): void {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter), endOrder] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

function unregisterSdk(): void {
  trace.disable();
  propagation.disable();
  context.disable();
}

const Tracing = suite('links tracing');
Tracing.before(async () => {
  registerSdk();
  hosts = await startTwoHosts();
  scene = hosts.meshes[1].instance('g.scene.1.0', { userData: 's1' });
  await next(scene.startup$);
  gateway = hosts.meshes[0].instance('g.gateway.1.0', { userData: 'gw', watch: ['g.scene.1.0'] });
  await next(gateway.startup$);
  await next(gateway.members$('g.scene.1.0'), (l) => l.length > 0);
});
Tracing.after(async () => {
  unregisterSdk(); // other spec files run in this process
  await hosts?.stop();
  cleanupShm();
});
Tracing.before.each(() => {
  exporter.reset();
  ended.length = 0;
});

const named = (name: string): ReadableSpan | undefined => exporter.getFinishedSpans().find((s) => s.name === name);
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

/** Wait until every span named has ended (exported), and return them in that order. */
async function spans(...names: string[]): Promise<ReadableSpan[]> {
  await until(() => names.every((n) => named(n)), 5000, `spans ${names.join(', ')} (have ${exporter.getFinishedSpans().map((s) => s.name).join(', ')})`);
  return names.map((n) => named(n)!);
}

Tracing('tracing - gateway request -> scene reply() handler -> its child span: one trace across two agents, parents linked', async () => {
  const sub = scene.messages$.pipe(reply(async (m: Message) => {
    const work = tracer().startSpan('scene work');
    await sleep(5);
    work.end();
    return { joined: m.value<{ player: string }>().player, traceparent: m.headers?.['traceparent'] };
  })).subscribe();
  const answer = await tracer().startActiveSpan('gateway join', async (root) => {
    try {
      return await gateway.request('g.scene.1.0', { player: 'p1' }, { headers: { player: 'p1' } });
    } finally {
      root.end();
    }
  });
  const [root, client, server, work] = await spans('gateway join', 'request g.scene.1.0', 'reply g.scene.1.0', 'scene work');
  sub.unsubscribe();
  const traceId = root!.spanContext().traceId;
  for (const s of [client!, server!, work!]) assert.is(s.spanContext().traceId, traceId, `${s.name} is in the gateway's trace`);
  assert.is(parentOf(client!), root!.spanContext().spanId, 'request span: child of the gateway span');
  assert.is(parentOf(server!), client!.spanContext().spanId, 'scene server span: child of the request span (context carried across the link)');
  assert.is(parentOf(work!), server!.spanContext().spanId, 'the handler\'s span: child of the server span');
  assert.is(client!.kind, SpanKind.CLIENT);
  assert.is(server!.kind, SpanKind.SERVER);
  assert.is(client!.attributes['messaging.system'], 'rxmesh');
  assert.is(client!.attributes['messaging.destination.name'], 'g.scene.1.0');
  assert.ok(ended.indexOf('reply g.scene.1.0') > ended.indexOf('scene work'), `the server span ends after the handler's work (ended: ${ended.join(', ')})`);

  const value = answer.value<{ joined: string; traceparent: string }>();
  assert.is(value.joined, 'p1');
  assert.match(value.traceparent, new RegExp(`^00-${traceId}-${client!.spanContext().spanId}-0[01]$`), 'the request carried the request span\'s traceparent');
  assert.match(answer.headers?.['traceparent'] ?? '', new RegExp(`^00-${traceId}-${server!.spanContext().spanId}-`), 'the reply carries the server span\'s context');
  assert.ok(client!.links.some((l) => l.context.spanId === server!.spanContext().spanId), 'the request span links to the reply\'s span');
});

Tracing('tracing - send and messages$ with withMessageContext: producer -> consumer -> handler span, and an app\'s headers beside the trace context', async () => {
  const got = next(scene.messages$);
  const handled = new Promise<Message>((resolve) => {
    const sub = scene.messages$.subscribe((m) => withMessageContext(m, () => {
      tracer().startSpan('handle move').end();
      sub.unsubscribe();
      resolve(m);
    }));
  });
  tracer().startActiveSpan('gateway tick', (root) => {
    gateway.send('g.scene.1.0', { move: 1 }, { headers: { player: 'p2' } });
    root.end();
  });
  const m = await got;
  await handled;
  const [root, producer, consumer, handle] = await spans('gateway tick', 'send g.scene.1.0', 'process g.scene.1.0', 'handle move');
  assert.is(producer!.kind, SpanKind.PRODUCER);
  assert.is(consumer!.kind, SpanKind.CONSUMER);
  assert.is(parentOf(producer!), root!.spanContext().spanId);
  assert.is(parentOf(consumer!), producer!.spanContext().spanId, 'consumer span: child of the producer span, across the link');
  assert.is(parentOf(handle!), consumer!.spanContext().spanId);
  assert.ok([producer, consumer, handle].every((s) => s!.spanContext().traceId === root!.spanContext().traceId), 'one trace');
  assert.is(m.headers?.['player'], 'p2', 'the app\'s own header travels beside the trace context');
  assert.ok(m.headers?.['traceparent'], 'the trace context is a header');
});

Tracing('tracing - without an SDK registered, messages carry no trace headers (and no spans are made)', async () => {
  unregisterSdk();
  try {
    const got = next(scene.messages$);
    gateway.send('g.scene.1.0', 'plain');
    assert.is((await got).headers, undefined, 'a send adds nothing');
    const sub = scene.messages$.pipe(reply(() => 'ok')).subscribe();
    const r = await gateway.request('g.scene.1.0', 'q');
    assert.is(r.headers, undefined, 'neither request nor reply adds anything');
    const withOwn = next(scene.messages$);
    gateway.send('g.scene.1.0', 'own', { headers: { only: 'mine' } });
    assert.equal((await withOwn).headers, { only: 'mine' });
    sub.unsubscribe();
    assert.is(exporter.getFinishedSpans().length, 0, 'no spans');
  } finally {
    registerSdk();
  }
});

Tracing.run();
