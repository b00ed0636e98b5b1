/**
 * The log of the `rxmesh` servers: pino, at `--log-level`, to stderr in
 * `--log-format`:
 *
 *   json    pino's own lines, one JSON object per record
 *           ({"level":40,"time":...,"pid":...,"hostname":...,"component":"agent","msg":...,<fields>})
 *   pretty  one readable line per record: `<ISO time> <LEVEL> [<component>] <msg>`
 *           (the fields are left out: the message already says everything)
 *
 * Writes are synchronous, so nothing is lost when the process exits. Each
 * part of a server gets a child logger with its `component` (ns, agent,
 * registry), adapted to the library's Logger with objectFirst().
 */
import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import { objectFirst, type Logger } from '../protocol/logger.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type CliLogLevel = (typeof LOG_LEVELS)[number];
export type CliLogFormat = (typeof LOG_FORMATS)[number];

export class CliLog {
  private readonly root: Pino;

  constructor(level: CliLogLevel, readonly format: CliLogFormat) {
    const dest: DestinationStream = format === 'json' ? pino.destination({ dest: 2, sync: true }) : { write: (line: string) => void process.stderr.write(prettyLine(line)) };
    this.root = pino({ level }, dest);
  }

  /** The Logger of one part of the server. */
  of(component: string): Logger {
    return objectFirst(this.root.child({ component }));
  }

  /** The command failed: one fatal record. */
  fatal(msg: string): void {
    this.root.fatal({ component: 'rxmesh' }, msg);
  }
}

const LABELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One pino JSON line as `<ISO time> <LEVEL> [<component>] <msg>\n`. */
export function prettyLine(json: string): string {
  const r = JSON.parse(json) as { level: number; time: number; component?: string; msg?: string };
  const label = (LABELS[r.level] ?? String(r.level)).padEnd(5);
  return `${new Date(r.time).toISOString()} ${label} ${r.component ? `[${r.component}] ` : ''}${r.msg ?? ''}\n`;
}
