/**
 * Logger: the one logging interface of the library. The agent, the name
 * server, the registries and `connect()` take one; every line has a level:
 *
 *   error  a fault: something broke that should not (a listener threw, an unreadable ring)
 *   warn   a refusal, a limit, a lost peer: the system copes, an operator may want to know
 *   info   lifecycle: started, a lease taken, a link up, reconnected
 *   debug  chatty detail an operator turns on to follow one thing
 *
 * `msg` always carries the whole story in words (a logger that ignores
 * `fields` loses nothing); `fields` repeats the parts worth querying
 * (`peer`, `agentId`, `instance`, ...). `console` fits as it is, and so does
 * any logger with these four methods. pino (and bunyan) take the object
 * first: passed as they are, they print `msg` and drop `fields`;
 * `objectFirst(pinoLogger)` keeps both. Nothing on the per-message path logs.
 */

/** The queryable parts of a log line (`peer`, `agentId`, `instance`...). */
export type LogFields = Record<string, unknown>;

/** Where rxmesh logs: four levels, each `(msg, fields?)` (`console` fits). */
export interface Logger {
  /** A fault: a listener threw, an unreadable ring. */
  error(msg: string, fields?: LogFields): void;
  /** A refusal, a limit, a lost peer: the system copes. */
  warn(msg: string, fields?: LogFields): void;
  /** Lifecycle: serving, a lease taken, reconnected, stopping. */
  info(msg: string, fields?: LogFields): void;
  /** Detail: an idle link closed, a failed redial. */
  debug(msg: string, fields?: LogFields): void;
}

/** A level's name. */
export type LogLevel = keyof Logger;

/** What the library's options take: a Logger, or (as before levels) a function of the line, given every level. */
export type LogOption = Logger | ((msg: string) => void);

/** A logger of the pino / bunyan shape: the fields first, then the message. */
export interface ObjectFirstLogger {
  /** pino's `logger.error(fields, msg)`. */
  error(fields: object, msg?: string): void;
  /** pino's `logger.warn(fields, msg)`. */
  warn(fields: object, msg?: string): void;
  /** pino's `logger.info(fields, msg)`. */
  info(fields: object, msg?: string): void;
  /** pino's `logger.debug(fields, msg)`. */
  debug(fields: object, msg?: string): void;
}

const LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

/** Says nothing: the default of the client and the registries. */
export const silentLogger: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/** A Logger from what an option gave (`fallback` when nothing). A plain function gets every level's line. */
export function toLogger(option: LogOption | undefined, fallback: Logger = silentLogger): Logger {
  if (option === undefined) return fallback;
  if (typeof option !== 'function') return option;
  const line = (msg: string): void => option(msg);
  return { error: line, warn: line, info: line, debug: line };
}

/** A Logger over a pino-style logger (`logger.warn(fields, msg)`), keeping the fields as fields. */
export function objectFirst(logger: ObjectFirstLogger): Logger {
  const out = {} as Logger;
  for (const level of LEVELS) out[level] = (msg, fields) => logger[level](fields ?? {}, msg);
  return out;
}

/** Writes `<prefix>LEVEL msg` lines to stderr, all but debug: the default of an Agent or NameServer made in code. */
export function stderrLogger(prefix: string): Logger {
  const write = (level: string) => (msg: string): void => void process.stderr.write(`${prefix}${level} ${msg}\n`);
  return { error: write('ERROR'), warn: write('WARN'), info: write('INFO'), debug: () => {} };
}
