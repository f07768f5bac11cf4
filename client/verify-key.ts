// verifyKey: the question a sender asks before encrypting to a recipient ("which keys does
// this account have, provably?"), answered only after the whole chain of checks in bundle.ts
// plus the client's own memory (trust-store.ts): the checkpoint must extend the last one this
// client trusted, the org must still have the genesis it pinned, and no chain may be shorter
// than one it saw before. Only when everything holds is the trust state advanced.

import { fromBase64, toBase64 } from "../core/bytes.js";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import { checkConsistency } from "../core/proof.js";
import type { AccountKey, AccountStatus } from "../core/state.js";
import {
  type HistoryBundleJson,
  type LogKey,
  type VerifiedEvent,
  type VerifiedHistory,
  verifyBundle,
} from "./bundle.js";
import { type Fetch, LogClient } from "./log-client.js";
import { headKey, type SeenHead, type TrustState, type TrustStore } from "./trust-store.js";
import {
  type CompiledWitnessPolicy,
  compileWitnessPolicy,
  DEFAULT_MAX_AGE_SECONDS,
  type ReliedStatement,
  reliedStatements,
} from "./witness-policy.js";

export interface LogConfig extends LogKey {
  /** Base URL of the log's HTTP API. */
  url: string;
}

export interface HistoryOptions {
  log: LogConfig;
  /** cosignature/v1 vkeys of the witnesses this client accepts. */
  witnesses: readonly string[];
  /** How many of them must have cosigned the checkpoint. */
  quorum: number;
  /** Auditing witnesses' vkeys, of which `auditorQuorum` (default all) must cosign too (witness-policy.ts). */
  auditors?: readonly string[];
  auditorQuorum?: number;
  org: string;
  store: TrustStore;
  /** Base64 leaf hash of the org's org.create, when known out of band (else pinned on first use). */
  pinnedGenesis?: string;
  fetch?: Fetch;
  /** Where bundles and proofs come from; defaults to the log's HTTP API at `log.url`. */
  source?: HistorySource;
  /** How old the quorum's cosignatures may be (default DEFAULT_MAX_AGE_SECONDS, one hour). */
  maxAgeSeconds?: number;
  /** The clock, milliseconds since the epoch (default Date.now). */
  now?: () => number;
}

/** What verification reads from a log (LogClient over HTTP, or anything that serves bundles). */
export interface HistorySource {
  orgProof(org: string, from?: number): Promise<HistoryBundleJson>;
  accountProof(org: string, account: string, from?: number): Promise<HistoryBundleJson>;
  consistency(from: number, to: number): Promise<Uint8Array[]>;
}

export interface VerifyKeyOptions extends HistoryOptions {
  account: string;
  /** Base64 public key that must be among the account's active keys. */
  key?: string;
  /**
   * Resolve for a suspended, deleted or still invited account too (its keys then listed under
   * `unrevokedKeys` only); by default such an account is refused with ACCOUNT_NOT_ACTIVE.
   */
  allowInactive?: boolean;
}

export interface ActiveKey {
  id: string;
  alg: AccountKey["alg"];
  use: AccountKey["use"];
  pub: string;
  addedIndex: number;
}

export interface VerifyKeyResult {
  org: string;
  account: string;
  status: AccountStatus;
  /** The keys a sender may use now: the unrevoked keys of an active account, oldest first. */
  keys: ActiveKey[];
  /** The keys not revoked, whatever the account's status (equal to `keys` when active). */
  unrevokedKeys: ActiveKey[];
  /** The active key matching `key`, when one was asked for. */
  key?: ActiveKey;
  checkpoint: { origin: string; size: number; root: string };
  cosigners: string[];
  /** The cosigners' timestamps (Unix seconds): how fresh the checkpoint is. */
  cosignedAt: Record<string, number>;
  /** What the accepted cosignatures stated, and by whom (witness-policy.ts reliedStatements). */
  statements: ReliedStatement[];
  /** Base64 leaf hash of the org's creation (pinned). */
  genesis: string;
  /** True when the genesis was pinned by this call (first use, nothing pinned before). */
  genesisFirstUse: boolean;
  /** The lookup proof's index leaf: its index and the log's time (ms) when it was written. */
  index: { index: number; time: number };
  events: { index: number; type: string; seq: number; role: string }[];
}

const MAX_STORE_RETRIES = 5;

/**
 * Fetches and verifies the history of an org (and an account), checks it against the trust
 * store and advances the store. Throws TrustlogError with a stable code on any failure; the
 * store is then left untouched.
 */
