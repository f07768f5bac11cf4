// What a client remembers between runs, per log: the last checkpoint it trusted (so that a log
// can never take it back in time or fork it), the org genesis leaves it pinned on first use,
// and the head of every chain it has seen (so that a log can never serve it a shorter history
// than one it already verified). Losing this state is a security event: the client falls back
// to trust on first use.

import { TrustlogError } from "../core/errors.js";

export interface TrustedCheckpoint {
  origin: string;
  size: number;
  /** Base64 root hash. */
  root: string;
  /** The full note (log signature and cosignatures), kept as evidence. */
  note: string;
}

export interface SeenHead {
  seq: number;
  /** Base64 leaf hash of the event at `seq`. */
  leafHash: string;
  index: number;
}

export interface TrustState {
  /** Bumped on every save; compare-and-save uses it to detect a concurrent writer. */
  version: number;
  checkpoint?: TrustedCheckpoint;
  /** org id -> base64 leaf hash of its org.create. */
  genesis: Record<string, string>;
  /** headKey(kind, org, account) -> the latest event seen of that chain. */
  heads: Record<string, SeenHead>;
}

export function emptyTrustState(): TrustState {
  return { version: 0, genesis: {}, heads: {} };
}

/**
 * The trust-store key of a chain: an org's, an account's, or a sub-chain of an org's (its
 * authority, one grant). Kinds are namespaced apart, since an account may carry its org's id
 * (ids never contain a space, but may be equal). A sub-chain's SeenHead.seq is its position in
 * the sub-chain.
 */
export function headKey(kind: "org" | "account" | "authority" | "grant", org: string, sub?: string): string {
  return kind === "org" || kind === "authority" ? `${kind} ${org}` : `${kind} ${org} ${sub}`;
}

/**
 * Persistent trust state, one document per log (keyed by the log's verifier key).
 * `compareAndSave` writes `next` only if the stored version is still `expectedVersion`, and
 * returns false otherwise (the caller reloads and re-verifies); when it returns true the state
 * is durable as far as the medium allows (the file store renames a synced file, IndexedDB
 * commits its transaction).
 */
export interface TrustStore {
  load(log: string): Promise<TrustState>;
  compareAndSave(log: string, expectedVersion: number, next: TrustState): Promise<boolean>;
}

/** Trust state in memory: for tests, and for short-lived clients that accept TOFU per run. */
export class MemoryTrustStore implements TrustStore {
  private readonly states = new Map<string, string>();

  async load(log: string): Promise<TrustState> {
    return this.read(log);
  }

  async compareAndSave(log: string, expectedVersion: number, next: TrustState): Promise<boolean> {
    // Read and write in one synchronous step, so that no other caller interleaves.
    if (this.read(log).version !== expectedVersion) return false;
    this.states.set(log, JSON.stringify({ ...next, version: expectedVersion + 1 }));
    return true;
  }

  private read(log: string): TrustState {
    const text = this.states.get(log);
    return text === undefined ? emptyTrustState() : parseTrustState(text);
  }
}

/** Parses a stored state document, refusing anything that is not one (TRUST_STATE_CORRUPT). */
export function parseTrustState(text: string): TrustState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TrustlogError("TRUST_STATE_CORRUPT", "trust state is not valid JSON");
  }
  const o = v as Partial<TrustState> | null;
  if (
    typeof o !== "object" ||
    o === null ||
    typeof o.version !== "number" ||
    typeof o.genesis !== "object" ||
    o.genesis === null ||
    typeof o.heads !== "object" ||
    o.heads === null
  ) {
    throw new TrustlogError("TRUST_STATE_CORRUPT", "trust state has the wrong shape");
  }
  const c = o.checkpoint;
  if (
    c !== undefined &&
    (typeof c.size !== "number" || typeof c.root !== "string" || typeof c.origin !== "string")
  ) {
    throw new TrustlogError("TRUST_STATE_CORRUPT", "trusted checkpoint has the wrong shape");
  }
  return o as TrustState;
}
