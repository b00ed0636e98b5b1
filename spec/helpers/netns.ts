/**
 * Other "hosts" for specs: network namespaces (`ip netns`, needs root), each
 * joined to the spec's own namespace (host 1) by a veth pair on a /30 of its
 * own, with a default route back through host 1, so every address of host 1
 * is reachable from it (the other namespaces only where host 1 forwards,
 * net.ipv4.ip_forward). Names and subnets are unique per spec process. remove() deletes
 * the namespaces (which takes their veth pairs with them) and makes sure no
 * veth end is left on host 1; it runs again when the spec process exits.
 *
 *   const hosts = new NetHosts('rxm-x');
 *   const h2 = hosts.add();          // { netns, here: host 1's end, there: the namespace's address }
 *   startInNetns(h2.netns, 'lib/cli/main.ts', ['agent', ...]);
 *   hosts.remove();
 */
import { execFileSync } from 'node:child_process';
import { repoRoot, startCommand, type Fixture } from './process.js';

/** One namespace: `here` is host 1's address on its link, `there` the namespace's. */
export interface NetHost {
  netns: string;
  here: string;
  there: string;
  /** host 1's end of the veth pair */
  veth: string;
}

const ip = (...args: string[]): string => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
const inNs = (netns: string, ...args: string[]): string => ip('netns', 'exec', netns, 'ip', ...args);

const live = new Set<NetHosts>();
process.on('exit', () => {
  for (const h of live) h.remove();
});

/** Namespaces made by this process so far: each gets the next /30 of its /24 and names of its own. */
let count = 0;
/** 10.B.C.0/24 of this process. */
const PREFIX = `10.${100 + ((process.pid >> 8) % 100)}.${process.pid % 256}`;

export class NetHosts {
  private readonly made: NetHost[] = [];
  private readonly ever: NetHost[] = [];

  /** `tag` names the namespaces (`tag-pid-N`); keep it short and distinct per spec file. */
  constructor(private readonly tag: string) {}

  /** A new namespace with a veth pair to host 1 (lo up, a default route via host 1). */
  add(): NetHost {
    const n = count++;
    if (n >= 64) throw new Error('NetHosts: at most 64 namespaces per process');
    const netns = `${this.tag}-${process.pid}-${n}`;
    const veth = `rxv${process.pid % 1_000_000}n${n}`;
    const host: NetHost = { netns, here: `${PREFIX}.${4 * n + 1}`, there: `${PREFIX}.${4 * n + 2}`, veth: `${veth}a` };
    live.add(this);
    ip('netns', 'add', netns);
    this.made.push(host);
    this.ever.push(host);
    ip('link', 'add', `${veth}a`, 'type', 'veth', 'peer', 'name', `${veth}b`);
    ip('link', 'set', `${veth}b`, 'netns', netns);
    ip('addr', 'add', `${host.here}/30`, 'dev', `${veth}a`);
    ip('link', 'set', `${veth}a`, 'up');
    inNs(netns, 'addr', 'add', `${host.there}/30`, 'dev', `${veth}b`);
    inNs(netns, 'link', 'set', `${veth}b`, 'up');
    inNs(netns, 'link', 'set', 'lo', 'up');
    inNs(netns, 'route', 'add', 'default', 'via', host.here);
    return host;
  }

  /** Delete every namespace made here and any veth end left on host 1. Idempotent; never throws. */
  remove(): void {
    for (const h of this.made.splice(0)) {
      try {
        ip('netns', 'del', h.netns); // takes the veth pair with it
      } catch { /* already gone */ }
      try {
        ip('link', 'del', h.veth);
      } catch { /* gone with the namespace */ }
    }
    live.delete(this);
  }

  /** Namespaces and host-1 veth ends ever made here that still exist (a leak check after remove()). */
  leftover(): { netns: string[]; veths: string[] } {
    const names = ip('netns', 'list').split('\n').map((l) => l.split(' ')[0]!);
    const links = ip('-o', 'link', 'show').split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
    return {
      netns: this.ever.map((h) => h.netns).filter((n) => names.includes(n)),
      veths: this.ever.map((h) => h.veth).filter((v) => links.includes(v)),
    };
  }
}

/**
 * Can this process make network namespaces? Without (not root, no CAP_SYS_ADMIN)
 * the spec is skipped with a loud message; under CI (CI=true) that is a failure.
 */
export function netnsSpecsEnabled(file: string): boolean {
  const probe = `rxm-probe-${process.pid}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return true;
  } catch (err) {
    const why = ((err as { stderr?: string }).stderr || (err as Error).message).trim();
    if (process.env['CI']) throw new Error(`${file}: cannot create a network namespace under CI (run the specs as root): ${why}`);
    process.stderr.write(`\n*** SKIPPED ${file}: cannot create network namespaces (\`ip netns add\`: ${why}); run as root ***\n\n`);
    return false;
  }
}

/** Run a script (relative to the repository root) with tsx inside namespace `netns`: a process of that host. */
export function startInNetns(netns: string, script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Fixture {
  return startCommand('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', `${repoRoot}${script}`, ...args], { cwd: repoRoot, env });
}