export async function verifyHistory(
  opts: HistoryOptions & { account?: string },
  policy: CompiledWitnessPolicy = compileWitnessPolicy(opts),
): Promise<VerifiedHistory> {
  const client = opts.source ?? new LogClient(opts.log.url, opts.fetch ? { fetch: opts.fetch } : {});
  const storeKey = opts.log.vkey;
  for (let attempt = 0; ; attempt++) {
    const state = await opts.store.load(storeKey);
    const from = state.checkpoint?.size;
    const bundle: HistoryBundleJson =
      opts.account === undefined
        ? await client.orgProof(opts.org, from)
        : await client.accountProof(opts.org, opts.account, from);
    const now = Math.floor((opts.now ?? Date.now)() / 1000);
    const verified = verifyBundle(bundle, {
      log: opts.log,
      witnesses: policy,
      org: opts.org,
      fresh: { now, maxAgeSeconds: opts.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS },
      ...(opts.account !== undefined ? { account: opts.account } : {}),
    });
    await checkConsistencyWithTrusted(state, verified, bundle, client);
    const next = advanceTrust(state, verified, opts);
    if (await opts.store.compareAndSave(storeKey, state.version, next)) return verified;
    // Another verification advanced the store meanwhile: check again against what it trusted.
    if (attempt >= MAX_STORE_RETRIES)
      throw new TrustlogError("TRUST_STORE_BUSY", "trust store keeps changing");
  }
}

/** Refuses a checkpoint that is older than, or does not extend, the one this client trusts. */
export async function checkConsistencyWithTrusted(
  state: TrustState,
  verified: VerifiedHistory | { checkpoint: VerifiedHistory["checkpoint"] },
  bundle: Pick<HistoryBundleJson, "consistency"> | undefined,
  client: Pick<HistorySource, "consistency">,
): Promise<void> {
  const trusted = state.checkpoint;
  if (!trusted) return;
  const cp = verified.checkpoint;
  if (cp.size < trusted.size) {
    throw new TrustlogError(
      "ROLLBACK",
      `the log served a checkpoint of size ${cp.size}, older than the trusted size ${trusted.size}`,
      { size: cp.size, trustedSize: trusted.size },
    );
  }
  let proof: Uint8Array[] = [];
  if (cp.size > trusted.size) {
    const given = bundle?.consistency;
    proof =
      given && given.from === trusted.size && Array.isArray(given.hashes)
        ? given.hashes.map((h) => fromBase64(String(h)))
        : await client.consistency(trusted.size, cp.size);
  }
  try {
    checkConsistency(trusted.size, cp.size, fromBase64(trusted.root), cp.root, proof);
  } catch (e) {
    if (!isTrustlogError(e)) throw e;
    throw new TrustlogError(
      "INCONSISTENT",
      `checkpoint of size ${cp.size} does not extend the trusted checkpoint of size ${trusted.size}: ${e.message}`,
      { size: cp.size, trustedSize: trusted.size, trustedNote: trusted.note },
    );
  }
}

function checkSeen(state: TrustState, key: string, name: string, events: VerifiedEvent[]): void {
  const seen: SeenHead | undefined = Object.hasOwn(state.heads, key) ? state.heads[key] : undefined;
  if (!seen) return;
  const same = events[seen.seq];
  if (same === undefined) {
    throw new TrustlogError(
      "HISTORY_TRUNCATED",
      `${name}: the log served ${events.length} events, but event seq ${seen.seq} was seen before`,
      { subject: name, seenSeq: seen.seq, served: events.length },
    );
  }
  if (toBase64(same.leafHash) !== seen.leafHash) {
    throw new TrustlogError(
      "HISTORY_FORKED",
      `${name}: event seq ${seen.seq} differs from the one seen before`,
      {
        subject: name,
        seq: seen.seq,
      },
    );
  }
  // One event, one leaf: an event seen at one index shown at another is a second copy, which
  // would let what it revoked act again in between.
  if (same.index !== seen.index) {
    throw new TrustlogError(
      "HISTORY_FORKED",
      `${name}: event seq ${seen.seq} was seen at index ${seen.index}, now served at ${same.index}`,
      { subject: name, seq: seen.seq, seenIndex: seen.index, servedIndex: same.index },
    );
  }
}

