/**
 * The mesh of spec/security/hostile-network.spec.ts, on three hosts: host 1
 * is the spec's own network namespace (`rxmesh up`: the name server and
 * agent 1), host 2 a namespace with `rxmesh agent`, and the attacker's host a
 * third namespace with a veth pair of its own to host 1 (another /30, routed
 * through host 1: it reaches host 1's addresses). The secret is made up for
 * the run; with `tls` every member has a certificate of the mesh CA (IP SAN of
 * its host). Apps: `g.far.1.0` on host 2 answers requests, the victim
 * `g.victim.1.0/v` is online on host 2, and `g.near.1.0` on host 1 watches
 * both, recording every offline event of the victim.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Instance, OfflineInfo } from '../../lib/index.js';
import { startAgent, startUp, type MeshProcess } from '../helpers/mesh.js';
import { NetHosts, startInNetns, type NetHost } from '../helpers/netns.js';
import { makePki, type Issued, type Pki } from '../helpers/pki.js';
import { tempShmDir } from '../helpers/shm.js';
import { next } from '../helpers/wait.js';
import type { Outcomes, Pem, Target } from './outcomes.js';

export const VICTIM = { service: 'g.victim.1.0', userData: 'v' };
export const FAR = 'g.far.1.0';

export interface HostileMesh {
  host2: NetHost;
  attackerHost: NetHost;
  /** host 1's address (the name server's and agent 1's) */
  h1Address: string;
  h1: MeshProcess;
  h2: MeshProcess;
  near: Instance;
  /** offline events of the victim seen by its watcher on host 1, and by the victim itself (replaced) */
  victimOffline: OfflineInfo[];
  /** certificates the attacker may be given: one of another CA, one stolen from the mesh CA */
  rogue: Pem | undefined;
  stolen: Pem | undefined;
}

const pem = (i: Issued): Pem => ({ cert: i.cert.toString('utf8'), key: i.key.toString('utf8') });

/** --tls-* for a member with certificate `i` of the mesh CA `caFile`. */
const tlsArgs = (caFile: string, i: Issued): string[] => ['--tls-ca', caFile, '--tls-cert', i.certFile, '--tls-key', i.keyFile];

export class HostileWorld {
  private readonly hosts = new NetHosts('rxm-hostile');
  private readonly started: MeshProcess[] = [];
  private readonly pids: number[] = [];
  private pki: Pki | undefined;

  constructor(private readonly tls: boolean) {}

  async build(): Promise<HostileMesh> {
    const host2 = this.hosts.add();
    const attackerHost = this.hosts.add();
    const H1 = host2.here;
    const H2 = host2.there;
    const secretFile = join(tempShmDir(), 'mesh-secret');
    writeFileSync(secretFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });

    let tls1: string[] = [];
    let tls2: string[] = [];
    let rogue: Pem | undefined;
    let stolen: Pem | undefined;
    if (this.tls) {
      this.pki = makePki();
      const mesh = this.pki.authority('mesh');
      tls1 = tlsArgs(mesh.caFile, mesh.member('host1', [H1]));
      tls2 = tlsArgs(mesh.caFile, mesh.member('host2', [H2]));
      rogue = pem(this.pki.authority('rogue').member('attacker', [attackerHost.there]));
      stolen = pem(mesh.client('stolen'));
    }

    // host 1: rxmesh up --host H1 --listen H1:0 --mesh-secret-file F   host 2: rxmesh agent --registry ns://H1:PORT --listen H2:0 ...
    const h1 = await startUp({ args: ['--host', H1, '--listen', `${H1}:0`, '--mesh-secret-file', secretFile, ...tls1] });
    this.started.push(h1);
    this.pids.push(h1.fixture.pid);
    const h2 = await startAgent(`ns://${H1}:${h1.ready.ns!.port}`, { netns: host2.netns, args: ['--listen', `${H2}:0`, '--mesh-secret-file', secretFile, ...tls2] });
    this.started.push(h2);
    this.pids.push(h2.fixture.pid);

