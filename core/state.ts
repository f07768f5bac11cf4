// The state a replay of the log keeps (DESIGN.md §3): orgs, their grants and accounts, each with
// its chain head, and the view the policy reads them through. Records are plain data, copied
// (cloneOrg, cloneGrant, cloneAccount) rather than shared, so a refused event changes nothing.

import type { GrantIssueBody, KeyAlg, KeyUse } from "./event.js";
import type { Subchain } from "./subchain.js";

export interface Head {
  seq: number;
  /** Base64 leaf hash of the subject's latest event: the next event's `prev`. */
  leafHash: string;
  /** Log index of that event. */
  index: number;
}

/** A grant as the policy keeps it: the grant.issue body, where it was issued, and its revocation. */
export interface Grant extends GrantIssueBody {
  /** The org that issued it. */
  org: string;
  issuedIndex: number;
  revokedIndex?: number;
  revokeReason?: string;
  /** The grant's own sub-chain (its grant.issue, then its grant.revoke): core/subchain.ts. */
  chain: Subchain;
}

export interface OrgState {
  id: string;
  name: string;
  admins: string[];
  threshold: number;
  /**
   * How many of its grants are not revoked. The grants themselves are records of their own
   * (StateView.grant), so an org event copies and writes only what it changes, whatever the
   * number of grants the org ever issued (grant ids are never reused).
   */
  activeGrants: number;
  head: Head;
  /** Leaf hash of the org.create event: what clients pin on first use. */
  genesis: string;
  /**
   * The sub-chain of the org's authority events (org.create, admin.add, admin.remove):
   * core/subchain.ts. The index commits to it so an account's proof can leave out the grants.
   */
  authority: Subchain;
}

export interface AccountKey {
  id: string;
  alg: KeyAlg;
  use: KeyUse;
  pub: string;
  addedIndex: number;
  revokedIndex?: number;
  revokeReason?: string;
}

export type AccountStatus = "invited" | "active" | "suspended" | "deleted";

export interface AccountState {
  org: string;
  id: string;
  status: AccountStatus;
  /** Base64 invite public key from the account.invite: it co-signs the first key.add only. */
  inviteKey: string;
  externalId?: string;
  /** True once the account has had a key: reactivation then returns it to active. */
  everActive: boolean;
  /** Every key ever added, by id, revoked ones included (key ids are never reused). */
  keys: Map<string, AccountKey>;
  head: Head;
}

export interface StateView {
  org(id: string): OrgState | undefined;
  grant(org: string, id: string): Grant | undefined;
  account(org: string, id: string): AccountState | undefined;
}

// ---------------------------------------------------------------------------------------------

// Grant and key ids are public strings from [A-Za-z0-9._@+-], so "__proto__" or "constructor"
// is a valid id: id-keyed records are Maps, never plain objects, anywhere state is kept.

/** A copy of an org record: bounded by the admin limit, whatever the org's grants. */
export function cloneOrg(o: OrgState): OrgState {
  return { ...o, admins: [...o.admins], head: { ...o.head }, authority: { ...o.authority } };
}

export function cloneGrant(g: Grant): Grant {
  return { ...g, ops: [...g.ops], accounts: [...g.accounts], chain: { ...g.chain } };
}

/** A copy of an account record: bounded by the key limit. */
export function cloneAccount(a: AccountState): AccountState {
  const keys = new Map<string, AccountKey>();
  for (const [id, k] of a.keys) keys.set(id, { ...k });
  return { ...a, keys, head: { ...a.head } };
}

/** The keys that signed, as a set of base64 strings. */

/** An account record as JSON: its keys as a list, in the order they were added. */
export type AccountStateJSON = Omit<AccountState, "keys"> & { keys: AccountKey[] };

export function accountToJSON(a: AccountState): AccountStateJSON {
  return { ...cloneAccount(a), keys: [...a.keys.values()].map((k) => ({ ...k })) };
}

export function accountFromJSON(a: AccountStateJSON): AccountState {
  const keys = new Map<string, AccountKey>();
  for (const k of a.keys) keys.set(k.id, { ...k });
  return { ...a, keys, head: { ...a.head } };
}

export interface MemoryStateJSON {
  orgs: OrgState[];
  grants: Grant[];
  accounts: AccountStateJSON[];
}
