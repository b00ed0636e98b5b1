/**
 * Tracing: W3C trace context through message headers, with OpenTelemetry.
 *
 * `@opentelemetry/api` is an optional peer dependency (installed with
 * prom-client anyway), imported once at connect() (loadTracing). Without it,
 * or until the app registers an SDK's tracer provider, every function here
 * returns at its first lines: no span, no header. With one:
 *
 *   send/sendTo/broadcast  a PRODUCER span `send <service>`, ended once queued
 *   request                a CLIENT span `request <service>`, ended when the reply
 *                          (or the error) comes; the reply's context is added as a link
 *   reply() operator       a SERVER span `reply <service>`, child of the request's
 *                          context, active while the handler runs (its spans are
 *                          children) and until the reply is queued
 *   withMessageContext     a CONSUMER span `process <service>`, the same for any handler
 *   msg.reply              carries the active span's context (the SERVER span's in reply())
 *
 * The context is written and read by the global propagator (the SDK's: W3C
 * traceparent/tracestate by default), so an app that configured another one
 * gets it; with none registered nothing is added. Messages of an app without
 * an SDK carry no headers and cost what they did before. A reply carries trace
 * context only when its request came with headers (a requester of an older
 * build would read a header block as part of the value).
 */
import type * as OtelApi from '@opentelemetry/api';
import type { Headers } from '../protocol/headers.js';
import type { Message } from './message.js';

type Api = typeof OtelApi;
type Span = OtelApi.Span;
type Context = OtelApi.Context;

const PACKAGE = '@opentelemetry/api';
const TRACER = 'rxmesh';

let api: Api | undefined;
let loading: Promise<void> | undefined;

