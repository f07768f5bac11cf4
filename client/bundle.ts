// History proof bundles: the JSON a log serves at /v1/orgs/<org>[/accounts/<account>]/proof
// (format in docs/client.md), and their verification against one checkpoint. Everything in a
// bundle is attacker-controlled; verifyBundle trusts nothing but the pinned log key and the
// witness policy, and checks, in this order:
//   1. the log's signature on the checkpoint, and its origin;
//   2. the witness quorum;
//   3. each event: canonical leaf bytes, inclusion in the checkpoint's tree;
//   4. both chains (org, account): seq contiguous from 0, prev = previous leaf hash, indices
//      increasing, every event about the right org and subject;
//   5. every signature and policy rule, by replaying the events in log order with core's policy
//      from the org's creation.
//   6. the lookup proof (core/chain-index.ts): the checkpoint's last leaf is an index leaf whose
//      trie maps the org's and the account's chains to exactly the heads the histories end at,
//      so a history with its tail left out, or a fork the log keeps off to the side, fails;
//   7. each event's time against the log's time in the index leaf that first covers it.
// The trust store (verify-key.ts) adds what one bundle cannot show: that the log never served
// this client an older or different head before.

import { equalBytes, fromBase64, toBase64 } from "../core/bytes.js";
import {
  type ChainHead,
  checkLookup,
  type IndexLeaf,
  type LookupJson,
  parseIndexLeaf,
} from "../core/chain-index.js";
import { type Checkpoint, parseCheckpoint } from "../core/checkpoint.js";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import { type Envelope, isOrgEventType, parseEnvelope } from "../core/event.js";
import { leafHash as computeLeafHash } from "../core/merkle.js";
import { type NoteVerifier, openNote, type ParsedNote, parseVerifierKey } from "../core/note.js";
import { type AccountState, checkCoveredTime, MemoryState, type OrgState } from "../core/policy.js";
import { checkInclusion } from "../core/proof.js";
import { type CompiledWitnessPolicy, checkWitnessQuorum, type Freshness } from "./witness-policy.js";

export interface BundleEventJson {
  index: number;
  /** Base64 of the canonical leaf bytes (the signed envelope's RFC 8785 JSON). */
  envelope: string;
  /** Base64 hashes of the inclusion proof against the bundle's checkpoint. */
  inclusion: string[];
}

export interface HistoryBundleJson {
  version: 1;
  /** The checkpoint note: log signature and witness cosignatures. */
  checkpoint: string;
  org: string;
  account?: string;
  orgEvents: BundleEventJson[];
  accountEvents?: BundleEventJson[];
  /** Present when asked with ?from=N: the proof that the checkpoint extends size N. */
  consistency?: { from: number; hashes: string[] };
  /** The lookup proof of the org's (and account's) chain head as of the checkpoint. */
  lookup: LookupJson;
  /** For each event, the index leaf that first covers it (its batch's last leaf), deduplicated. */
  covers: BundleEventJson[];
}

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
  org: OrgState;
  account?: AccountState;
  orgEvents: VerifiedEvent[];
  accountEvents: VerifiedEvent[];
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
): MemoryState {
  for (const e of events) {
    try {
      state.apply(e.envelope, { index: e.index, leafHash: e.leafHash });
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
  if (typeof bundle !== "object" || bundle === null || bundle.version !== 1)
    throw bad("not a version 1 bundle");
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
  checkChain(orgEvents, opts.org, opts.org, "org");
  if (opts.account !== undefined) {
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
  // Both lists are in index order: one pass pairs each event with the first cover after it
  // (an org of many events must not cost events × covers).
  const covers = decodeCovers(bundle.covers, c);
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
  const state = replay(all);
  // The lookup proof: the histories must end exactly at the heads the log's index proves.
  const headOf = (events: Decoded[]): ChainHead => {
    const last = events[events.length - 1]!;
    return { seq: last.envelope.event.seq, index: last.index, leafHash: last.leafHash };
  };
  const chains: Parameters<typeof checkLookup>[2] = [
    { kind: "org", org: opts.org, claimed: headOf(orgEvents) },
  ];
  if (opts.account !== undefined)
    chains.push({ kind: "account", org: opts.org, account: opts.account, claimed: headOf(accountEvents) });
  const index = checkLookup(c, bundle.lookup, chains);
  const org = state.org(opts.org);
  if (!org) throw new TrustlogError("CHAIN_BROKEN", `org ${opts.org} was never created`);
  const out: VerifiedHistory = {
    ...cp,
    org,
    orgEvents: orgEvents.map(({ index, leafHash, envelope }) => ({ index, leafHash, envelope })),
    accountEvents: accountEvents.map(({ index, leafHash, envelope }) => ({ index, leafHash, envelope })),
    index,
  };
  if (opts.account !== undefined) {
    const account = state.account(opts.org, opts.account);
    if (!account) throw new TrustlogError("CHAIN_BROKEN", `account ${opts.account} was never created`);
    out.account = account;
  }
  return out;
}
