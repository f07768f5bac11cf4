// The batch decision (server/batch.ts) on its own, no database: which items are appended, at
// which indices, with what state after them, and which refusals the sequencer must look up as
// possible resubmissions.

import { describe, expect, it } from "vitest";
import type { Envelope } from "../../core/event.js";
import { parseEnvelope } from "../../core/event.js";
import { MemoryState } from "../../core/memory-state.js";
import { DEFAULT_LIMITS } from "../../core/policy.js";
import { type BatchContext, decideBatch, type SubmitItem } from "../../server/batch.js";
import { admin, delegate, History, testKey } from "../helpers/events.js";

const root = testKey("batch-root");
const root2 = testKey("batch-root-2");
const bridge = testKey("batch-bridge");
const laptop = testKey("batch-laptop");

function item(env: Envelope): SubmitItem {
  const p = parseEnvelope(env);
  return { envelope: p.envelope, leaf: p.leaf, leafHash: p.leafHash };
}

/** acme with two admins and a grant to the bridge, applied to the History's state. */
function acme() {
  const h = new History();
  h.append(h.orgCreate("acme", { admins: [root, root2] }));
  h.append(h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["account.invite"] }, admin(root)));
  const ctx: BatchContext = { size: 10, nowSeconds: h.now, skewSeconds: 300, limits: DEFAULT_LIMITS };
  return { h, ctx };
}

describe("decideBatch", () => {
  it("appends accepted events at consecutive indices, each judged against the ones before it", () => {
    const { h, ctx } = acme();
    const before = MemoryState.fromJSON(h.state.toJSON());
    // The key.add needs the invite, which is only in this batch: the batch's overlay holds it.
    const invite = h.invite("acme", "alice", delegate(bridge, "scim"));
    h.append(invite);
    const key = h.keyAdd("acme", "alice", laptop);
    const d = decideBatch([item(invite), item(key)], before, ctx);
    expect(d.decisions.map((x) => ("pending" in x ? x.pending : x))).toEqual([10, 11]);
    expect(d.accepted).toHaveLength(2);
    const alice = d.accounts.get("acme alice")!;
    expect(alice.status).toBe("active");
    expect(alice.head).toMatchObject({ seq: 1, index: 11 });
    expect(d.maybeLogged).toEqual([]);
  });

  it("a refused event takes no index, and the events after it still line up", () => {
    const { h, ctx } = acme();
    const bad = h.invite("acme", "bob", delegate(laptop, "scim")); // not the grant's delegate
    const good = h.invite("acme", "carol", delegate(bridge, "scim"));
    const d = decideBatch([item(bad), item(good)], h.state, ctx);
    expect(d.decisions[0]).toMatchObject({ error: { code: "GRANT_KEY_MISMATCH" } });
    expect(d.decisions[1]).toMatchObject({ pending: 10 });
    expect(d.accounts.has("acme bob")).toBe(false);
  });

  it("one event, one leaf: the same event under another set of signatures is a duplicate of the first", () => {
    const { h, ctx } = acme();
    const both = h.adminAdd("acme", testKey("batch-new-admin"), admin(root, root2));
    const one = { ...both, sigs: both.sigs.filter((s) => s.key !== root2.pub) };
    const d = decideBatch([item(both), item(one)], h.state, ctx);
    expect(d.decisions[0]).toMatchObject({ pending: 10 });
    expect(d.decisions[1]).toEqual({ dupOf: 10, leafHash: item(both).leafHash });
    expect(d.accepted).toHaveLength(1);
  });

  it("names the refusals that may be resubmissions (a taken position, an aged time) for lookup", () => {
    const { h, ctx } = acme();
    const again = h.orgCreate("acme", { admins: [root] }); // ORG_EXISTS
    const old = h.invite("acme", "dave", delegate(bridge, "scim"), { time: h.now - 3600 }); // SKEW
    const forbidden = h.invite("acme", "erin", delegate(laptop, "scim")); // not a resubmission
    const d = decideBatch([item(again), item(old), item(forbidden)], h.state, ctx);
    expect(d.decisions.map((x) => ("error" in x ? x.error.code : "ok"))).toEqual([
      "ORG_EXISTS",
      "SKEW",
      "GRANT_KEY_MISMATCH",
    ]);
    expect(d.maybeLogged).toEqual([0, 1]);
  });

  it("refuses a leaf hash that does not match its bytes, before the policy sees it", () => {
    const { h, ctx } = acme();
    const it = item(h.invite("acme", "frank", delegate(bridge, "scim")));
    const tampered = { ...it, leafHash: new Uint8Array(32).fill(7) };
    const d = decideBatch([tampered], h.state, ctx);
    expect(d.decisions[0]).toMatchObject({ error: { code: "MALFORMED" } });
    expect(d.accepted).toEqual([]);
  });

  it("changes nothing it was given: the state before the batch is read, never written", () => {
    const { h, ctx } = acme();
    const before = JSON.stringify(h.state.toJSON());
    decideBatch([item(h.invite("acme", "gina", delegate(bridge, "scim")))], h.state, ctx);
    expect(JSON.stringify(h.state.toJSON())).toBe(before);
  });
});
