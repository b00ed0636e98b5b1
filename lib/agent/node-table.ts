/**
 * NodeTable: the small numbers this agent uses for agents in envelopes.
 * Node 0 is this agent; other agents get 1, 2, ... on first sight. Apps only
 * ever talk to their own agent, so the numbers are this agent's own.
 */
export class NodeTable {
  private readonly byId = new Map<string, number>();
  private readonly ids: string[] = [];

  constructor(readonly selfId: string) {
    this.byId.set(selfId, 0);
    this.ids.push(selfId);
  }

  nodeOf(agentId: string): number {
    let n = this.byId.get(agentId);
    if (n === undefined) {
      n = this.ids.length;
      this.byId.set(agentId, n);
      this.ids.push(agentId);
    }
    return n;
  }

  agentOf(node: number): string | undefined {
    return this.ids[node];
  }
}
