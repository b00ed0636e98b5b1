/**
 * Reading the operator endpoints in specs: fetch /metrics, /healthz, /readyz,
 * read samples out of the Prometheus text, and check the text with the real
 * `promtool check metrics` (Debian's `prometheus` package).
 */
import { spawnSync } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** GET `path` on 127.0.0.1:`port`: status and body (status 0: nothing answered, e.g. connection refused). */
export async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

/** The metrics text of a server, or fail. */
export async function scrape(port: number, path = '/metrics'): Promise<string> {
  const res = await get(port, path);
  if (res.status !== 200) throw new Error(`GET ${path} on port ${port}: ${res.status} ${res.body}`);
  return res.body;
}

/** Every sample in Prometheus text format 0.0.4 (label values here hold no escaped quotes). */
export function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The samples of `name` whose labels include `labels`. */
export function find(text: string, name: string, labels: Record<string, string> = {}): Sample[] {
  return samples(text).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of `name` with `labels` (fails if there is none or several). */
export function value(text: string, name: string, labels: Record<string, string> = {}): number {
  const found = find(text, name, labels);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name}${JSON.stringify(labels)}`);
  return found[0]!.value;
}

/** `promtool check metrics` on `text`: its problems, one per line ('' when it finds none). Throws if promtool is missing. */
export function promtool(text: string): { status: number; problems: string } {
  const run = spawnSync(process.env['PROMTOOL'] ?? 'promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error('promtool is not installed: these specs check the metrics text with `promtool check metrics` ' +
      '(Debian/Ubuntu: apt-get install prometheus; .ci/run installs it; or set PROMTOOL=/path/to/promtool)');
  }
  if (run.error) throw run.error;
  return { status: run.status ?? -1, problems: `${run.stdout}${run.stderr}`.trim() };
}

/** Scrape until `ok(text)` (the text), or fail after `ms` naming `what`. */
export async function scrapeUntil(port: number, ok: (text: string) => boolean, what: string, ms = 10_000): Promise<string> {
  const end = performance.now() + ms;
  for (;;) {
    const text = await scrape(port);
    if (ok(text)) return text;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
