// What the index of chain heads (core/chain-index.ts) holds after an event: the trie entries
// of every chain the event moved. One function, so that the server, auditors, fsck and test
// fixtures all build the same trie from the same state.

import { fromBase64, toBase64 } from "./bytes.js";
import { chainKey, decodeSubchain, encodeChainHead, encodeSubchain } from "./chain-index.js";
import type { KeyEvent } from "./event.js";
import type { ApplyResult } from "./policy.js";
import type { AccountState, Grant, Head, OrgState } from "./state.js";
import { extendSubchain, type Subchain } from "./subchain.js";

export type TrieEntry = readonly [Uint8Array, Uint8Array];

function head(h: Head): Uint8Array {
  return encodeChainHead({ seq: h.seq, index: h.index, leafHash: fromBase64(h.leafHash) });
}

/** An org's entries: its chain's head and its authority sub-chain. */
export function orgEntries(o: OrgState): TrieEntry[] {
  return [
    [chainKey("org", o.id), head(o.head)],
    [chainKey("authority", o.id), encodeSubchain(o.authority)],
  ];
}

export function grantEntry(g: Grant): TrieEntry {
  return [chainKey("grant", g.org, g.id), encodeSubchain(g.chain)];
}

export function accountEntry(a: AccountState): TrieEntry {
  return [chainKey("account", a.org, a.id), head(a.head)];
}

/** The entries an applied event changed (setting an unchanged one again is harmless). */
export function indexEntriesOf(r: ApplyResult): TrieEntry[] {
  const out: TrieEntry[] = [];
  if (r.org) out.push(...orgEntries(r.org));
  if (r.grant) out.push(grantEntry(r.grant));
  if (r.account) out.push(accountEntry(r.account));
  return out;
}

/** The org event types of each sub-chain (core/subchain.ts); every org event is in one. */
export const AUTHORITY_EVENT_TYPES = ["org.create", "admin.add", "admin.remove"] as const;
export const GRANT_EVENT_TYPES = ["grant.issue", "grant.revoke"] as const;

/** The kind of sub-chain an event type extends, or undefined for an account event type. */
export function subchainKind(type: string): "authority" | "grant" | undefined {
  if ((AUTHORITY_EVENT_TYPES as readonly string[]).includes(type)) return "authority";
  if ((GRANT_EVENT_TYPES as readonly string[]).includes(type)) return "grant";
  return undefined;
}

/** Which sub-chain of its org an org event belongs to, or undefined for an account event. */
export function subchainOf(
  e: KeyEvent,
): { kind: "authority"; org: string } | { kind: "grant"; org: string; grant: string } | undefined {
  if (e.type === "grant.issue" || e.type === "grant.revoke")
    return { kind: "grant", org: e.org, grant: e.body.id };
  return subchainKind(e.type) === "authority" ? { kind: "authority", org: e.org } : undefined;
}

/** The trie key of the sub-chain an org event extends, or undefined for an account event. */
export function subchainKeyOf(e: KeyEvent): Uint8Array | undefined {
  const where = subchainOf(e);
  if (!where) return undefined;
  return where.kind === "authority"
    ? chainKey("authority", where.org)
    : chainKey("grant", where.org, where.grant);
}

/** What folding an event into the index needs to know of it (a stored row carries as much). */
export interface ChainEventRef {
  type: string;
  org: string;
  subject: string;
  seq: number;
  /** For grant.issue and grant.revoke: the grant's id (from the body). */
  grant?: string;
}

export function chainEventRef(e: KeyEvent): ChainEventRef {
  const where = subchainOf(e);
  return {
    type: e.type,
    org: e.org,
    subject: e.subject,
    seq: e.seq,
    ...(where?.kind === "grant" ? { grant: where.grant } : {}),
  };
}

/**
 * The index entries of logged events taken one by one, without the policy: what a replica
 * catching up from stored rows, or a test log that appends anything, must fold. It keeps each
 * sub-chain's running state, reading one it has not met yet from `held` (the trie it extends).
 */
export class IndexFolder {
  private readonly subchains = new Map<string, Subchain>();

  constructor(private readonly held: (key: Uint8Array) => Uint8Array | undefined = () => undefined) {}

  entries(e: ChainEventRef, index: number, leafHash: Uint8Array): TrieEntry[] {
    const head = encodeChainHead({ seq: e.seq, index, leafHash });
    const kind = subchainKind(e.type);
    if (kind === undefined) return [[chainKey("account", e.org, e.subject), head]];
    if (kind === "grant" && e.grant === undefined) throw new Error(`a ${e.type} without its grant id`);
    const key = kind === "grant" ? chainKey("grant", e.org, e.grant) : chainKey("authority", e.org);
    const k = toBase64(key);
    let prev = this.subchains.get(k);
    if (prev === undefined) {
      const v = this.held(key);
      prev = v ? decodeSubchain(v) : undefined;
    }
    const next = extendSubchain(prev, index, leafHash);
    this.subchains.set(k, next);
    return [
      [chainKey("org", e.org), head],
      [key, encodeSubchain(next)],
    ];
  }
}
