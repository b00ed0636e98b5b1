/**
 * The results of a bench/compare.ts run, as a Markdown report (the same text
 * is printed and written to bench/results/compare-<pin>.md) and as a chart
 * (chart.ts; bench/results/compare-<pin>.svg): round-trip p50/p99 per system,
 * throughput per size per system on a log scale.
 */
import { chartSvg } from './chart.js';
import type { IdleResult } from './compare-idle.js';
import type { Pin } from './compare-procs.js';
import type { RttRow, RttSystem } from './compare-rtt.js';
import { TP_SYSTEMS, type TpRow, type TpSystem } from './compare-throughput.js';
import { DEFAULT_REPLY_SPIN_US } from '../lib/index.js';

export interface Results {
  pin: Pin;
  date: Date;
  cpu: string;
  nproc: number;
  /** The 1-minute load average when the run started and when it ended (other work on the machine). */
  load: [number, number];
  reps: number;
  command: string;
  rtt?: { rows: RttRow[]; count: number; warmup: number; size: number };
  throughput?: { rows: TpRow[]; seconds: number };
  idle?: IdleResult;
}

const sizeName = (bytes: number): string => (bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`);
const us = (x: number): string => x.toFixed(1);
const ratio = (x: number): string => (x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** msg/s, three significant digits: 2.56 M, 719 k, 48.2 k. */
export function rate(x: number): string {
  const [v, unit] = x >= 1e6 ? [x / 1e6, ' M'] : x >= 1e3 ? [x / 1e3, ' k'] : [x, ''];
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${unit}`;
}

const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;
const rule = (n: number): string => `|${'---|'.repeat(n)}`;

function headline(r: Results): string[] {
  const when = r.date.toISOString().replace('T', ' ').slice(0, 16);
  return [`${when} UTC`, r.cpu, `nproc ${r.nproc}`, `load ${r.load[0].toFixed(1)} → ${r.load[1].toFixed(1)}`, `Node ${process.version}`, `pin ${r.pin}`, `medians of ${r.reps} run${r.reps === 1 ? '' : 's'}`];
}

export function markdown(r: Results): string {
  const out = [`## rxmesh beside its peers (pin: ${r.pin})`, '', `${headline(r).join(' · ')}  `, `\`${r.command}\``];
  if (r.rtt) {
    const { rows, count, warmup, size } = r.rtt;
    const p50 = (s: RttSystem): number => rows.find((x) => x.system === s)!.p50;
    out.push('', `### Round trip, ${sizeName(size)}, one message in flight (${count.toLocaleString('en')} timed after ${warmup.toLocaleString('en')} warm-up)`, '');
    out.push(row(['system', 'p50 µs', 'p99 µs', 'p50 / Unix socket', 'p50 / NATS']), rule(5));
    for (const x of rows) out.push(row([x.system, us(x.p50), us(x.p99), ratio(x.p50 / p50('Unix socket')), ratio(x.p50 / p50('NATS request/reply'))]));
    // the request machinery's own cost: a request that parks like the raw ping does, against the raw ping
    const extra = (p50('rxmesh request/reply, no reply poll') / p50('rxmesh raw (sendTo/reply)') - 1) * 100;
    out.push('', `rxmesh request/reply (no reply poll) over raw sendTo/reply, p50: ${extra >= 0 ? '+' : ''}${extra.toFixed(0)} %; ` +
      `the default request/reply polls for its reply up to ${DEFAULT_REPLY_SPIN_US} µs (connect's replySpinUs)`);
  }
  if (r.throughput) {
    const mine = (t: TpRow, other: TpSystem): string => ratio(t.rates.rxmesh / t.rates[other]);
    out.push('', `### One-way throughput, msg/s (timed runs of about ${r.throughput.seconds} s; every sequence number checked)`, '');
    out.push(row(['size', ...TP_SYSTEMS, 'rxmesh / socket', 'rxmesh / corked', 'rxmesh / NATS', 'rxmesh / ZeroMQ']), rule(TP_SYSTEMS.length + 5));
    for (const t of r.throughput.rows) {
      out.push(row([sizeName(t.size), ...TP_SYSTEMS.map((s) => rate(t.rates[s])),
        mine(t, 'Unix socket'), mine(t, 'Unix socket, corked 64'), mine(t, 'NATS pub/sub'), mine(t, 'ZeroMQ PUSH/PULL')]));
    }
  }
  if (r.idle) {
    out.push('', `### Idle CPU: the agent and two idle apps (one instance each), ${r.idle.seconds} s windows`, '');
    out.push(row(['agent (rxmesh up)', 'both apps']), rule(2), row([`${r.idle.agent.toFixed(2)} %`, `${r.idle.apps.toFixed(2)} %`]));
  }
  return `${out.join('\n')}\n`;
}

export function chart(r: Results): string {
  const notes = [headline(r).join(' · ')];
  if (r.idle) notes.push(`Idle CPU over ${r.idle.seconds} s: agent ${r.idle.agent.toFixed(2)} %, two idle apps ${r.idle.apps.toFixed(2)} % of one CPU`);
  const panels = [];
  if (r.rtt) {
    const rows = r.rtt.rows;
    // a log axis once the p99s dwarf the p50s (a loaded machine), so that both stay readable
    const log = Math.max(...rows.map((x) => x.p99)) > 20 * Math.min(...rows.map((x) => x.p50));
    panels.push({
      title: `Round trip, ${sizeName(r.rtt.size)}, one message in flight (lower is better${log ? '; log scale' : ''})`,
      xLabel: 'system',
      yLabel: 'round trip, µs',
      log,
      groups: rows.map((x) => x.system),
      series: [{ name: 'p50', values: rows.map((x) => x.p50) }, { name: 'p99', values: rows.map((x) => x.p99) }],
      format: (v: number) => v.toFixed(v >= 100 ? 0 : 1),
      tickFormat: (v: number) => String(v),
    });
  }
  if (r.throughput) {
    const rows = r.throughput.rows;
    panels.push({
      title: 'One-way throughput (higher is better; log scale)',
      xLabel: 'payload size',
      yLabel: 'messages per second',
      log: true,
      groups: rows.map((t) => sizeName(t.size)),
      series: TP_SYSTEMS.map((s) => ({ name: s, values: rows.map((t) => t.rates[s]) })),
      format: rate,
      tickFormat: (v: number) => rate(v).replace(/\.0+(?= |$)/, ''),
    });
  }
  return chartSvg({ title: `rxmesh beside its peers, one host (pin: ${r.pin})`, notes, panels });
}
