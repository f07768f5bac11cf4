// Token buckets for POST /v1/events (docs/api.md, "Limits"): one bucket per client address and
// one per org, counted in events. A bucket holds at most `burst` tokens and refills at `rate`
// tokens a second; a rate of 0 turns the limiter off.
//
// A request is let in while its bucket holds at least one token, and then pays for all its
// events, possibly going into debt: a batch larger than the burst is accepted once, and the
// next request waits until the debt is paid. So a client is held to `rate` events a second on
// average whatever its batch size, and nobody needs to know the burst to be able to write.
//
// Keys are attacker-chosen (org ids come from the envelopes), so the number of buckets is
// bounded: past `maxKeys`, full buckets are dropped first (a full bucket is the same as none),
// then the least recently used. Dropping a bucket in debt forgives the debt; the per-client
// bucket still limits whoever made the keys.

export interface TokenBucketOptions {
  /** Tokens added per second; 0 disables the limiter. */
  rate: number;
  /** Most tokens a bucket holds (and what a new bucket starts with). */
  burst: number;
  /** Most buckets kept (default 100,000). */
  maxKeys?: number;
  /** Milliseconds, monotonic; tests pass their own. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(opts: TokenBucketOptions) {
    this.rate = opts.rate;
    this.burst = Math.max(1, opts.burst);
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.now = opts.now ?? (() => performance.now());
  }

  get enabled(): boolean {
    return this.rate > 0;
  }

  /** How many buckets are kept (for tests of the bound). */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Seconds until `key`'s bucket holds a token again: 0 when it holds one now (a request may
   * go ahead). Takes nothing.
   */
  wait(key: string): number {
    if (!this.enabled) return 0;
    const b = this.refill(key);
    return b.tokens >= 1 ? 0 : (1 - b.tokens) / this.rate;
  }

  /** Takes `cost` tokens from `key`'s bucket, into debt if need be. */
  charge(key: string, cost: number): void {
    if (!this.enabled || cost <= 0) return;
    this.refill(key).tokens -= cost;
  }

  /**
   * Takes `cost` tokens when the bucket holds at least one; returns 0 then, else the seconds
   * to wait (and takes nothing).
   */
  take(key: string, cost: number): number {
    const w = this.wait(key);
    if (w === 0) this.charge(key, cost);
    return w;
  }

  private refill(key: string): Bucket {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b) {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
      b.at = now;
      // Most recently used last: the Map's order is the eviction order.
      this.buckets.delete(key);
    } else {
      b = { tokens: this.burst, at: now };
      if (this.buckets.size >= this.maxKeys) this.prune(now);
    }
    this.buckets.set(key, b);
    return b;
  }

  /** Down to three quarters of maxKeys: full buckets first, then the least recently used. */
  private prune(now: number): void {
    const target = Math.floor((this.maxKeys * 3) / 4);
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.rate >= this.burst) this.buckets.delete(k);
    }
    for (const k of this.buckets.keys()) {
      if (this.buckets.size <= target) break;
      this.buckets.delete(k);
    }
  }
}

/** Retry-After in whole seconds (at least 1) for a wait in seconds. */
export function retryAfterSeconds(wait: number): number {
  return Math.max(1, Math.ceil(wait));
}

/**
 * The bucket key of a client address: an IPv4 address as it is (IPv4-mapped IPv6 included), an
 * IPv6 address by its /64 prefix, since one host commonly holds a whole /64.
 */
export function clientKey(address: string): string {
  const a = address.split("%")[0]!.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return mapped[1]!;
  if (!a.includes(":")) return a;
  const [left, right] = a.split("::", 2) as [string, string | undefined];
  const l = left ? left.split(":") : [];
  const r = right ? right.split(":") : [];
  const groups =
    right === undefined ? l : [...l, ...Array(Math.max(0, 8 - l.length - r.length)).fill("0"), ...r];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}
