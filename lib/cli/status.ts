/** `rxmesh status`: a running agent's counters over its control socket: rings, router, pair rings, and each peer link. */
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { Agent } from '../agent/agent.js';
import { FramedConnection } from '../protocol/connection.js';
import { ControlMessage } from '../protocol/control-messages.js';
import { defaultShmDir } from '../protocol/shm-home.js';

type Status = ReturnType<Agent['status']>;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

export async function fetchStatus(shmDir: string): Promise<Status> {
  const socket = createConnection(join(shmDir, 'agent.sock'));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const conn = new FramedConnection(socket, { onMessage: () => undefined });
  try {
    return await conn.request<Status>(ControlMessage.STATUS, {}, 5000);
  } finally {
    conn.close();
  }
}

export async function runStatus(shmDir: string | undefined, json: boolean): Promise<void> {
  const s = await fetchStatus(shmDir ?? defaultShmDir());
  if (json) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return;
  }
  let out = `agent ${s.agentId}${s.links?.address ? ` (links on ${s.links.address})` : ''}\n`;
  out += `epoch ${s.epoch}; malformed records dropped: ${s.malformed}; pair rings: ${s.pairs?.length ?? 0}\n\n`;
  out += table([['INSTANCE', 'LOCAL', 'STATE', 'SENT', 'UNSETTLED', 'BOUNCED', 'RECEIVED', 'QUEUED', 'REFUSED', 'STALLS'],
    ...s.instances.map((i) => [i.id, String(i.localId), i.state, String(i.sent.read), String(i.sent.unsettled), String(i.sent.bounced),
      String(i.received.delivered), String(i.received.queued), String(i.received.refused), String(i.received.stalls)])]);
  if (s.pairs?.length) {
    out += `\n${table([['PAIR (FROM -> TO)', 'STATE', 'WRITTEN', 'READ', 'DEPTH'],
      ...s.pairs.map((p) => [`${p.from} -> ${p.to}`, p.state, String(p.ring.recordsWritten), String(p.ring.recordsRead), String(p.ring.depth)])])}`;
  }
  if (s.links) {
    const inbound = new Map(s.links.in.map((i) => [i.peer, i]));
    const peers = new Set([...s.links.out.map((l) => l.peer), ...inbound.keys()]);
    const rows = [['PEER', 'STATE', 'MSGS OUT', 'BYTES OUT', 'MSGS IN', 'BYTES IN', 'QUEUED', 'RESENDS', 'BOUNCES', 'IN DOUBT', 'RTT']];
    for (const p of peers) {
      const o = s.links.out.find((l) => l.peer === p);
      const i = inbound.get(p);
      rows.push([p, `${o?.state ?? '-'}/${i?.connected ? 'in' : '-'}`, String(o?.msgsOut ?? 0), String(o?.bytesOut ?? 0), String(i?.msgsIn ?? 0), String(i?.bytesIn ?? 0),
        String(o?.queued ?? 0), String(o?.resends ?? 0), String((o?.bounces ?? 0) + (i?.refused ?? 0)), String(o?.inDoubt ?? 0), o?.rttUs ? `${o.rttUs} us` : '-']);
    }
    out += `\n${table(rows)}`;
  }
  process.stdout.write(out);
}
