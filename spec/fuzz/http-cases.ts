/**
 * Cases for the name server's HTTP port (lib/ns/http.ts). Each starts from a
 * request the read-only view serves (GET /healthz, /v1/services,
 * /v1/instances?service=..., /v1/agents, /v1/connections; HEAD) and mutates
 * it at the HTTP level (methods, paths, queries, versions, headers,
 * Content-Length and chunked-body lies, bare line endings, huge heads) or at
 * the byte level (flips, truncation, random bytes). A case says whether its
 * request is whole (the server answers it and may keep the connection), so
 * whole ones share a keep-alive connection and the rest end it.
 */
import type { FuzzCase } from './harness.js';
import { mutateText } from './mutate.js';
import { FuzzRandom } from './prng.js';
import { weirdString } from './values.js';

export interface HttpCase extends FuzzCase {
  bytes: Buffer;
  /** The server can parse it as one complete request and answer it (keep-alive goes on unless it says close). */
  whole: boolean;
  drip?: { chunk: number; delayMs: number };
}

const PATHS = ['/healthz', '/v1/services', '/v1/instances', '/v1/instances?service=g.fuzzcanarx.1.0', '/v1/instances?service=g.nsfuzz0.0.0', '/v1/agents', '/v1/connections'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'PROPFIND', 'get', 'G3T', 'GET\u0000', 'CONNECT'];

interface Req {
  method: string;
  target: string;
  version: string;
  headers: [string, string][];
  body: string;
  eol: string;
}

function base(r: FuzzRandom): Req {
  return { method: r.chance(0.85) ? 'GET' : 'HEAD', target: r.pick(PATHS), version: 'HTTP/1.1', headers: [['Host', 'ns'], ['User-Agent', 'rxmesh-fuzz']], body: '', eol: '\r\n' };
}

