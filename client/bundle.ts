// History proof bundles: the JSON a log serves at /v1/orgs/<org>[/accounts/<account>]/proof
// (format in docs/client.md), and their verification against one checkpoint. Everything in a
// bundle is attacker-controlled; verifyBundle trusts nothing but the pinned log key and the
// witness policy, and checks, in this order:
//   1. the log's signature on the checkpoint, and its origin;
//   2. the witness quorum;
//   3. each event: canonical leaf bytes, inclusion in the checkpoint's tree;
//   4. the chains: the account's (and for an org's bundle the org's) seq contiguous from 0,
//      prev = previous leaf hash, indices increasing, every event about the right org and
//      subject; for an account's bundle, which carries only the part of the org chain its events
//      are judged by, the org events in log order with increasing seqs from the org.create;
//   5. for an account's bundle, the lookup proofs (core/chain-index.ts) of the org's authority
//      sub-chain and of every grant its events name (core/subchain.ts): what makes the part of
//      the org chain served complete for this account;
//   6. each event's time against the log's time in the index leaf that first covers it;
//   7. every signature and policy rule, by replaying the events in log order with core's policy
//      from the org's creation;
//   8. the lookup proof of the chain's head: the checkpoint's last leaf is an index leaf whose
//      trie maps the org's chain (an org's bundle) or the account's to exactly the head its
//      history ends at, so a history with its tail left out, or a fork the log keeps off to the
//      side, fails.
// The trust store (verify-key.ts) adds what one
// bundle cannot show: that the log never served this client an older or different head before.

import type { BundleEventJson, HistoryBundleJson } from "../core/api-types.js";
import { equalBytes, fromBase64, toBase64 } from "../core/bytes.js";
import {
  type ChainHead,
  type ClaimedChain,
  checkLookup,
  type IndexLeaf,
  parseIndexLeaf,
} from "../core/chain-index.js";
import { type Checkpoint, parseCheckpoint } from "../core/checkpoint.js";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import { type Envelope, isOrgEventType, parseEnvelope } from "../core/event.js";
import { checkCoveredTime } from "../core/event-time.js";
import { subchainOf } from "../core/index-entries.js";
import { MemoryState } from "../core/memory-state.js";
import { leafHash as computeLeafHash } from "../core/merkle.js";
import { type NoteVerifier, openNote, type ParsedNote } from "../core/note.js";
import { parseVerifierKey } from "../core/note-keys.js";
import { checkInclusion } from "../core/proof.js";
import type { AccountState, OrgState } from "../core/state.js";
import { foldSubchain } from "../core/subchain.js";
import { type CompiledWitnessPolicy, checkWitnessQuorum, type Freshness } from "./witness-policy.js";

// The bundle's JSON is declared with the rest of the API's (core/api-types.ts).
export type { BundleEventJson, HistoryBundleJson } from "../core/api-types.js";

export interface VerifiedEvent {
  index: number;
  leafHash: Uint8Array;
  envelope: Envelope;
}

export interface VerifiedCheckpoint {
  checkpoint: Checkpoint;
  note: ParsedNote;
  /** The note text as served (kept as evidence). */
  text: string;
  /** Names of the policy's witnesses that cosigned it. */
  cosigners: string[];
  /** Their cosignature timestamps (Unix seconds), by name. */
  cosignedAt: Record<string, number>;
}

export interface VerifiedHistory extends VerifiedCheckpoint {
  /** The org as replayed; for an account's bundle from a part of its chain (`partialOrg`). */
  org: OrgState;
  account?: AccountState;
  /** The org events served, in log order: the whole chain, or for an account only a part. */
  orgEvents: VerifiedEvent[];
  accountEvents: VerifiedEvent[];
  /** The org's authority sub-chain (org.create, admin.add, admin.remove), complete. */
  authorityEvents: VerifiedEvent[];
  /** The grants served, by id: each one's issue (and revocation), complete. */
  grantEvents: Map<string, VerifiedEvent[]>;
  /**
   * True for an account's bundle: `org.head` and `org.activeGrants` are then those of the part
   * served, not the org's (everything an account's events are judged by is complete).
   */
  partialOrg: boolean;
  /** The index leaf the lookup proof went through (the checkpoint's last leaf). */
  index: IndexLeaf;
}

