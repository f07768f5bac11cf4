// The policy: whether a key event may follow the log's state, and the state after it
// (DESIGN.md §3 rules 2-6, decisions in docs/events.md). One function, used by the server before
// sequencing and by every client and auditor on replay, so that all of them agree on every
// entry. It is deterministic: authority is judged as of the event's position in the log and
// grants by the event's own `time`; the clock only enters through ctx.now, at submission.
//
// Checks run in a fixed order so the code a caller gets is stable:
//   signatures → skew → subject exists / is new → chain → subject status → role allowed for
//   the type → actor's authority → signatures cover the roles → body rules.

import { toBase64 } from "./bytes.js";
import { type ErrorCode, TrustlogError } from "./errors.js";
import {
  checkSignatures,
  DELEGABLE_OPS,
  type Envelope,
  type EventOf,
  type EventType,
  isOrgEventType,
  type KeyEvent,
  parseEventTime,
} from "./event.js";
import { DEFAULT_SKEW_SECONDS } from "./event-time.js";
import {
  type AccountKey,
  type AccountState,
  type AccountStatus,
  cloneAccount,
  cloneGrant,
  cloneOrg,
  type Grant,
  type Head,
  type OrgState,
  type StateView,
} from "./state.js";
import { extendSubchain } from "./subchain.js";

/**
 * Limits a log applies when it admits an event (like the clock, never on replay: a verifier
 * cannot know a log's configuration, and an event admitted under one limit stays valid).
 */
export interface PolicyLimits {
  /** Grants an org may hold unrevoked at once. */
  maxActiveGrants: number;
  /** Admins an org may have. */
  maxAdmins: number;
  /** Keys an account may ever have had (revoked keys stay in its record). */
  maxKeysPerAccount: number;
}

export const DEFAULT_LIMITS: PolicyLimits = { maxActiveGrants: 1000, maxAdmins: 32, maxKeysPerAccount: 256 };

export interface ApplyContext {
  /** Log index the event gets (or would get). */
  index: number;
  /** Its RFC 6962 leaf hash (parseEnvelope's leafHash). */
  leafHash: Uint8Array;
  /** The server's clock at submission, Unix seconds; omitted on replay. */
  now?: number;
  /** Allowed |time − now|, default 300 s. */
  skewSeconds?: number;
  /** The caller already ran checkSignatures on this envelope. */
  signaturesChecked?: boolean;
  /** Admission limits (the server's); omitted on replay. */
  limits?: PolicyLimits;
  /**
   * The org's chain is given in part (an account's bounded proof: the authority events and the
   * grants the account's events use), its completeness vouched for by the index's sub-chain
   * digests, which the caller checks. Org events then need only increasing seqs, and a `prev`
   * that matches whenever the previous seq was given too; everything else is judged as usual.
   */
  orgChainVouched?: boolean;
}

/** What an event changed: the records to store (fresh objects), at most one of each. */
export interface ApplyResult {
  org?: OrgState;
  grant?: Grant;
  account?: AccountState;
}

// ---------------------------------------------------------------------------------------------
// Codes: how each is answered (its kind) is in core/error-codes.ts, like every other code.

/** Every code applyEvent and parseEnvelope can throw (docs/events.md lists them). */
export const POLICY_ERROR_CODES = [
  "MALFORMED",
  "TOO_MANY_SIGNATURES",
  "TOO_LARGE",
  "CHAIN_CONFLICT",
  "ORG_EXISTS",
  "ACCOUNT_EXISTS",
  "SIG_INVALID",
  "SIG_UNEXPECTED",
  "SIG_MISSING",
  "ORG_UNKNOWN",
  "ACCOUNT_UNKNOWN",
  "NOT_ADMIN",
  "THRESHOLD_NOT_MET",
  "ROLE_FORBIDDEN",
  "GRANT_UNKNOWN",
  "GRANT_KEY_MISMATCH",
  "GRANT_REVOKED",
  "GRANT_EXPIRED",
  "GRANT_NOT_YET_VALID",
  "GRANT_EXISTS",
  "OUT_OF_SCOPE",
  "OP_NOT_DELEGABLE",
  "DELEGATE_CANNOT_ADD_KEY",
  "ACCOUNT_SUSPENDED",
  "ACCOUNT_DELETED",
  "INVITE_SIG_MISSING",
  "INVITE_KEY_USED",
  "KEY_EXISTS",
  "KEY_UNKNOWN",
  "KEY_REVOKED",
  "ADMIN_EXISTS",
  "ADMIN_UNKNOWN",
  "LAST_ADMIN",
  "WRONG_STATE",
  "SKEW",
  "GRANT_LIMIT",
  "ADMIN_LIMIT",
  "KEY_LIMIT",
] as const satisfies readonly ErrorCode[];

