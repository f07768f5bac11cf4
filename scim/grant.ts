// The bridge's one authority: a grant an org admin issued to its delegate key. Before it starts,
// and every `grantCheckSeconds` after, the bridge reads the org's history from the log, VERIFIES
// it (checkpoint signature, witness quorum, consistency with what it trusted before, every
// event's signatures and rules: client/verify-key.ts verifyHistory), and finds its grant there.
// It refuses to start, and stops writing, when the grant is missing, issued to another key,
// revoked, not yet valid, expired, or lacks an op the bridge needs, and says which.

import { type HistoryOptions, verifyHistory } from "../client/verify-key.js";
import { type ErrorCode, TrustlogError } from "../core/errors.js";
import type { GrantIssueBody } from "../core/event.js";

/** What a SCIM bridge must be able to do: invite, suspend, reactivate, delete. */
export const REQUIRED_OPS = [
  "account.invite",
  "account.suspend",
  "account.reactivate",
  "account.delete",
] as const;

export interface GrantStatus {
  ok: boolean;
  /** GRANT_UNKNOWN, GRANT_KEY_MISMATCH, GRANT_REVOKED, GRANT_NOT_YET_VALID, GRANT_EXPIRED, GRANT_MISSING_OP, or a verification code. */
  code?: ErrorCode;
  message: string;
  grant?: {
    id: string;
    ops: string[];
    accounts: string[];
    notBefore: string;
    notAfter: string;
    issuedIndex: number;
    revokedIndex?: number;
  };
  checkedAt: string;
}

export interface GrantCheckOptions extends HistoryOptions {
  grantId: string;
  /** The bridge's delegate public key (base64). */
  delegateKey: string;
}

const toSeconds = (t: string) => Date.parse(t) / 1000;

/** Verifies the org history and judges the grant; never throws for a bad grant (ok: false). */
export async function checkGrant(opts: GrantCheckOptions): Promise<GrantStatus> {
  const now = opts.now ?? Date.now;
  const checkedAt = new Date(now()).toISOString();
  const history = await verifyHistory(opts);
  let issued: { body: GrantIssueBody; index: number } | undefined;
  let revoked: { index: number; reason: string } | undefined;
  for (const e of history.orgEvents) {
    const ev = e.envelope.event;
    if (ev.type === "grant.issue" && ev.body.id === opts.grantId) issued = { body: ev.body, index: e.index };
    if (ev.type === "grant.revoke" && ev.body.id === opts.grantId)
      revoked = { index: e.index, reason: ev.body.reason };
  }
  const fail = (code: ErrorCode, message: string, extra: Partial<GrantStatus> = {}): GrantStatus => ({
    ok: false,
    code,
    message,
    checkedAt,
    ...extra,
  });
  if (!issued)
    return fail(
      "GRANT_UNKNOWN",
      `grant ${opts.grantId} was never issued in org ${opts.org} (the admin must run \`trustlog admin grant\`)`,
    );
  const g = issued.body;
  const grant = {
    id: g.id,
    ops: [...g.ops],
    accounts: [...g.accounts],
    notBefore: g.notBefore,
    notAfter: g.notAfter,
    issuedIndex: issued.index,
    ...(revoked ? { revokedIndex: revoked.index } : {}),
  };
  if (g.delegate !== opts.delegateKey)
    return fail(
      "GRANT_KEY_MISMATCH",
      `grant ${g.id} names delegate ${g.delegate}, not this bridge's key ${opts.delegateKey}`,
      { grant },
    );
  if (revoked)
    return fail(
      "GRANT_REVOKED",
      `grant ${g.id} was revoked at log index ${revoked.index}: ${revoked.reason || "(no reason)"}`,
      {
        grant,
      },
    );
  const t = Math.floor(now() / 1000);
  if (t < toSeconds(g.notBefore))
    return fail("GRANT_NOT_YET_VALID", `grant ${g.id} is valid from ${g.notBefore}`, { grant });
  if (t >= toSeconds(g.notAfter))
    return fail("GRANT_EXPIRED", `grant ${g.id} expired at ${g.notAfter}`, { grant });
  const missing = REQUIRED_OPS.filter((op) => !g.ops.includes(op));
  if (missing.length > 0)
    return fail("GRANT_MISSING_OP", `grant ${g.id} lacks ${missing.join(", ")}, which the bridge needs`, {
      grant,
    });
  return { ok: true, message: `grant ${g.id} valid until ${g.notAfter}`, grant, checkedAt };
}

/** As checkGrant, but turns a verification failure into a status too (code of the failure). */
export async function grantStatus(opts: GrantCheckOptions): Promise<GrantStatus> {
  try {
    return await checkGrant(opts);
  } catch (e) {
    if (e instanceof TrustlogError)
      return {
        ok: false,
        code: e.code,
        message: e.message,
        checkedAt: new Date((opts.now ?? Date.now)()).toISOString(),
      };
    throw e;
  }
}