export interface LogKey {
  /** The log's note verifier key (vkey, type 0x01). */
  vkey: string;
  /** The checkpoint origin; defaults to the key name (they may differ, as for Go's sumdb). */
  origin?: string;
}

/**
 * Checks the log signature, origin and witness quorum of a checkpoint note, and with `fresh`
 * that the quorum's cosignatures are recent enough (CHECKPOINT_STALE).
 */
export function verifyCheckpointNote(
  text: string,
  log: LogKey | (NoteVerifier & { origin?: string }),
  witnesses: CompiledWitnessPolicy,
  fresh?: Freshness,
): VerifiedCheckpoint {
  const verifier = "vkey" in log ? parseVerifierKey(log.vkey) : log;
  const origin = log.origin ?? verifier.name;
  let note: ParsedNote;
  try {
    note = openNote(text, [verifier]);
  } catch (e) {
    if (isTrustlogError(e, "NOTE_MALFORMED")) throw new TrustlogError("CHECKPOINT_MALFORMED", e.message);
    throw new TrustlogError(
      "LOG_SIGNATURE_INVALID",
      `checkpoint not signed by the log key: ${(e as Error).message}`,
    );
  }
  const checkpoint = parseCheckpoint(note.body);
  if (checkpoint.origin !== origin) {
    throw new TrustlogError(
      "ORIGIN_MISMATCH",
      `checkpoint is for ${JSON.stringify(checkpoint.origin)}, not ${JSON.stringify(origin)}`,
    );
  }
  const quorum = checkWitnessQuorum(note, witnesses, fresh);
  return { checkpoint, note, text, cosigners: quorum.cosigners, cosignedAt: quorum.timestamps };
}

interface Decoded {
  index: number;
  leaf: Uint8Array;
  leafHash: Uint8Array;
  envelope: Envelope;
}

function bad(message: string): TrustlogError {
  return new TrustlogError("BUNDLE_MALFORMED", message);
}

// Decodes one bundle event and checks its inclusion in the checkpoint's tree.
function decodeEvent(e: BundleEventJson, cp: Checkpoint): Decoded {
  if (typeof e !== "object" || e === null) throw bad("an event is not an object");
  if (!Number.isSafeInteger(e.index) || e.index < 0)
    throw bad("an event index is not a non-negative integer");
  if (typeof e.envelope !== "string" || !Array.isArray(e.inclusion))
    throw bad(`event ${e.index} is malformed`);
  let leaf: Uint8Array;
  let proof: Uint8Array[];
  try {
    leaf = fromBase64(e.envelope);
    proof = e.inclusion.map((h) => fromBase64(String(h)));
  } catch {
    throw bad(`event ${e.index} has bad base64`);
  }
  let parsed: ReturnType<typeof parseEnvelope>;
  try {
    parsed = parseEnvelope(leaf);
  } catch (err) {
    throw new TrustlogError("EVENT_MALFORMED", `event ${e.index}: ${(err as Error).message}`, {
      index: e.index,
    });
  }
  // A leaf that is not in canonical form cannot have been produced by an honest log.
  if (!equalBytes(parsed.leaf, leaf)) {
    throw new TrustlogError("EVENT_MALFORMED", `event ${e.index} is not canonical JSON`, { index: e.index });
  }
  try {
    checkInclusion(parsed.leafHash, e.index, cp.size, proof, cp.root);
  } catch (err) {
    throw new TrustlogError("INCLUSION_INVALID", `event ${e.index}: ${(err as Error).message}`, {
      index: e.index,
    });
  }
  return { index: e.index, leaf, leafHash: parsed.leafHash, envelope: parsed.envelope };
}