export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[number];

function refuse(code: PolicyErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new TrustlogError(code, message, details);
}

function signers(envelope: Envelope): Set<string> {
  return new Set(envelope.sigs.map((s) => s.key));
}

/**
 * Checks that `required` keys signed, that every other signer is in `allowed`, in that order
 * (SIG_MISSING before SIG_UNEXPECTED).
 */
function coverSigners(
  signed: Set<string>,
  required: { key: string; why: string }[],
  allowed: Set<string>,
): void {
  for (const r of required) {
    if (!signed.has(r.key)) refuse("SIG_MISSING", `${r.why} ${r.key} did not sign`, { key: r.key });
  }
  for (const k of signed) {
    if (!allowed.has(k) && !required.some((r) => r.key === k)) {
      refuse("SIG_UNEXPECTED", `key ${k} signed but plays no role in this event`, { key: k });
    }
  }
}

function chain(event: KeyEvent, head: Head, vouched = false): void {
  // A partial org chain (ApplyContext.orgChainVouched): a gap is allowed, a step back is not,
  // so a second copy of an earlier event can never act again.
  if (vouched && event.seq > head.seq + 1) return;
  if (event.seq !== head.seq + 1 || event.prev !== head.leafHash) {
    refuse(
      "CHAIN_CONFLICT",
      `${event.subject}: expected seq ${head.seq + 1} after ${head.leafHash}, got seq ${event.seq}`,
      { head: { ...head } },
    );
  }
}

/** Whether `subject` is in a grant's accounts: "*" or one of its prefixes. */
export function grantCovers(accounts: readonly string[], subject: string): boolean {
  return accounts.some((a) => a === "*" || subject.startsWith(a));
}

function delegateAuthority(
  view: StateView,
  org: OrgState,
  event: KeyEvent & { actor: { role: "delegate" } },
): void {
  const g = view.grant(org.id, event.actor.grant);
  if (!g) refuse("GRANT_UNKNOWN", `org ${org.id} has no grant ${event.actor.grant}`);
  if (g.delegate !== event.actor.key) {
    refuse("GRANT_KEY_MISMATCH", `grant ${g.id} is not issued to key ${event.actor.key}`);
  }
  if (g.revokedIndex !== undefined)
    refuse("GRANT_REVOKED", `grant ${g.id} was revoked at index ${g.revokedIndex}`);
  const t = parseEventTime(event.time)!;
  if (t < parseEventTime(g.notBefore)!)
    refuse("GRANT_NOT_YET_VALID", `grant ${g.id} is valid from ${g.notBefore}`);
  if (t >= parseEventTime(g.notAfter)!) refuse("GRANT_EXPIRED", `grant ${g.id} expired at ${g.notAfter}`);
  if (!g.ops.includes(event.type)) refuse("OUT_OF_SCOPE", `grant ${g.id} does not allow ${event.type}`);
  if (!grantCovers(g.accounts, event.subject)) {
    refuse("OUT_OF_SCOPE", `grant ${g.id} does not cover account ${event.subject}`);
  }
}

function requireAdmin(org: OrgState, key: string): void {
  if (!org.admins.includes(key)) refuse("NOT_ADMIN", `key ${key} is not an admin of org ${org.id}`);
}

/** The account's active sign key with this public key, or the reason there is none. */
function activeSignKey(account: AccountState, pub: string): AccountKey {
  let revoked: AccountKey | undefined;
  for (const k of account.keys.values()) {
    if (k.pub !== pub || k.use !== "sign") continue;
    if (k.revokedIndex === undefined) return k;
    revoked = k;
  }
  if (revoked)
    refuse("KEY_REVOKED", `key ${revoked.id} of ${account.id} was revoked at index ${revoked.revokedIndex}`);
  return refuse("KEY_UNKNOWN", `key ${pub} is not a sign key of account ${account.id}`);
}

// ---------------------------------------------------------------------------------------------
// Org events.

