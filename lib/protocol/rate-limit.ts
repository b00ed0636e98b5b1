/**
 * RateLimiter: token buckets by key (a peer address, an agent and game), for
 * things an attacker would repeat: failed authentication, guesses at a game
 * key. Each key may spend `burst` at once and earns `perSecond` back. Keys
 * are forgotten once their bucket is full again, and at most `maxKeys` are
 * kept (the stalest go first), so a flood of distinct keys costs bounded
 * memory. When a key runs dry, `onLimited` is called once until it recovers
 * (the caller logs it: one line per episode, not one per attempt).
 */

/** Failed authentications one address may make (name-server and link ports alike): 10 at once, then one every 5 s. */
export const FAILED_AUTH_LIMIT: RateLimitOptions = { burst: 10, perSecond: 0.2 };

export interface RateLimitOptions {
  burst: number;
  perSecond: number;
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
  limited: boolean;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxKeys: number;

  constructor(private readonly o: RateLimitOptions, private readonly onLimited: (key: string) => void = () => {}) {
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  /** Would `key` be allowed one more now? Spends nothing; a key that has none left is reported (`onLimited`, once an episode). */
  allowed(key: string): boolean {
    const b = this.refill(key, performance.now());
    if (b.tokens >= 1) return true;
    if (!b.limited) {
      b.limited = true;
      this.onLimited(key);
    }
    return false;
  }

  /** Spend one for `key`; false (and `onLimited` once per episode) when it has none left. */
  take(key: string): boolean {
    const now = performance.now();
    const b = this.refill(key, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.keep(key, b);
      return true;
    }
    if (!b.limited) {
      b.limited = true;
      this.onLimited(key);
    }
    this.keep(key, b);
    return false;
  }

  /** Seconds until `key` may try again (0 when it may now). */
  waitSeconds(key: string): number {
    const b = this.refill(key, performance.now());
    return b.tokens >= 1 ? 0 : Math.ceil((1 - b.tokens) / this.o.perSecond);
  }

  get size(): number {
    return this.buckets.size;
  }

  private refill(key: string, now: number): Bucket {
    const b = this.buckets.get(key);
    if (!b) return { tokens: this.o.burst, at: now, limited: false };
    b.tokens = Math.min(this.o.burst, b.tokens + ((now - b.at) / 1000) * this.o.perSecond);
    b.at = now;
    if (b.tokens >= 1) b.limited = false;
    return b;
  }

  private keep(key: string, b: Bucket): void {
    this.buckets.delete(key); // re-inserted last: the map's order is staleness
    if (b.tokens >= this.o.burst) return;
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
  }
}