function checkChain(events: Decoded[], org: string, subject: string, kind: "org" | "account"): void {
  let prev: Decoded | undefined;
  events.forEach((e, i) => {
    const ev = e.envelope.event;
    const where = { index: e.index, seq: ev.seq };
    if (ev.org !== org || ev.subject !== subject || isOrgEventType(ev.type) !== (kind === "org")) {
      throw new TrustlogError(
        "CHAIN_BROKEN",
        `event ${e.index} is not an ${kind} event of ${subject}`,
        where,
      );
    }
    if (ev.seq !== i) {
      throw new TrustlogError(
        "CHAIN_BROKEN",
        `${kind} ${subject}: event ${e.index} has seq ${ev.seq}, expected ${i}`,
        where,
      );
    }
    if (prev !== undefined) {
      if (e.index <= prev.index)
        throw new TrustlogError(
          "CHAIN_BROKEN",
          `${kind} ${subject}: indices not increasing at ${e.index}`,
          where,
        );
      if (ev.prev !== toBase64(prev.leafHash)) {
        throw new TrustlogError(
          "CHAIN_BROKEN",
          `${kind} ${subject}: event ${e.index} does not point at its predecessor`,
          where,
        );
      }
    }
    prev = e;
  });
}

/**
 * Replays events (already in log order) with core's policy. Every refusal becomes
 * POLICY_VIOLATION naming the policy's own code and the entry's index.
 */
export function replay(
  events: readonly Decoded[] | readonly VerifiedEvent[],
  state = new MemoryState(),
  how: { orgChainVouched?: boolean } = {},
): MemoryState {
  for (const e of events) {
    try {
      state.apply(e.envelope, { index: e.index, leafHash: e.leafHash, ...how });
    } catch (err) {
      if (!isTrustlogError(err)) throw err;
      throw new TrustlogError(
        "POLICY_VIOLATION",
        `entry ${e.index} breaks the policy: ${err.code}: ${err.message}`,
        {
          index: e.index,
          policyCode: err.code,
        },
      );
    }
  }
  return state;
}

/** Decodes the covering index leaves, each checked for inclusion, sorted by index. */
function decodeCovers(list: unknown, cp: Checkpoint): { index: number; leaf: IndexLeaf }[] {
  if (!Array.isArray(list)) throw bad("covers is missing");
  const out = list.map((e: BundleEventJson) => {
    if (typeof e !== "object" || e === null || !Number.isSafeInteger(e.index) || !Array.isArray(e.inclusion))
      throw bad("a cover is malformed");
    let bytes: Uint8Array;
    let proof: Uint8Array[];
    try {
      bytes = fromBase64(String(e.envelope));
      proof = e.inclusion.map((h) => fromBase64(String(h)));
    } catch {
      throw bad(`cover ${e.index} has bad base64`);
    }
    let leaf: IndexLeaf;
    try {
      leaf = parseIndexLeaf(bytes);
    } catch (err) {
      throw new TrustlogError("EVENT_MALFORMED", `cover ${e.index}: ${(err as Error).message}`, {
        index: e.index,
      });
    }
    if (leaf.size !== e.index) throw bad(`cover ${e.index} says it is at ${leaf.size}`);
    try {
      checkInclusion(computeLeafHash(bytes), e.index, cp.size, proof, cp.root);
    } catch (err) {
      throw new TrustlogError("INCLUSION_INVALID", `cover ${e.index}: ${(err as Error).message}`, {
        index: e.index,
      });
    }
    return { index: e.index, leaf };
  });
  return out.sort((a, b) => a.index - b.index);
}