function applyOrgCreate(
  view: StateView,
  envelope: Envelope,
  e: EventOf<"org.create">,
  head: Head,
  leafHash: Uint8Array,
): ApplyResult {
  if (view.org(e.org)) refuse("ORG_EXISTS", `org ${e.org} already exists`);
  if (e.actor.role !== "admin") refuse("ROLE_FORBIDDEN", "org.create is signed by admins");
  if (!e.body.admins.includes(e.actor.key))
    refuse("NOT_ADMIN", `actor ${e.actor.key} is not one of the org's admins`);
  const signed = signers(envelope);
  const admins = new Set(e.body.admins);
  coverSigners(signed, [{ key: e.actor.key, why: "actor" }], admins);
  const count = [...signed].filter((k) => admins.has(k)).length;
  if (count < e.body.threshold) {
    refuse("THRESHOLD_NOT_MET", `org.create needs ${e.body.threshold} admin signatures, has ${count}`);
  }
  return {
    org: {
      id: e.org,
      name: e.body.name,
      admins: [...e.body.admins],
      threshold: e.body.threshold,
      activeGrants: 0,
      head,
      genesis: head.leafHash,
      authority: extendSubchain(undefined, head.index, leafHash),
    },
  };
}

function applyOrgEvent(
  view: StateView,
  envelope: Envelope,
  event: KeyEvent,
  head: Head,
  leafHash: Uint8Array,
  ctx: ApplyContext,
): ApplyResult {
  const limits = ctx.limits;
  if (event.type === "org.create") return applyOrgCreate(view, envelope, event, head, leafHash);
  const prior = view.org(event.org);
  if (!prior) refuse("ORG_UNKNOWN", `org ${event.org} does not exist`);
  chain(event, prior.head, ctx.orgChainVouched);
  if (event.actor.role === "delegate" && (event.type === "admin.add" || event.type === "grant.issue")) {
    refuse("DELEGATE_CANNOT_ADD_KEY", `a delegate can never sign ${event.type}`);
  }
  if (event.actor.role !== "admin") refuse("ROLE_FORBIDDEN", `${event.type} is signed by admins`);
  requireAdmin(prior, event.actor.key);
  const signed = signers(envelope);
  const admins = new Set(prior.admins);
  const required = [{ key: event.actor.key, why: "actor" }];
  // Proof of possession: a new admin key signs its own admin.add.
  if (event.type === "admin.add") required.push({ key: event.body.key, why: "new admin key" });
  coverSigners(signed, required, admins);
  const count = [...signed].filter((k) => admins.has(k)).length;
  if (count < prior.threshold) {
    refuse("THRESHOLD_NOT_MET", `${event.type} needs ${prior.threshold} admin signatures, has ${count}`);
  }
  const org = cloneOrg(prior);
  org.head = head;
  switch (event.type) {
    case "admin.add":
      if (org.admins.includes(event.body.key))
        refuse("ADMIN_EXISTS", `${event.body.key} is already an admin`);
      if (limits && org.admins.length >= limits.maxAdmins) {
        refuse("ADMIN_LIMIT", `org ${org.id} has ${org.admins.length} admins, the most this log accepts`, {
          limit: limits.maxAdmins,
        });
      }
      org.admins.push(event.body.key);
      org.authority = extendSubchain(org.authority, head.index, leafHash);
      break;
    case "admin.remove":
      if (!org.admins.includes(event.body.key)) refuse("ADMIN_UNKNOWN", `${event.body.key} is not an admin`);
      if (org.admins.length - 1 < org.threshold) {
        refuse(
          "LAST_ADMIN",
          `removing ${event.body.key} would leave fewer admins than the threshold ${org.threshold}`,
        );
      }
      org.admins = org.admins.filter((k) => k !== event.body.key);
      org.authority = extendSubchain(org.authority, head.index, leafHash);
      break;
    case "grant.issue": {
      const b = event.body;
      if (view.grant(org.id, b.id)) refuse("GRANT_EXISTS", `grant ${b.id} already exists`);
      const bad = b.ops.find((op) => !DELEGABLE_OPS.includes(op));
      if (bad) refuse("OP_NOT_DELEGABLE", `${bad} can never be delegated`, { op: bad });
      if (limits && org.activeGrants >= limits.maxActiveGrants) {
        refuse(
          "GRANT_LIMIT",
          `org ${org.id} holds ${org.activeGrants} unrevoked grants, the most this log accepts; revoke one first`,
          { limit: limits.maxActiveGrants },
        );
      }
      const grant: Grant = {
        org: org.id,
        id: b.id,
        delegate: b.delegate,
        ops: [...b.ops],
        accounts: [...b.accounts],
        notBefore: b.notBefore,
        notAfter: b.notAfter,
        note: b.note,
        issuedIndex: head.index,
        chain: extendSubchain(undefined, head.index, leafHash),
      };
      if (b.attestation !== undefined) grant.attestation = b.attestation;
      org.activeGrants++;
      return { org, grant };
    }
    case "grant.revoke": {
      const prior = view.grant(org.id, event.body.id);
      if (!prior) refuse("GRANT_UNKNOWN", `org ${org.id} has no grant ${event.body.id}`);
      if (prior.revokedIndex !== undefined) refuse("GRANT_REVOKED", `grant ${prior.id} is already revoked`);
      const grant = cloneGrant(prior);
      grant.revokedIndex = head.index;
      grant.revokeReason = event.body.reason;
      grant.chain = extendSubchain(grant.chain, head.index, leafHash);
      org.activeGrants--;
      return { org, grant };
    }
  }
  return { org };
}