/** Import the API once, if installed (connect() waits for it). A missing package is no error. */
export function loadTracing(): Promise<void> {
  loading ??= import(PACKAGE).then(
    (m: Api) => {
      api = { ...m }; // a plain object: a module namespace's properties are slower to read (measured ~20 ns each)
    },
    (err: unknown) => {
      const missing = (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && (err as Error).message.includes(`'${PACKAGE}'`);
      if (!missing) throw err;
    },
  );
  return loading;
}

let tracerOf: { delegate: OtelApi.TracerProvider; tracer: OtelApi.Tracer | undefined } | undefined;
/** The tracer found in this event-loop turn (null: not looked for yet); forgotten at the turn's end. */
let thisTurn: OtelApi.Tracer | undefined | null = null;
const forgetTurn = (): void => {
  thisTurn = null;
};

/**
 * Our tracer from the SDK's provider, or undefined when no SDK registered one:
 * then nothing is traced (the no-op tracer's spans cost about 0.5 µs a message
 * for nothing). Looked up once per event-loop turn (the global look-up costs
 * 20-40 ns, a burst of sends pays it once), got once per provider.
 */
function tracer(a: Api): OtelApi.Tracer | undefined {
  if (thisTurn !== null) return thisTurn;
  const p = a.trace.getTracerProvider();
  const proxy = p instanceof a.ProxyTracerProvider ? p : undefined;
  const delegate = proxy ? proxy.getDelegate() : p;
  if (tracerOf?.delegate !== delegate) tracerOf = { delegate, tracer: proxy ? proxy.getDelegateTracer(TRACER) : p.getTracer(TRACER) };
  thisTurn = tracerOf.tracer;
  queueMicrotask(forgetTurn);
  return thisTurn;
}

const attributes = (service: string, operation: string, type: string): OtelApi.Attributes => ({
  'messaging.system': 'rxmesh',
  'messaging.destination.name': service,
  'messaging.operation.name': operation,
  'messaging.operation.type': type,
});

/** The propagator's fields for `ctx`, or undefined when it writes none. */
function inject(a: Api, ctx: Context): Headers | undefined {
  const carrier: Record<string, string> = {};
  a.propagation.inject(ctx, carrier);
  for (const _ in carrier) return carrier;
  return undefined;
}

/** Is there anything to trace or propagate with this span? (No SDK: a non-recording span with no context.) */
const live = (a: Api, span: Span): boolean => span.isRecording() || a.isSpanContextValid(span.spanContext());

/** Trace context for a message sent to `service`: a PRODUCER span, started and ended here. */
export function traceSend(service: string): Headers | undefined {
  const a = api;
  const t = a && tracer(a);
  if (!t) return undefined;
  const span = t.startSpan(`send ${service}`, { kind: a.SpanKind.PRODUCER, attributes: attributes(service, 'send', 'send') });
  try {
    return live(a, span) ? inject(a, a.trace.setSpan(a.context.active(), span)) : undefined;
  } finally {
    span.end();
  }
}

/** Run a request to `service` under a CLIENT span: `run` gets the trace context to send; the span ends when its promise settles. */
export function traceRequest(service: string, run: (trace: Headers | undefined) => Promise<Message>): Promise<Message> {
  const a = api;
  const t = a && tracer(a);
  if (!t) return run(undefined);
  const span = t.startSpan(`request ${service}`, { kind: a.SpanKind.CLIENT, attributes: attributes(service, 'request', 'send') });
  if (!live(a, span)) {
    span.end();
    return run(undefined);
  }
  let p: Promise<Message>;
  try {
    p = run(inject(a, a.trace.setSpan(a.context.active(), span)));
  } catch (err) {
    fail(a, span, err);
    throw err;
  }
  p.then((m) => {
    const back = m.headers && a.trace.getSpanContext(a.propagation.extract(a.ROOT_CONTEXT, m.headers));
    if (back && a.isSpanContextValid(back)) span.addLink?.({ context: back }); // the reply's span
    span.end();
  }, (err: unknown) => fail(a, span, err));
  return p;
}

/** Trace context for a reply: the active span's (no span of its own), if any. */
export function traceReply(): Headers | undefined {
  const a = api;
  if (!a || !tracer(a)) return undefined;
  const ctx = a.context.active();
  const span = a.trace.getSpan(ctx);
  return span && a.isSpanContextValid(span.spanContext()) ? inject(a, ctx) : undefined;
}

function fail(a: Api, span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: a.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
}

/** A span around the handling of one message, child of the context it carries. */
export interface HandlingScope {
  /** Run `fn` with the span active. */
  run<T>(fn: () => T): T;
  /** End the span (with an error status when `err` is given). */
  end(err?: unknown): void;
}

/** The SERVER (reply()) or CONSUMER span for handling `msg`; undefined when there is nothing to trace. */
export function handlingScope(msg: Message, kind: 'server' | 'consumer'): HandlingScope | undefined {
  const a = api;
  const t = a && tracer(a);
  if (!t) return undefined;
  const parent = msg.headers ? a.propagation.extract(a.context.active(), msg.headers) : a.context.active();
  const server = kind === 'server';
  const service = msg.to.service;
  const span = t.startSpan(
    `${server ? 'reply' : 'process'} ${service}`,
    { kind: server ? a.SpanKind.SERVER : a.SpanKind.CONSUMER, attributes: attributes(service, server ? 'reply' : 'process', 'process') },
    parent,
  );
  if (!live(a, span)) {
    span.end();
    return undefined;
  }
  const ctx = a.trace.setSpan(parent, span);
  let ended = false;
  return {
    run: (fn) => a.context.with(ctx, fn),
    end: (err) => {
      if (ended) return;
      ended = true;
      if (err === undefined) span.end();
      else fail(a, span, err);
    },
  };
}

/**
 * Run `fn` for a message from `messages$` under a CONSUMER span that continues
 * the trace the message carries: spans `fn` creates (and messages it sends) are
 * its children. A Promise result ends the span when it settles. Without
 * OpenTelemetry (or an SDK), it just calls `fn`.
 *
 * ## Example
 * ```ts
 * scene.messages$.subscribe((m) => withMessageContext(m, () => handle(m)));
 * ```
 */
export function withMessageContext<T>(msg: Message, fn: () => T): T {
  const scope = handlingScope(msg, 'consumer');
  if (!scope) return fn();
  let out: T;
  try {
    out = scope.run(fn);
  } catch (err) {
    scope.end(err);
    throw err;
  }
  if (typeof (out as PromiseLike<unknown> | null)?.then === 'function') {
    (out as PromiseLike<unknown>).then(() => scope.end(), (err: unknown) => scope.end(err ?? new Error('rejected')));
  } else {
    scope.end();
  }
  return out;
}