/** Pairs each event with the first covering index leaf after it and checks its time (SKEW). */
function checkCovers(all: readonly Decoded[], list: unknown, cp: Checkpoint): void {
  // Both lists are in index order: one pass pairs each event with the first cover after it
  // (an org of many events must not cost events × covers).
  const covers = decodeCovers(list, cp);
  let k = 0;
  for (const e of all) {
    while (k < covers.length && covers[k]!.index <= e.index) k++;
    const cover = covers[k];
    if (!cover) throw bad(`no index leaf covers event ${e.index}`);
    try {
      checkCoveredTime(e.envelope.event, cover.leaf.time);
    } catch (err) {
      if (!isTrustlogError(err)) throw err;
      throw new TrustlogError(
        "POLICY_VIOLATION",
        `entry ${e.index} breaks the policy: ${err.code}: ${err.message}`,
        {
          index: e.index,
          policyCode: err.code,
        },
      );
    }
  }
}

/**
 * The org events of an account's bundle: a part of the org chain, so no seq contiguity, but
 * each must be an event of this org, in log order with increasing seqs (a second copy of an
 * earlier event is a step back), starting with the org's creation.
 */
function checkPartialOrgChain(events: Decoded[], org: string): void {
  const sorted = [...events].sort((a, b) => a.index - b.index);
  let prev: Decoded | undefined;
  for (const e of sorted) {
    const ev = e.envelope.event;
    const where = { index: e.index, seq: ev.seq };
    if (ev.org !== org || ev.subject !== org || !isOrgEventType(ev.type))
      throw new TrustlogError("CHAIN_BROKEN", `event ${e.index} is not an org event of ${org}`, where);
    if (prev === undefined && ev.type !== "org.create")
      throw new TrustlogError(
        "CHAIN_BROKEN",
        `org ${org}: the first event served is not its org.create`,
        where,
      );
    if (prev !== undefined && ev.seq <= prev.envelope.event.seq)
      throw new TrustlogError("CHAIN_BROKEN", `org ${org}: seqs not increasing at ${e.index}`, where);
    prev = e;
  }
}

/** The org events split into its sub-chains (core/subchain.ts), each in log order. */
function splitSubchains(events: readonly Decoded[]): {
  authority: Decoded[];
  grants: Map<string, Decoded[]>;
} {
  const authority: Decoded[] = [];
  const grants = new Map<string, Decoded[]>();
  for (const e of [...events].sort((a, b) => a.index - b.index)) {
    const where = subchainOf(e.envelope.event);
    if (!where) continue;
    if (where.kind === "authority") authority.push(e);
    else {
      const list = grants.get(where.grant) ?? [];
      list.push(e);
      grants.set(where.grant, list);
    }
  }
  return { authority, grants };
}

export interface VerifyBundleOptions {
  log: LogKey;
  witnesses: CompiledWitnessPolicy;
  org: string;
  /** Expected for an account bundle; absent for an org bundle. */
  account?: string;
  /** Refuse a checkpoint whose quorum of cosignatures is older than this (CHECKPOINT_STALE). */
  fresh?: Freshness;
}

