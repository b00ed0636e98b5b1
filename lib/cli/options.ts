/**
 * Command-line options: each described once (kind, help, default, bounds),
 * parsed with node:util parseArgs for one command, numbers checked, and
 * listed in that command's `--help`. A wrong option or value is a
 * UsageError (exit code 2) naming the option. Adding an option is one entry
 * in a table here and its name in the commands that take it (commands.ts).
 */
import { parseArgs } from 'node:util';

export interface OptionSpec {
  kind: 'string' | 'boolean' | 'int';
  help: string;
  /** Placeholder of the value in the help (FILE, MS, N...). */
  arg?: string;
  /** Applied when the option is not given, and shown in the help. */
  default?: string;
  /** Shown in the help only: the default the library applies (it may depend on other options). */
  shownDefault?: string;
  /** For ints: the smallest and largest value accepted (default 0 and Number.MAX_SAFE_INTEGER). */
  min?: number;
  max?: number;
  /** For ints: a further rule; returns what is wrong, or undefined. */
  check?: (n: number) => string | undefined;
  /** For strings: the values accepted. */
  choices?: readonly string[];
  /** Accepted but not listed in the help (a refused option kept to explain why). */
  hidden?: boolean;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** A command line that cannot be run as given: exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  override readonly name = 'UsageError';
}

/** What one command was given: options by their flag name (defaults applied, ints as numbers), and positionals. */
export class Parsed {
  constructor(private readonly values: Readonly<Record<string, string | boolean | number | undefined>>, readonly positionals: string[]) {}

  str(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  int(name: string): number | undefined {
    const v = this.values[name];
    return typeof v === 'number' ? v : undefined;
  }

  bool(name: string): boolean {
    return this.values[name] === true;
  }

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }
}

export const MAX_PORT = 65535;
const POWER_OF_TWO = (n: number): string | undefined => ((n & (n - 1)) === 0 ? undefined : 'must be a power of two');

/** A port: 0 takes any free one. */
export const port = (help: string, dflt?: string): OptionSpec => ({ kind: 'int', arg: 'PORT', help, max: MAX_PORT, ...(dflt ? { default: dflt } : {}) });
/** Milliseconds, at least `min`. */
export const ms = (help: string, o: Partial<OptionSpec> = {}): OptionSpec => ({ kind: 'int', arg: 'MS', help, min: 1, ...o });
/** A count or a size, 0 or more unless `min` says otherwise. */
export const count = (help: string, o: Partial<OptionSpec> = {}): OptionSpec => ({ kind: 'int', arg: 'N', help, ...o });
export const text = (arg: string, help: string, o: Partial<OptionSpec> = {}): OptionSpec => ({ kind: 'string', arg, help, ...o });
export const flag = (help: string): OptionSpec => ({ kind: 'boolean', help });
export const ringBytes = (help: string): OptionSpec => count(help, { min: 1024, shownDefault: '1048576', check: POWER_OF_TWO });

/** Parse `args` for `command` against its table: unknown options, missing values and bad numbers throw UsageError. */
export function parseOptions(command: string, table: OptionTable, args: string[], positionals: { min: number; max: number }): Parsed {
  let raw: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    raw = parseArgs({
      args,
      options: Object.fromEntries(Object.entries(table).map(([name, o]) =>
        [name, { type: o.kind === 'boolean' ? 'boolean' as const : 'string' as const, ...(o.default !== undefined ? { default: o.default } : {}) }])),
      allowPositionals: positionals.max > 0,
      strict: true,
    }) as typeof raw;
  } catch (err) {
    throw new UsageError(`${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')} (rxmesh ${command} --help lists the options)`);
  }
  if (raw.positionals.length < positionals.min || raw.positionals.length > positionals.max) {
    throw new UsageError(`expected ${positionals.min === positionals.max ? positionals.min : `${positionals.min} to ${positionals.max}`} argument(s), got ${raw.positionals.length} (rxmesh ${command} --help)`);
  }
  const values: Record<string, string | boolean | number | undefined> = { ...raw.values };
  for (const [name, o] of Object.entries(table)) {
    const v = raw.values[name];
    if (o.kind === 'int' && typeof v === 'string') values[name] = toInt(name, v, o);
    if (o.choices && typeof v === 'string' && !o.choices.includes(v)) throw new UsageError(`--${name} '${v}': expected one of ${o.choices.join(', ')}`);
  }
  return new Parsed(values, raw.positionals);
}

function toInt(name: string, v: string, o: OptionSpec): number {
  const min = o.min ?? 0;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
  const n = /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} '${v}': not a whole number (expected ${o.arg ?? 'N'}, ${range})`);
  if (n < min || n > max) throw new UsageError(`--${name} ${n}: out of range (expected ${range})`);
  const wrong = o.check?.(n);
  if (wrong) throw new UsageError(`--${name} ${n}: ${wrong}`);
  return n;
}

/** The option lines of a command's help: `--name ARG   help (default D)`. */
export function describeOptions(table: OptionTable): string {
  const rows = Object.entries(table).filter(([, o]) => !o.hidden).map(([name, o]) => {
    const left = `  --${name}${o.arg ? ` ${o.arg}` : ''}`;
    const dflt = o.default ?? o.shownDefault;
    return [left, `${o.help}${dflt !== undefined ? ` (default ${dflt})` : ''}`] as const;
  });
  const width = Math.min(36, Math.max(...rows.map(([l]) => l.length)) + 2);
  return rows.map(([l, r]) => (l.length + 2 > width ? `${l}\n${' '.repeat(width)}${r}` : `${l.padEnd(width)}${r}`)).join('\n');
}
