/**
 * The spec runner behind `npm test`: uvu's own runner, plus one rule uvu
 * cannot enforce by itself. Every spec file runs in this one process, so a
 * child process a spec forgot (an app, an agent) keeps it alive forever and
 * the run never ends. Once every suite has run, any child still alive fails
 * the run (named, with its command line), is SIGKILLed, and the process exits.
 *   tsx spec/run.ts [dir] [pattern]      (defaults: spec, files ending .spec.ts)
 */
import { parse } from 'uvu/parse';
import { run } from 'uvu/run';
import { leftoverChildren, killChildren } from './helpers/process.js';

const [dir = 'spec', pattern = '\\.spec\\.ts$'] = process.argv.slice(2);
process.env.FORCE_COLOR ??= '1';

const ctx = await parse(dir, pattern, {});
await run(ctx.suites, { bail: false });

const left = leftoverChildren();
if (left.length > 0) {
  process.stderr.write(`\nspec run: ${left.length} child process(es) outlived their spec (a spec must stop what it starts):\n`);
  for (const l of left) process.stderr.write(`  pid ${l.pid}: ${l.command}\n`);
  process.exitCode = 1;
}
await killChildren();
process.exit(process.exitCode ?? 0);
