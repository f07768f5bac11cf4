// An account's (or an org's) history, verified by the client library exactly as a sender's
// client does (verifyHistory: checkpoint, quorum, inclusion, chains, lookup proofs, policy
// replay, then the trust store). The bundle it verified is kept beside the result, so the page
// can show each event's proof: nothing shown comes from anywhere else.

import type { VerifiedEvent, VerifiedHistory } from "../../client/bundle.js";
import { type HistorySource, verifyHistory } from "../../client/verify-key.js";
import type { HistoryBundleJson } from "../../core/api-types.js";
import { fromBase64 } from "../../core/bytes.js";
import { type IndexLeaf, parseIndexLeaf } from "../../core/chain-index.js";
import type { GrantIssueBody, GrantRevokeBody } from "../../core/event.js";
import type { Session } from "../session.js";

export interface HistoryCheck {
  history: VerifiedHistory;
  /** The bundle that was verified. */
  bundle: HistoryBundleJson;
  /** Inclusion proof of each event (base64 hashes), by index. */
  inclusion: Map<number, string[]>;
  /** The index leaf that first covers each event (its batch's last leaf), by event index. */
  covers: Map<number, { index: number; leaf: IndexLeaf }>;
  /** The org's genesis was pinned by this check (trust on first use in this browser). */
  genesisFirstUse: boolean;
  /** How long fetching and verifying took, milliseconds. */
  ms: number;
}

async function check(s: Session, org: string, account?: string): Promise<HistoryCheck> {
  const started = performance.now();
  const before = await s.store.load(s.log.vkey);
  let bundle: HistoryBundleJson | undefined;
  const source: HistorySource = {
    orgProof: async (o, from) => (bundle = await s.client.orgProof(o, from)),
    accountProof: async (o, a, from) => (bundle = await s.client.accountProof(o, a, from)),
    consistency: (from, to) => s.client.consistency(from, to),
  };
  const history = await verifyHistory(
    {
      log: s.log,
      witnesses: s.config.witnesses,
      quorum: s.config.quorum,
      org,
      ...(account !== undefined ? { account } : {}),
      store: s.store,
      source,
      maxAgeSeconds: s.config.maxAgeSeconds,
    },
    s.policy,
  );
  // verifyHistory resolved, so the last bundle fetched is the one it verified.
  const verified = bundle!;
  const inclusion = new Map<number, string[]>();
  for (const e of [...verified.orgEvents, ...(verified.accountEvents ?? [])])
    inclusion.set(e.index, e.inclusion);
  const leaves = verified.covers
    .map((c) => ({ index: c.index, leaf: parseIndexLeaf(fromBase64(c.envelope)) }))
    .sort((a, b) => a.index - b.index);
  const covers = new Map<number, { index: number; leaf: IndexLeaf }>();
  for (const e of [...history.orgEvents, ...history.accountEvents]) {
    const cover = leaves.find((l) => l.index > e.index);
    if (cover) covers.set(e.index, cover);
  }
  return {
    history,
    bundle: verified,
    inclusion,
    covers,
    genesisFirstUse: !Object.hasOwn(before.genesis, org),
    ms: performance.now() - started,
  };
}

export const checkAccount = (s: Session, org: string, account: string) => check(s, org, account);
export const checkOrg = (s: Session, org: string) => check(s, org);

export interface GrantView {
  id: string;
  issue: VerifiedEvent;
  body: GrantIssueBody;
  revoke?: { event: VerifiedEvent; body: GrantRevokeBody };
  status: "active" | "revoked" | "expired" | "not yet valid";
}

/** The grants of a verified history, from their own sub-chains (issue, then revocation). */
export function grantsOf(history: VerifiedHistory, now = Date.now()): GrantView[] {
  const out: GrantView[] = [];
  for (const [id, events] of history.grantEvents) {
    const issue = events.find((e) => e.envelope.event.type === "grant.issue");
    if (!issue) continue;
    const body = issue.envelope.event.body as GrantIssueBody;
    const revoked = events.find((e) => e.envelope.event.type === "grant.revoke");
    const status = revoked
      ? "revoked"
      : now >= Date.parse(body.notAfter)
        ? "expired"
        : now < Date.parse(body.notBefore)
          ? "not yet valid"
          : "active";
    out.push({
      id,
      issue,
      body,
      status,
      ...(revoked
        ? { revoke: { event: revoked, body: revoked.envelope.event.body as GrantRevokeBody } }
        : {}),
    });
  }
  return out.sort((a, b) => a.issue.index - b.issue.index);
}