// ---------------------------------------------------------------------------------------------
// Account events.

const NEXT_STATUS: Partial<Record<EventType, (a: AccountState) => AccountStatus | undefined>> = {
  "account.suspend": (a) => (a.status === "invited" || a.status === "active" ? "suspended" : undefined),
  "account.reactivate": (a) => (a.status === "suspended" ? (a.everActive ? "active" : "invited") : undefined),
  "account.delete": () => "deleted",
};

function applyAccountEvent(
  view: StateView,
  envelope: Envelope,
  event: KeyEvent,
  head: Head,
  limits: PolicyLimits | undefined,
): ApplyResult {
  const org = view.org(event.org);
  if (!org) refuse("ORG_UNKNOWN", `org ${event.org} does not exist`);
  const prior = view.account(event.org, event.subject);
  if (event.type === "account.invite") {
    if (prior) refuse("ACCOUNT_EXISTS", `account ${event.subject} already exists in ${event.org}`);
  } else {
    if (!prior) refuse("ACCOUNT_UNKNOWN", `account ${event.subject} does not exist in ${event.org}`);
    chain(event, prior.head);
    if (prior.status === "deleted") refuse("ACCOUNT_DELETED", `account ${event.subject} is deleted`);
    if (event.type === "key.add" && prior.status === "suspended") {
      refuse("ACCOUNT_SUSPENDED", `account ${event.subject} is suspended`);
    }
    const next = NEXT_STATUS[event.type];
    if (next && next(prior) === undefined) {
      refuse("WRONG_STATE", `${event.type} does not apply to a ${prior.status} account`, {
        status: prior.status,
      });
    }
  }

  // Role allowed for the type; the key.add cases first so a delegate always gets the same code.
  const role = event.actor.role;
  if (event.type === "key.add") {
    if (role === "delegate") refuse("DELEGATE_CANNOT_ADD_KEY", "a delegate can never add a key");
    if (role !== "self") refuse("ROLE_FORBIDDEN", "only the account itself adds its keys");
  } else if (role === "self" && event.type !== "key.revoke") {
    refuse("ROLE_FORBIDDEN", `${event.type} is signed by an admin or a delegate`);
  }

  const signed = signers(envelope);
  const actor = { key: event.actor.key, why: "actor" };
  if (event.type === "key.add") return applyKeyAdd(prior!, event, signed, head, limits);

  if (event.actor.role === "admin") requireAdmin(org, event.actor.key);
  else if (event.actor.role === "delegate")
    delegateAuthority(view, org, event as KeyEvent & { actor: { role: "delegate" } });
  else activeSignKey(prior!, event.actor.key);
  coverSigners(signed, [actor], new Set());

  if (event.type === "account.invite") {
    const account: AccountState = {
      org: event.org,
      id: event.subject,
      status: "invited",
      inviteKey: event.body.inviteKey,
      everActive: false,
      keys: new Map(),
      head,
    };
    if (event.body.externalId !== undefined) account.externalId = event.body.externalId;
    return { account };
  }
  const account = cloneAccount(prior!);
  account.head = head;
  if (event.type === "key.revoke") {
    const k = account.keys.get(event.body.keyId);
    if (!k) refuse("KEY_UNKNOWN", `account ${account.id} has no key ${event.body.keyId}`);
    if (k.revokedIndex !== undefined) refuse("KEY_REVOKED", `key ${k.id} is already revoked`);
    k.revokedIndex = head.index;
    k.revokeReason = event.body.reason;
  } else {
    account.status = NEXT_STATUS[event.type]!(prior!)!;
  }
  return { account };
}