    const far = (await h2.connect()).instance(FAR, { userData: 'f' });
    await next(far.startup$);
    far.messages$.subscribe((m) => m.reply(new TextEncoder().encode(`far got ${new TextDecoder().decode(m.data)}`)));
    const victim = (await h2.connect()).instance(VICTIM.service, { userData: VICTIM.userData });
    const victimOffline: OfflineInfo[] = [];
    victim.offline$.subscribe((o) => victimOffline.push(o)); // `replaced` if a registration took its name
    await next(victim.startup$);

    const near = (await h1.connect()).instance('g.near.1.0', { userData: 'n', watch: [FAR, VICTIM.service] });
    near.offline$.subscribe((o) => {
      if (o.instance.service === VICTIM.service) victimOffline.push(o);
    });
    await next(near.startup$);
    await next(near.members$(FAR), (l) => l.length > 0);
    await next(near.members$(VICTIM.service), (l) => l.length > 0);
    return { host2, attackerHost, h1Address: H1, h1, h2, near, victimOffline, rogue, stolen };
  }

  /** Run the attacker on its host (without the mesh secret in its environment); its outcomes. */
  async attack(m: HostileMesh, target: Target, guardMs = 120_000): Promise<Outcomes> {
    const env = { ...process.env };
    delete env['RXMESH_MESH_SECRET'];
    const f = startInNetns(m.attackerHost.netns, 'spec/security/fixtures/attacker.ts', [JSON.stringify(target)], env);
    this.pids.push(f.pid);
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<'guard'>((resolve) => (timer = setTimeout(() => resolve('guard'), guardMs)));
    const exit = await Promise.race([f.exited, guard]);
    clearTimeout(timer);
    if (exit === 'guard') {
      await f.kill();
      throw new Error(`the attacker did not finish within ${guardMs} ms: ${f.stdout}${f.stderr}`);
    }
    if (exit.code !== 0) throw new Error(`the attacker failed (${exit.code ?? exit.signal}): ${f.stderr}`);
    return JSON.parse(f.stdout.trim().split('\n').pop() ?? '') as Outcomes;
  }

  /** What of this world is still there: namespaces, veth ends, processes (mesh and attacker). */
  leftover(): { netns: string[]; veths: string[]; processes: number[] } {
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    return { ...this.hosts.leftover(), processes: this.pids.filter(alive) };
  }

  /** Stop the mesh (SIGKILL what has not stopped in 10 s), remove the namespaces and the certificates. */
  async close(): Promise<void> {
    await Promise.allSettled(this.started.splice(0).map(async (p) => {
      const timer = setTimeout(() => void p.kill(), 10_000);
      await p.stop();
      clearTimeout(timer);
    }));
    this.hosts.remove();
    this.pki?.remove();
  }
}

/** What the attacker knows, for a run where attacks 1-5 go over plain TCP or inside TLS with `stolen`. */
export function targetOf(m: HostileMesh, attack: { stolen?: Pem | undefined; rogue?: Pem | undefined }): Target {
  const [linkHost, linkPort] = splitAddress(m.h1.linkAddress);
  return {
    ns: { host: m.h1Address, port: m.h1.ready.ns!.port },
    http: { host: m.h1Address, port: m.h1.ready.ns!.httpPort },
    link: { host: linkHost, port: linkPort, address: m.h1.linkAddress },
    victim: { agentId: m.h2.agentId, address: m.h2.linkAddress, ...VICTIM },
    ...(attack.stolen ? { stolen: attack.stolen } : {}),
    ...(attack.rogue ? { rogue: attack.rogue } : {}),
  };
}

function splitAddress(a: string): [string, number] {
  const i = a.lastIndexOf(':');
  return [a.slice(0, i), Number(a.slice(i + 1))];
}