/** Verifies a bundle in isolation (no trust store: see verify-key.ts for that part). */
export function verifyBundle(bundle: HistoryBundleJson, opts: VerifyBundleOptions): VerifiedHistory {
  const version = opts.account === undefined ? 1 : 2;
  if (typeof bundle !== "object" || bundle === null || bundle.version !== version)
    throw bad(`not a version ${version} bundle`);
  if (bundle.org !== opts.org || (opts.account !== undefined && bundle.account !== opts.account)) {
    throw bad("bundle is about another org or account");
  }
  if (!Array.isArray(bundle.orgEvents)) throw bad("orgEvents is missing");
  if (opts.account !== undefined && !Array.isArray(bundle.accountEvents))
    throw bad("accountEvents is missing");
  const cp = verifyCheckpointNote(String(bundle.checkpoint), opts.log, opts.witnesses, opts.fresh);
  const c = cp.checkpoint;

  const orgEvents = bundle.orgEvents.map((e) => decodeEvent(e, c));
  const accountEvents = opts.account === undefined ? [] : bundle.accountEvents!.map((e) => decodeEvent(e, c));
  if (orgEvents.length === 0) throw new TrustlogError("CHAIN_BROKEN", `org ${opts.org} has no events`);
  if (opts.account === undefined) checkChain(orgEvents, opts.org, opts.org, "org");
  else {
    checkPartialOrgChain(orgEvents, opts.org);
    if (accountEvents.length === 0)
      throw new TrustlogError("CHAIN_BROKEN", `account ${opts.account} has no events`);
    checkChain(accountEvents, opts.org, opts.account, "account");
  }
  // Authority is judged as of each event's position in the log, so replay in index order.
  const all = [...orgEvents, ...accountEvents].sort((a, b) => a.index - b.index);
  for (let i = 1; i < all.length; i++) {
    if (all[i]!.index === all[i - 1]!.index)
      throw new TrustlogError("CHAIN_BROKEN", `two events at index ${all[i]!.index}`);
  }
  const headOf = (events: Decoded[]): ChainHead => {
    const last = events[events.length - 1]!;
    return { seq: last.envelope.event.seq, index: last.index, leafHash: last.leafHash };
  };
  const subchains = splitSubchains(orgEvents);
  let index: IndexLeaf;
  let state: MemoryState;
  if (opts.account === undefined) {
    checkCovers(all, bundle.covers, c);
    state = replay(all);
    // The lookup proof: the history must end exactly at the head the log's index proves.
    index = checkLookup(c, bundle.lookup, [{ kind: "org", org: opts.org, claimed: headOf(orgEvents) }]);
  } else {
    // A part of the org chain: complete only if each sub-chain folds to what the index proves,
    // so that is checked before anything is judged from it (a grant's revocation left out is
    // HISTORY_TRUNCATED, not a misleading verdict on the events it would have refused).
    const subs: ClaimedChain[] = [
      { kind: "authority", org: opts.org, claimed: foldSubchain(subchains.authority) },
    ];
    const grants = new Set(subchains.grants.keys());
    for (const e of accountEvents) {
      const actor = e.envelope.event.actor;
      if (actor.role === "delegate") grants.add(actor.grant);
    }
    for (const g of grants) {
      subs.push({
        kind: "grant",
        org: opts.org,
        grant: g,
        claimed: foldSubchain(subchains.grants.get(g) ?? []),
      });
    }
    checkLookup(c, bundle.lookup, subs);
    checkCovers(all, bundle.covers, c);
    state = replay(all, new MemoryState(), { orgChainVouched: true });
    // Then, as for an org, the account's history must end exactly at the head the index proves.
    index = checkLookup(c, bundle.lookup, [
      { kind: "account", org: opts.org, account: opts.account, claimed: headOf(accountEvents) },
    ]);
  }
  const org = state.org(opts.org);
  if (!org) throw new TrustlogError("CHAIN_BROKEN", `org ${opts.org} was never created`);
  const strip = ({ index, leafHash, envelope }: Decoded): VerifiedEvent => ({ index, leafHash, envelope });
  const grantEvents = new Map<string, VerifiedEvent[]>();
  for (const [g, list] of subchains.grants) grantEvents.set(g, list.map(strip));
  const out: VerifiedHistory = {
    ...cp,
    org,
    orgEvents: [...orgEvents].sort((a, b) => a.index - b.index).map(strip),
    accountEvents: accountEvents.map(strip),
    authorityEvents: subchains.authority.map(strip),
    grantEvents,
    partialOrg: opts.account !== undefined,
    index,
  };
  if (opts.account !== undefined) {
    const account = state.account(opts.org, opts.account);
    if (!account) throw new TrustlogError("CHAIN_BROKEN", `account ${opts.account} was never created`);
    out.account = account;
  }
  return out;
}
