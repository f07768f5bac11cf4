// The whole state in memory, applying events through the policy: what a client or an auditor
// replaying the log keeps (the server keeps its state in PostgreSQL: server/state-cache.ts).

import type { Envelope } from "./event.js";
import { type ApplyContext, type ApplyResult, applyEvent } from "./policy.js";
import {
  type AccountState,
  accountFromJSON,
  accountToJSON,
  cloneGrant,
  cloneOrg,
  type Grant,
  type MemoryStateJSON,
  type OrgState,
  type StateView,
} from "./state.js";

/**
 * The whole state in memory: what a client or auditor replaying the log keeps. `apply` stores
 * the result of applyEvent; on a refusal nothing changes.
 */
export class MemoryState implements StateView {
  private readonly orgs = new Map<string, OrgState>();
  private readonly grants = new Map<string, Grant>();
  private readonly accounts = new Map<string, AccountState>();

  org(id: string): OrgState | undefined {
    return this.orgs.get(id);
  }

  // "\n" cannot occur in an id, so the joined keys are unambiguous.
  grant(org: string, id: string): Grant | undefined {
    return this.grants.get(`${org}\n${id}`);
  }

  account(org: string, id: string): AccountState | undefined {
    return this.accounts.get(`${org}\n${id}`);
  }

  /** Every account of an org, in no particular order. */
  accountsOf(org: string): AccountState[] {
    return [...this.accounts.values()].filter((a) => a.org === org);
  }

  /** Every grant an org ever issued, in no particular order. */
  grantsOf(org: string): Grant[] {
    return [...this.grants.values()].filter((g) => g.org === org);
  }

  apply(envelope: Envelope, ctx: ApplyContext): ApplyResult {
    const result = applyEvent(this, envelope, ctx);
    if (result.org) this.orgs.set(result.org.id, result.org);
    if (result.grant) this.grants.set(`${result.grant.org}\n${result.grant.id}`, result.grant);
    if (result.account) this.accounts.set(`${result.account.org}\n${result.account.id}`, result.account);
    return result;
  }

  toJSON(): MemoryStateJSON {
    return {
      orgs: [...this.orgs.values()].map(cloneOrg),
      grants: [...this.grants.values()].map(cloneGrant),
      accounts: [...this.accounts.values()].map(accountToJSON),
    };
  }

  static fromJSON(json: MemoryStateJSON): MemoryState {
    const s = new MemoryState();
    for (const o of json.orgs) s.orgs.set(o.id, cloneOrg(o));
    for (const g of json.grants) s.grants.set(`${g.org}\n${g.id}`, cloneGrant(g));
    for (const a of json.accounts) s.accounts.set(`${a.org}\n${a.id}`, accountFromJSON(a));
    return s;
  }
}
