/**
 * Drain: an instance's graceful exit, for rolling deploys (NATS `drain()`,
 * Moleculer's graceful stop). `inst.drain({ timeoutMs })`:
 *
 *   1. leaves routing at once: DRAIN to the agent, which deregisters it
 *      (every watcher, on this agent or another, sees it offline with reason
 *      `draining`, so stateless sends pick others and a sticky `via` falls
 *      back) but keeps it a destination: what senders had addressed to it
 *      before they heard is still delivered, through the agent or a pair ring;
 *   2. keeps reading and answering: it is done once it has been quiet for
 *      `quietMs` after the registry took its deregistration: nothing handed
 *      out, nothing unread in its rings, no request it was handed left
 *      unanswered. The quiet window is for the senders that routed to it just
 *      before their offline event arrived (a few ms on one host);
 *   3. closes as close() does. At `timeoutMs` it closes whatever is left:
 *      what is still unread is bounced to its senders (`offline`), as today.
 *
 * A sender whose request still lands after the close (its offline event
 * later than the quiet window) gets it back `offline`, which proves it was
 * never handed out; a request addressed to a service is then re-sent once to
 * another instance (instance.ts `request`), so nothing is lost or duplicated.
 *
 * The drain itself reads no message and holds no timer but its poll; it sees
 * the instance through DrainTarget only.
 */
import { BadArgumentError } from '../protocol/errors.js';

/** How an instance drains (Instance.drain, Mesh.drain). */
export interface DrainOptions {
  /** The longest the drain waits before it closes the instance anyway (what is unread then is bounced). Default 30000. */
  timeoutMs?: number;
  /** How long the instance must have been quiet, after its offline was published, before it closes. Default 250. */
  quietMs?: number;
}

/** The default `timeoutMs` of a drain: 30 s. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** The default `quietMs` of a drain: 250 ms. */
export const DEFAULT_DRAIN_QUIET_MS = 250;
/** How often the drain looks at its instance's counters. */
const POLL_MS = 5;

/** What a drain sees of its instance. */
export interface DrainTarget {
  /** DRAIN: out of the registry, still a destination. False when its agent does not speak DRAIN (the drain is then a close). */
  leaveRouting(): Promise<boolean>;
  /** Still open (not closing, closed or suspended): a close from elsewhere ends the drain. */
  open(): boolean;
  /** Messages handed out to messages$ so far (a counter). */
  handedOut(): number;
  /** Requests handed out and not answered yet. */
  owed(): number;
  /** Some ring it reads holds messages not handed out yet. */
  unread(): boolean;
  close(): Promise<void>;
}

/** The options checked, with their defaults; BadArgumentError names a bad one. */
export function drainOptions(opts: DrainOptions): Required<DrainOptions> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  const quietMs = opts.quietMs ?? DEFAULT_DRAIN_QUIET_MS;
  for (const [name, v] of [['timeoutMs', timeoutMs], ['quietMs', quietMs]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new BadArgumentError(`drain ${name} ${String(v)}: a number of milliseconds, 0 or more`);
  }
  return { timeoutMs, quietMs };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run one drain to its end (the instance closed). Never rejects: a failed step still ends in close(). */
export async function drain(target: DrainTarget, opts: Required<DrainOptions>): Promise<void> {
  const deadline = performance.now() + opts.timeoutMs;
  let left = false;
  try {
    left = await Promise.race([target.leaveRouting(), sleep(opts.timeoutMs).then(() => false)]);
  } catch { /* the agent is gone or refused: close as we would anyway */ }
  let seen = target.handedOut();
  let quietSince = performance.now();
  while (left && target.open() && performance.now() < deadline) {
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - performance.now())));
    const now = performance.now();
    if (target.handedOut() !== seen || target.owed() > 0 || target.unread()) {
      seen = target.handedOut();
      quietSince = now;
    } else if (now - quietSince >= opts.quietMs) break;
  }
  await target.close();
}
