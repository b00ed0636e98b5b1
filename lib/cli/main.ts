/**
 * The rxmesh command: `rxmesh <command> [options]`, the commands and their
 * options in commands.ts. `rxmesh --help` lists the commands, `rxmesh
 * <command> --help` its options with their defaults.
 *
 * Exit codes: 0 done (servers: stopped by a signal), 1 failed, 2 a command
 * line that cannot be run (unknown command or option, a bad value: the
 * message names the option).
 */
import { CliLog, type CliLogFormat, type CliLogLevel } from './cli-logger.js';
import { COMMANDS, type Command } from './commands.js';
import { describeOptions, flag, parseOptions, UsageError } from './options.js';

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  return `usage: rxmesh <command> [options]\n\ncommands:\n${Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}${c.summary}`).join('\n')}\n\n` +
    'rxmesh <command> --help lists its options and their defaults. The servers (ns, agent, up) log to stderr:\n' +
    '--log-level trace|debug|info|warn|error|fatal (default info), --log-format pretty|json (default pretty).\n';
}

function help(c: Command): string {
  const about = c.about ? `${c.about}\n` : '';
  return `usage: rxmesh ${c.usage}\n\n${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.\n${about}\noptions:\n${describeOptions({ ...c.options, help: flag('this help') })}\n`;
}

const [name, ...rest] = process.argv.slice(2);
const wantsHelp = (args: string[]): boolean => args.includes('--help') || args.includes('-h');

let log: CliLog | undefined;
try {
  if (name === undefined || name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    process.stdout.write(usage());
  } else if (name === 'help' && COMMANDS[rest[0]!]) {
    process.stdout.write(help(COMMANDS[rest[0]!]!));
  } else {
    const command = COMMANDS[name];
    if (!command) throw new UsageError(`unknown command '${name}'\n${usage()}`);
    if (wantsHelp(rest)) {
      process.stdout.write(help(command));
    } else {
      const p = parseOptions(name, command.options, rest, command.positionals);
      if (p.has('mesh-secret')) {
        // Every user of the host can read a process's command line (/proc/<pid>/cmdline).
        throw new UsageError('--mesh-secret would show the secret to every user of this host (ps, /proc/<pid>/cmdline); ' +
          'put it in a file only the agent\'s user can read and pass --mesh-secret-file FILE, or set RXMESH_MESH_SECRET');
      }
      log = new CliLog((p.str('log-level') ?? 'info') as CliLogLevel, (p.str('log-format') ?? 'pretty') as CliLogFormat);
      await command.run(p, log);
    }
  }
} catch (err) {
  const msg = `rxmesh ${name}: ${(err as Error).message}`;
  // with --log-format json, stderr stays JSON: the failure is one fatal record
  if (log?.format === 'json') log.fatal(msg);
  else process.stderr.write(`${msg}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
