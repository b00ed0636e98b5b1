/** `rxmesh ls`: services and instances from the name server's HTTP API, as a table. */

interface Row {
  service: string;
  userData: string;
  agentId: string;
  localId: number;
  online: boolean;
}

export async function runLs(http: string): Promise<void> {
  const res = await fetch(new URL('/v1/instances', http));
  if (!res.ok) throw new Error(`${http} answered ${res.status}`);
  const body = (await res.json()) as Row[] | { instances: Row[] };
  const rows = Array.isArray(body) ? body : body.instances;
  const table = [['SERVICE', 'USERDATA', 'AGENT', 'LOCAL', 'STATE'], ...rows.map((r) => [r.service, r.userData, r.agentId, String(r.localId), r.online ? 'online' : 'registered'])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) process.stdout.write(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
  if (rows.length === 0) process.stdout.write('(no instances)\n');
}