/** Percent-encode the UTF-8 bytes of `s` except the characters `keep` matches (lone surrogates too). */
function pct(s: string, keep: RegExp): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && keep.test(c) && c !== '#' && c !== '%' ? c : `%${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function render(q: Req): Buffer {
  const head = [`${q.method} ${q.target} ${q.version}`.trimEnd(), ...q.headers.map(([k, v]) => `${k}: ${v}`)].join(q.eol);
  return Buffer.from(`${head}${q.eol}${q.eol}${q.body}`, 'latin1');
}

/** Mutations that keep the request parseable as one whole request (an answer, maybe 4xx/5xx). */
function parseable(r: FuzzRandom, q: Req): string {
  switch (r.weighted({ method: 2, path: 3, query: 3, version: 1, header: 2, body: 1, many: 0.3 })) {
    case 'method': {
      q.method = r.pick(METHODS.filter((m) => /^[A-Z]+$/.test(m) && m !== 'CONNECT'));
      return `method ${q.method}`;
    }
    case 'path': {
      q.target = r.pick([
        pct(mutateText(r, q.target), /[A-Za-z0-9._~\-/?=&]/), '/', '//v1//services', '/v1/../v1/agents', '/%2e%2e/%2e%2e/etc/passwd', '/v1/instances/', '/V1/SERVICES',
        `/${'a'.repeat(r.pick([100, 4000, 7000]))}`, '/v1/services?', '/healthz?x=%zz', '/%00', '/%ff%fe', 'http://ns/v1/services', '/?' + '&'.repeat(2000),
      ]);
      return `target ${q.target.slice(0, 60)}`;
    }
    case 'query': {
      const v = weirdString(r);
      const enc = pct(v, r.chance(0.7) ? /[A-Za-z0-9._~-]/ : /[!-~]/);
      q.target = r.pick([`/v1/instances?service=${enc}`, `/v1/instances?service=${enc}&service=g.x.1.0`, `/v1/instances?service`, `/v1/instances?service=&x=${enc}`, `/v1/instances?${enc}`]);
      return `target ${q.target.slice(0, 80)}`;
    }
    case 'version':
      q.version = r.pick(['HTTP/1.0', 'HTTP/1.1']);
      if (q.version === 'HTTP/1.0') q.headers.push(['Connection', 'keep-alive']); // or the server closes after it
      return `version ${q.version}`;
    case 'header': {
      const h: [string, string] = r.pick([
        ['Host', ''], ['Host', 'a'.repeat(4096)], ['X-Long', 'x'.repeat(r.pick([1000, 6000]))], ['Accept', '*/*'], ['Connection', 'keep-alive'],
        ['Expect', '100-continue'], ['Content-Type', 'application/json'], ['Cookie', 'a=b; '.repeat(200)], ['X-Forwarded-For', '127.0.0.1, ::1'],
      ] as [string, string][]);
      q.headers.push(h);
      return `header ${h[0]}: ${h[1].slice(0, 30)}${h[1].length > 30 ? `... (${h[1].length})` : ''}`;
    }
    case 'body': {
      q.body = r.pick(['{}', 'x'.repeat(r.pick([1, 100, 65536])), '\u0000\u0001']);
      q.headers.push(['Content-Length', String(Buffer.byteLength(q.body, 'latin1'))]);
      return `a ${q.body.length}-byte body with a true Content-Length`;
    }
    default: {
      const n = r.pick([50, 200]);
      for (let i = 0; i < n; i++) q.headers.push([`X-H${i}`, String(i)]);
      return `${n} extra headers`;
    }
  }
}

/** Mutations after which the request is broken or incomplete: the server answers 400 and closes, or waits. */
function breaking(r: FuzzRandom, q: Req): { desc: string; bytes?: Buffer } {
  switch (r.weighted({ clLie: 2, chunked: 2, te: 1, badHeader: 2, eol: 1, version: 1, method: 1, hugeHead: 1, bytes: 3, truncate: 2, random: 1, smuggle: 1 })) {
    case 'clLie': {
      const cl = r.pick(['-1', '1e3', '0x10', ' 5', '99999999999999999999', '10', '5, 6']);
      q.headers.push(['Content-Length', cl]);
      q.body = r.pick(['', 'abc']);
      return { desc: `Content-Length ${cl} with ${q.body.length} body bytes` };
    }
    case 'chunked': {
      q.headers.push(['Transfer-Encoding', 'chunked']);
      q.body = r.pick(['zz\r\n', 'ffffffffffffffff\r\nabc', '5\r\nabc\r\n0\r\n\r\n', '3\r\nabc\r\n', '-1\r\n\r\n', '0\r\nX-Trailer: \u0000\r\n\r\n', '1;ext=' + 'e'.repeat(5000) + '\r\na\r\n0\r\n\r\n']);
      return { desc: `chunked body ${JSON.stringify(q.body.slice(0, 30))}` };
    }
    case 'te': {
      q.headers.push(['Transfer-Encoding', r.pick(['chunked, gzip', 'identity', 'chunked'])], ['Content-Length', '3']);
      q.body = '0\r\n\r\n';
      return { desc: 'Transfer-Encoding with Content-Length' };
    }
    case 'badHeader': {
      const line = r.pick(['NoColon', ': empty-name', 'Bad Name: x', 'X: a\u0000b', 'X: a\rb', ' folded: x', 'X:\t\u007f', `X-${'n'.repeat(70000)}: 1`]);
      q.headers.push([line, '']);
      return { desc: `header line ${JSON.stringify(line.slice(0, 30))}` };
    }
    case 'eol':
      q.eol = r.pick(['\n', '\r', '\n\r', '\r\r\n']);
      return { desc: `line ending ${JSON.stringify(q.eol)}` };
    case 'version':
      q.version = r.pick(['', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1x', 'HTTP/9.9', 'HTTPS/1.1', 'HTTP/1.1 extra']);
      return { desc: `version '${q.version}'` };
    case 'method':
      q.method = r.pick(['', 'GET\u0000', 'G ET', 'CONNECT', 'M'.repeat(100)]);
      return { desc: `method ${JSON.stringify(q.method.slice(0, 20))}` };
    case 'hugeHead': {
      const n = r.pick([17 * 1024, 70 * 1024, 1024 * 1024]);
      q.headers.push(['X-Huge', 'h'.repeat(n)]);
      return { desc: `a ${n}-byte header` };
    }
    case 'bytes': {
      const b = render(q);
      const n = r.int(1, 6);
      for (let i = 0; i < n; i++) b[r.below(b.length)]! ^= 1 << r.below(8);
      return { desc: `${n} bit(s) flipped`, bytes: b };
    }
    case 'truncate': {
      const b = render(q);
      const at = r.below(b.length);
      return { desc: `truncated to ${at} of ${b.length} bytes`, bytes: b.subarray(0, at) };
    }
    case 'random': {
      const b = r.bytes(r.size(4096));
      return { desc: `${b.length} random bytes`, bytes: b };
    }
    default:
      q.headers.push(['Content-Length', '40'], ['Transfer-Encoding', 'chunked']);
      q.body = '0\r\n\r\nGET /v1/agents HTTP/1.1\r\nHost: ns\r\n\r\n';
      return { desc: 'a request smuggled behind a chunked body with a Content-Length' };
  }
}

/** Case `index` of the name-server HTTP target under `seed`. */
export function makeHttpCase(seed: number, index: number): HttpCase {
  const r = FuzzRandom.forCase(seed, 'ns-http', index);
  const q = base(r);
  switch (r.weighted({ valid: 2, parseable: 5, breaking: 4, drip: 0.3, pipeline: 0.4 })) {
    case 'valid':
      return { index, desc: `${q.method} ${q.target}`, bytes: render(q), whole: true };
    case 'parseable': {
      const d = parseable(r, q);
      return { index, desc: `${q.method} ${q.target.slice(0, 40)}: ${d}`, bytes: render(q), whole: true };
    }
    case 'drip':
      return { index, desc: `${q.method} ${q.target} dripped`, bytes: render(q), whole: true, drip: { chunk: r.int(1, 8), delayMs: r.int(1, 3) } };
    case 'pipeline': {
      const n = r.int(2, 32);
      const bytes = Buffer.concat(Array.from({ length: n }, () => render(base(r))));
      return { index, desc: `${n} requests pipelined in one write`, bytes, whole: false };
    }
    default: {
      const d = breaking(r, q);
      return { index, desc: `${q.method} ${q.target.slice(0, 40)}: ${d.desc}`, bytes: d.bytes ?? render(q), whole: false };
    }
  }
}

/** Consecutive whole requests share a keep-alive connection, up to `max`; a broken one ends it. */
export function groupHttp(cases: HttpCase[], max = 16): HttpCase[][] {
  const out: HttpCase[][] = [];
  let cur: HttpCase[] = [];
  for (const c of cases) {
    cur.push(c);
    if (!c.whole || cur.length >= max) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}