function applyKeyAdd(
  prior: AccountState,
  e: EventOf<"key.add">,
  signed: Set<string>,
  head: Head,
  limits: PolicyLimits | undefined,
): ApplyResult {
  const newKey = e.body.key;
  const first = prior.status === "invited";
  if (first) {
    // The first key introduces itself: nobody else can vouch for it, so it must be able to
    // sign, and the invite key (derived from the secret only the invitee was given) ties it to
    // whoever the invite was delivered to.
    if (newKey.use !== "sign")
      refuse("WRONG_STATE", "an invited account's first key must be an ed25519 sign key");
    if (e.actor.key !== newKey.pub) {
      refuse(
        "KEY_UNKNOWN",
        `an invited account has no keys; the first key.add is signed by the new key itself`,
      );
    }
    // Whoever knows the invite secret must not be able to make it the account's key.
    if (newKey.pub === prior.inviteKey)
      refuse("INVITE_KEY_USED", "the invite key cannot become one of the account's keys");
    if (!signed.has(prior.inviteKey)) {
      refuse("INVITE_SIG_MISSING", `the first key of ${prior.id} must be co-signed by its invite key`, {
        inviteKey: prior.inviteKey,
      });
    }
    coverSigners(signed, [{ key: newKey.pub, why: "new key" }], new Set([prior.inviteKey]));
  } else {
    // An invite key signs exactly one event: the first key.add that consumed it.
    if (signed.has(prior.inviteKey) || newKey.pub === prior.inviteKey)
      refuse("INVITE_KEY_USED", `the invite key of ${prior.id} was already used`);
    activeSignKey(prior, e.actor.key);
    const required = [{ key: e.actor.key, why: "actor" }];
    // An encrypt key cannot sign, so the actor's signature vouches for it alone.
    if (newKey.use === "sign") required.push({ key: newKey.pub, why: "new key" });
    coverSigners(signed, required, new Set());
  }
  if (prior.keys.has(newKey.id)) refuse("KEY_EXISTS", `account ${prior.id} already had a key ${newKey.id}`);
  for (const k of prior.keys.values()) {
    if (k.pub === newKey.pub) refuse("KEY_EXISTS", `key ${newKey.pub} was already added as ${k.id}`);
  }
  if (limits && prior.keys.size >= limits.maxKeysPerAccount) {
    refuse("KEY_LIMIT", `account ${prior.id} has had ${prior.keys.size} keys, the most this log accepts`, {
      limit: limits.maxKeysPerAccount,
    });
  }
  const account = cloneAccount(prior);
  account.head = head;
  account.keys.set(newKey.id, { ...newKey, addedIndex: head.index });
  if (first) {
    account.status = "active";
    account.everActive = true;
  }
  return { account };
}

/**
 * Decides whether `envelope` (already parsed by parseEnvelope) may be appended at ctx.index
 * given the state in `view`, and returns the new state of the subject it changes (fresh
 * objects; the view and the envelope are not touched). Throws TrustlogError with the codes
 * listed in docs/events.md.
 */
export function applyEvent(view: StateView, envelope: Envelope, ctx: ApplyContext): ApplyResult {
  if (!ctx.signaturesChecked) checkSignatures(envelope);
  const event = envelope.event;
  if (ctx.now !== undefined) {
    const skew = ctx.skewSeconds ?? DEFAULT_SKEW_SECONDS;
    const t = parseEventTime(event.time)!;
    if (Math.abs(t - ctx.now) > skew) {
      refuse("SKEW", `event time ${event.time} is more than ${skew} s from the server's clock`, {
        now: ctx.now,
        skewSeconds: skew,
      });
    }
  }
  const head: Head = { seq: event.seq, leafHash: toBase64(ctx.leafHash), index: ctx.index };
  return isOrgEventType(event.type)
    ? applyOrgEvent(view, envelope, event, head, ctx.leafHash, ctx)
    : applyAccountEvent(view, envelope, event, head, ctx.limits);
}
