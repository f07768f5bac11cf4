// Which events of a batch the log accepts, and the state after them: a pure function of the
// batch, the state before it and the clock (no database, no I/O), so that every rule of
// admission is tested without a server (test/server/batch.test.ts). The sequencer
// (server/sequencer.ts) loads the state, calls this, looks up the possible resubmissions it
// names, and commits through server/storage/.

import { equalBytes } from "../core/bytes.js";
import { type ErrorCode, isTrustlogError, TrustlogError } from "../core/errors.js";
import { type Envelope, eventSigningBytes, isOrgEventType } from "../core/event.js";
import { leafHash as computeLeafHash } from "../core/merkle.js";
import { applyEvent, type PolicyLimits } from "../core/policy.js";
import type { AccountState, Grant, OrgState, StateView } from "../core/state.js";

export interface SubmitItem {
  envelope: Envelope;
  /** Canonical leaf bytes (core parseEnvelope). */
  leaf: Uint8Array;
  leafHash: Uint8Array;
}

/** What became of one item: appended at `pending`, the same event as at `dupOf`, or refused. */
export type Decision =
  | { error: TrustlogError }
  | { dupOf: number; leafHash: Uint8Array }
  | { pending: number; leafHash: Uint8Array };

export interface BatchDecision {
  decisions: Decision[];
  /** The accepted items in log order: item k is appended at `size + k`. */
  accepted: SubmitItem[];
  /** The records the accepted events changed, as they are after the batch, by key. */
  orgs: Map<string, OrgState>;
  grants: Map<string, Grant>;
  accounts: Map<string, AccountState>;
  /**
   * Items refused with a code after which the event may already be in the log (its position
   * taken, or its time aged past the skew since): the caller looks them up by chain position,
   * and answers an identical event found there as a duplicate (one event, one leaf).
   */
  maybeLogged: number[];
}

export interface BatchContext {
  /** The tree size before the batch: the first accepted item gets this index. */
  size: number;
  /** The clock at admission, Unix seconds. */
  nowSeconds: number;
  skewSeconds: number;
  limits: PolicyLimits;
}

// Refusals after which the event may already be in the log (a resubmission, maybe with another
// set of signatures): its position is taken, or its time has aged past the skew since.
const MAYBE_LOGGED = new Set<ErrorCode>([
  "CHAIN_CONFLICT",
  "ORG_EXISTS",
  "ACCOUNT_EXISTS",
  "SKEW",
  "ACCOUNT_DELETED",
]);

export function grantKey(org: string, id: string): string {
  return `${org} ${id}`;
}

export function accountKey(org: string, id: string): string {
  // Ids cannot contain a space (DESIGN.md §3), so the joined key is unambiguous.
  return `${org} ${id}`;
}

/** A chain position: org chain and account chain of the same id differ by kind. */
export function positionKey(e: Pick<Envelope["event"], "type" | "org" | "subject" | "seq">): string {
  return `${isOrgEventType(e.type) ? "o" : "a"} ${e.org} ${e.subject} ${e.seq}`;
}

/** Whether two envelopes carry the same event (the signed bytes), whatever their signatures. */
export function sameEvent(a: Envelope, b: Envelope): boolean {
  return equalBytes(eventSigningBytes(a.event), eventSigningBytes(b.event));
}

/**
 * Decides every item in order against the state as of its position in the log: the policy
 * (core/policy.ts, with the clock and the admission limits), and one event, one leaf within the
 * batch (the same event twice, under any signatures, is appended once). Items with signatures
 * already checked. Throws only for a bug (an error that is not the policy's).
 */
export function decideBatch(
  items: readonly SubmitItem[],
  state: StateView,
  ctx: BatchContext,
): BatchDecision {
  const decisions: Decision[] = new Array(items.length);
  const orgs = new Map<string, OrgState>();
  const grants = new Map<string, Grant>();
  const accounts = new Map<string, AccountState>();
  const view: StateView = {
    org: (id) => orgs.get(id) ?? state.org(id),
    grant: (org, id) => grants.get(grantKey(org, id)) ?? state.grant(org, id),
    account: (org, id) => accounts.get(accountKey(org, id)) ?? state.account(org, id),
  };
  const inBatch = new Map<string, number>(); // chain position → item appended there
  const accepted: SubmitItem[] = [];
  const maybeLogged: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    // Yeti2022: a leaf hash that does not match its bytes must never enter the tree.
    if (!equalBytes(computeLeafHash(it.leaf), it.leafHash)) {
      decisions[i] = { error: new TrustlogError("MALFORMED", "leaf hash does not match the leaf bytes") };
      continue;
    }
    const index = ctx.size + accepted.length;
    try {
      const change = applyEvent(view, it.envelope, {
        index,
        leafHash: it.leafHash,
        now: ctx.nowSeconds,
        skewSeconds: ctx.skewSeconds,
        signaturesChecked: true,
        limits: ctx.limits,
      });
      if (change.org) orgs.set(change.org.id, change.org);
      if (change.grant) grants.set(grantKey(change.grant.org, change.grant.id), change.grant);
      if (change.account) accounts.set(accountKey(change.account.org, change.account.id), change.account);
      decisions[i] = { pending: index, leafHash: it.leafHash };
      inBatch.set(positionKey(it.envelope.event), i);
      accepted.push(it);
    } catch (e) {
      if (!isTrustlogError(e)) throw e;
      decisions[i] = { error: e };
      // One event, one leaf: the same event under another set of signatures is a resubmission.
      const first = inBatch.get(positionKey(it.envelope.event));
      if (first !== undefined && sameEvent(items[first]!.envelope, it.envelope)) {
        const r = decisions[first] as { pending: number; leafHash: Uint8Array };
        decisions[i] = { dupOf: r.pending, leafHash: r.leafHash };
      } else if (MAYBE_LOGGED.has(e.code)) maybeLogged.push(i);
    }
  }
  return { decisions, accepted, orgs, grants, accounts, maybeLogged };
}
