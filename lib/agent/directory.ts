/**
 * Directory: what the agent knows of instances by address, for RESOLVE (the
 * names of a message's sender). Local instances are the agent's own; remote
 * ones are remembered while online (seen through watches), and the last
 * GONE_KEPT that went offline are kept, since a sender may be gone before its
 * receiver asks who it was.
 */
import type { InstanceInfo } from '../protocol/control-bodies.js';
import { instanceId } from '../protocol/names.js';
import type { InstanceRecord } from '../protocol/registry-messages.js';
import type { LinkTable } from './links/link-table.js';
import type { NodeTable } from './node-table.js';

/** Instances that went away, kept for RESOLVE. */
const GONE_KEPT = 1024;

export class Directory {
  /** Remote instances seen through watches while online, by `node:localId`. */
  private readonly known = new Map<string, InstanceInfo>();
  /** The last GONE_KEPT instances that went offline, local or remote. */
  private readonly gone = new Map<string, InstanceInfo>();

  /**
   * @param local a local instance's names by local id
   * @param links the peer links, which learn a remote agent's address from its records (none without links)
   */
  constructor(
    private readonly epoch: number,
    private readonly nodes: NodeTable,
    private readonly local: (localId: number) => InstanceInfo | undefined,
    private readonly links: () => LinkTable | undefined,
  ) {}

  /** A registry record as this agent's apps address it (its node number here); a remote one is remembered, and its agent's address given to the links. */
  toInfo(r: InstanceRecord): InstanceInfo {
    const info: InstanceInfo = {
      service: r.service,
      userData: r.userData,
      id: instanceId(r.service, r.userData),
      agentId: r.agentId,
      node: this.nodes.nodeOf(r.agentId, r.epoch),
      localId: r.localId,
      epoch: this.epoch,
    };
    this.links()?.learn(r, info.node);
    if (info.node !== 0) this.known.set(`${info.node}:${info.localId}`, info);
    return info;
  }

  resolve(node: number, localId: number): InstanceInfo | undefined {
    const key = `${node}:${localId}`;
    return (node === 0 ? this.local(localId) : this.known.get(key)) ?? this.gone.get(key);
  }

  /** Offline: no longer kept as known, but among the last GONE_KEPT gone. */
  wentAway(info: InstanceInfo): void {
    const key = `${info.node}:${info.localId}`;
    this.known.delete(key);
    this.gone.delete(key);
    this.gone.set(key, info);
    if (this.gone.size > GONE_KEPT) this.gone.delete(this.gone.keys().next().value!);
  }
}