/** The trust state after `verified`, or a GENESIS_MISMATCH / HISTORY_* refusal. */
function advanceTrust(
  state: TrustState,
  verified: VerifiedHistory,
  opts: { org: string; account?: string; pinnedGenesis?: string },
): TrustState {
  const genesis = toBase64(verified.orgEvents[0]!.leafHash);
  const stored = Object.hasOwn(state.genesis, opts.org) ? state.genesis[opts.org] : undefined;
  const pinned = opts.pinnedGenesis ?? stored;
  if (pinned !== undefined && pinned !== genesis) {
    throw new TrustlogError(
      "GENESIS_MISMATCH",
      `org ${opts.org} was created by a different event than the one pinned`,
      {
        pinned,
        served: genesis,
      },
    );
  }
  if (opts.pinnedGenesis !== undefined && stored !== undefined && stored !== genesis) {
    throw new TrustlogError(
      "GENESIS_MISMATCH",
      `org ${opts.org} was created by a different event than the one pinned`,
    );
  }
  // Every chain the bundle holds complete: the org's (an org's bundle only), its authority
  // sub-chain, the grants served and the account's. Each must extend what was seen before.
  const chains: [string, string, VerifiedEvent[]][] = [];
  if (!verified.partialOrg) chains.push([headKey("org", opts.org), `org ${opts.org}`, verified.orgEvents]);
  chains.push([headKey("authority", opts.org), `the authority of org ${opts.org}`, verified.authorityEvents]);
  if (verified.partialOrg)
    for (const [g, list] of verified.grantEvents)
      chains.push([headKey("grant", opts.org, g), `grant ${g} of org ${opts.org}`, list]);
  if (opts.account !== undefined)
    chains.push([
      headKey("account", opts.org, opts.account),
      `account ${opts.account}`,
      verified.accountEvents,
    ]);
  for (const [key, name, list] of chains) checkSeen(state, key, name, list);

  const cp = verified.checkpoint;
  const heads = { ...state.heads };
  // A sub-chain's position is its place in the sub-chain, not the org seq (checkSeen's index).
  const remember = (key: string, events: VerifiedEvent[]) => {
    const last = events[events.length - 1];
    if (last)
      Object.defineProperty(heads, key, {
        value: { seq: events.length - 1, leafHash: toBase64(last.leafHash), index: last.index },
        enumerable: true,
        writable: true,
        configurable: true,
      });
  };
  for (const [key, , list] of chains) remember(key, list);
  const keep = state.checkpoint && state.checkpoint.size === cp.size;
  return {
    version: state.version,
    checkpoint: keep
      ? state.checkpoint
      : { origin: cp.origin, size: cp.size, root: toBase64(cp.root), note: verified.text },
    genesis: Object.defineProperty({ ...state.genesis }, opts.org, {
      value: genesis,
      enumerable: true,
      writable: true,
      configurable: true,
    }),
    heads,
  };
}

/** The account's keys that are not revoked, oldest first. */
export function activeKeys(account: { keys: ReadonlyMap<string, AccountKey> }): ActiveKey[] {
  return [...account.keys.values()]
    .filter((k) => k.revokedIndex === undefined)
    .sort((a, b) => a.addedIndex - b.addedIndex)
    .map((k) => ({ id: k.id, alg: k.alg, use: k.use, pub: k.pub, addedIndex: k.addedIndex }));
}

/**
 * Verifies an account's keys (DESIGN.md §6). Resolves only when every check passed; with
 * `key`, only when that key is active on an active account (KEY_NOT_ACTIVE, ACCOUNT_NOT_ACTIVE).
 */
export async function verifyKey(opts: VerifyKeyOptions): Promise<VerifyKeyResult> {
  const before = await opts.store.load(opts.log.vkey);
  const firstUse = opts.pinnedGenesis === undefined && !Object.hasOwn(before.genesis, opts.org);
  const policy = compileWitnessPolicy(opts);
  const verified = await verifyHistory(opts, policy);
  const account = verified.account!;
  const unrevokedKeys = activeKeys(account);
  const keys = account.status === "active" ? unrevokedKeys : [];
  const cp = verified.checkpoint;
  const result: VerifyKeyResult = {
    org: opts.org,
    account: opts.account,
    status: account.status,
    keys,
    unrevokedKeys,
    checkpoint: { origin: cp.origin, size: cp.size, root: toBase64(cp.root) },
    cosigners: verified.cosigners,
    cosignedAt: verified.cosignedAt,
    statements: reliedStatements(policy, verified.cosigners, verified.cosignedAt, {
      now: Math.floor((opts.now ?? Date.now)() / 1000),
      maxAgeSeconds: opts.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
    }),
    genesis: verified.org.genesis,
    genesisFirstUse: firstUse,
    index: { index: verified.index.size, time: verified.index.time },
    events: [...verified.orgEvents, ...verified.accountEvents]
      .sort((a, b) => a.index - b.index)
      .map((e) => ({
        index: e.index,
        type: e.envelope.event.type,
        seq: e.envelope.event.seq,
        role: e.envelope.event.actor.role,
      })),
  };
  if (account.status !== "active" && !opts.allowInactive) {
    throw new TrustlogError("ACCOUNT_NOT_ACTIVE", `account ${opts.account} is ${account.status}`, {
      status: account.status,
    });
  }
  if (opts.key !== undefined) {
    const match = keys.find((k) => k.pub === opts.key);
    if (!match) {
      if (account.status !== "active") {
        throw new TrustlogError("ACCOUNT_NOT_ACTIVE", `account ${opts.account} is ${account.status}`, {
          status: account.status,
        });
      }
      throw new TrustlogError("KEY_NOT_ACTIVE", `key ${opts.key} is not an active key of ${opts.account}`, {
        keys: keys.map((k) => k.pub),
      });
    }
    result.key = match;
  }
  return result;
}
