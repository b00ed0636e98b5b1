/**
 * NodeTable: the small numbers this agent uses for other agents in envelopes.
 * Node 0 is this agent; each incarnation of another agent (agent id plus
 * epoch) gets 1, 2, ... on first sight, and a number is never given to
 * anything else while this agent runs. So an address (node, local id) an app
 * holds can never come to mean an instance of a restarted peer: that peer is
 * a new node. (Addresses from an earlier incarnation of this agent carry its
 * epoch and are refused by the Router.) Apps only ever talk to their own
 * agent, so the numbers are this agent's own.
 */
export interface AgentIncarnation {
  agentId: string;
  epoch: number;
}

const keyOf = (agentId: string, epoch: number): string => `${agentId}#${epoch}`;

export class NodeTable {
  private readonly byKey = new Map<string, number>();
  private readonly incarnations: AgentIncarnation[] = [];

  constructor(readonly self: AgentIncarnation) {
    this.byKey.set(keyOf(self.agentId, self.epoch), 0);
    this.incarnations.push(self);
  }

  nodeOf(agentId: string, epoch: number): number {
    const key = keyOf(agentId, epoch);
    let n = this.byKey.get(key);
    if (n === undefined) {
      n = this.incarnations.length;
      this.byKey.set(key, n);
      this.incarnations.push({ agentId, epoch });
    }
    return n;
  }

  /** The agent incarnation a node number stands for. */
  agentOf(node: number): AgentIncarnation | undefined {
    return this.incarnations[node];
  }
}
