// An account's proof bundle carries only the part of its org's chain its events are judged by
// (client/bundle.ts, core/subchain.ts): the org's authority events and the grants the account's
// events act under. These tests show that it stays small whatever the org's other grants, that
// it judges every account exactly as a replay of the whole log does, and that leaving out or
// repeating any org event it carries is refused.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type HistoryBundleJson, verifyBundle } from "../../client/bundle.js";
import { compileWitnessPolicy } from "../../client/witness-policy.js";
import { isTrustlogError } from "../../core/errors.js";
import type { Envelope, EventType } from "../../core/event.js";
import { MemoryState } from "../../core/memory-state.js";
import { accountToJSON } from "../../core/state.js";
import { admin, delegate, History, type TestKey, testKey } from "../helpers/events.js";
import { MemoryLog } from "../helpers/memory-log.js";

const ROOT = testKey("bb-root");
const ADMINS = [ROOT, testKey("bb-admin-2"), testKey("bb-admin-3")];
const DELEGATES = [testKey("bb-bridge-1"), testKey("bb-bridge-2")];
const USERS = ["u0", "u1", "u2", "u3"];
const USER_KEYS = new Map(USERS.map((u) => [u, [testKey(`bb-${u}-a`), testKey(`bb-${u}-b`)]]));

/** A History whose accepted events are also appended to a MemoryLog (batches sealed by the caller). */
function logged(h: History, log: MemoryLog) {
  return (env: Envelope): boolean => {
    try {
      h.append(env);
    } catch (e) {
      if (isTrustlogError(e)) return false;
      throw e;
    }
    log.append(env);
    return true;
  };
}

function verify(log: MemoryLog, bundle: HistoryBundleJson, account: string) {
  const witnesses = compileWitnessPolicy({ witnesses: log.witnesses.map((w) => w.vkey), quorum: 2 });
  return verifyBundle(bundle, { log: { vkey: log.vkey }, witnesses, org: "acme", account });
}

/** The whole log replayed, at its own indices: what an auditor's state is. */
function fullReplay(log: MemoryLog): MemoryState {
  const state = new MemoryState();
  expect(log.size).toBeGreaterThan(0); // seals the last batch
  log.envelopes.forEach((env, index) => {
    if (env) state.apply(env, { index, leafHash: log.hash(index) });
  });
  return state;
}

function refusalOf(f: () => unknown): { code: string; details?: Record<string, unknown> } {
  try {
    f();
  } catch (e) {
    if (isTrustlogError(e)) return { code: e.code, ...(e.details ? { details: e.details } : {}) };
    throw e;
  }
  return { code: "ACCEPTED" };
}

/** acme with `others` grants nobody in the test uses (some revoked), and alice invited under scim. */
function largeOrg(others: number): { h: History; log: MemoryLog } {
  const h = new History();
  const log = new MemoryLog();
  const add = logged(h, log);
  add(h.orgCreate("acme", { admins: [ROOT] }));
  add(h.adminAdd("acme", ADMINS[1]!, admin(ROOT)));
  for (let i = 0; i < others; i++) {
    add(
      h.grantIssue(
        "acme",
        { id: `other-${i}`, delegate: DELEGATES[1]!, ops: ["account.suspend"] },
        admin(ROOT),
      ),
    );
    if (i % 3 === 0) add(h.grantRevoke("acme", `other-${i}`, admin(ROOT)));
    if (i % 50 === 49) log.seal();
  }
  add(
    h.grantIssue(
      "acme",
      { id: "scim", delegate: DELEGATES[0]!, ops: ["account.invite", "account.suspend"] },
      admin(ROOT),
    ),
  );
  add(h.invite("acme", "alice", delegate(DELEGATES[0]!, "scim")));
  add(h.keyAdd("acme", "alice", USER_KEYS.get("u0")![0]!));
  log.seal();
  return { h, log };
}

describe("an account's bounded bundle", () => {
  it("carries the org's authority and the grants the account's events use, whatever the org's other grants", async () => {
    const small = largeOrg(10);
    const large = largeOrg(600);
    const a = await small.log.accountProof("acme", "alice");
    const b = await large.log.accountProof("acme", "alice");
    const types = (x: HistoryBundleJson) =>
      x.orgEvents.map((e) => JSON.parse(Buffer.from(e.envelope, "base64").toString()).event.type);
    expect(types(a)).toEqual(["org.create", "admin.add", "grant.issue"]);
    expect(types(b)).toEqual(["org.create", "admin.add", "grant.issue"]);
    expect(b.lookup.grants?.map((g) => g.id)).toEqual(["scim"]);
    // 10 or 600 other grants (800 org events): the bundle differs only by proof depths.
    const sa = JSON.stringify(a).length;
    const sb = JSON.stringify(b).length;
    expect(sb).toBeLessThan(sa * 1.5);
    expect(sb).toBeLessThan(16_000);
    const v = verify(large.log, b, "alice");
    expect(v.partialOrg).toBe(true);
    expect(accountToJSON(v.account!)).toEqual(accountToJSON(fullReplay(large.log).account("acme", "alice")!));
    // The org's whole bundle still carries everything, for those who audit the org itself.
    const whole = await large.log.orgProof("acme");
    expect(whole.orgEvents.length).toBe(large.h.state.org("acme")!.head.seq + 1);
  });

  /** acme, scim, alice invited under it, then `then` (and a seal); returns the log indices. */
  function small(then: (h: History, add: (env: Envelope) => boolean, log: MemoryLog) => void) {
    const h = new History();
    const log = new MemoryLog();
    const add = logged(h, log);
    add(h.orgCreate("acme", { admins: [ROOT] }));
    add(h.grantIssue("acme", { id: "scim", delegate: DELEGATES[0]!, ops: ["account.invite"] }, admin(ROOT)));
    add(h.invite("acme", "alice", delegate(DELEGATES[0]!, "scim")));
    then(h, add, log);
    log.seal();
    return { h, log };
  }

  it("refuses a grant's revocation left out (HISTORY_TRUNCATED), though the events it would refuse then pass the policy", async () => {
    const { log } = small((h, add) => {
      add(h.grantRevoke("acme", "scim", admin(ROOT)));
    });
    expect(
      verify(log, await log.accountProof("acme", "alice"), "alice").grantEvents.get("scim"),
    ).toHaveLength(2);
    log.hidden.add(3);
    const bundle = await log.accountProof("acme", "alice");
    const r = refusalOf(() => verify(log, bundle, "alice"));
    expect(r.code).toBe("HISTORY_TRUNCATED");
    expect(r.details).toMatchObject({ kind: "grant", grant: "scim", servedSeq: 0, provedSeq: 1 });
  });

  it("refuses the grant an event acts under left out (HISTORY_TRUNCATED), and a lookup without its proof", async () => {
    const { log } = small(() => {});
    log.hidden.add(1);
    const bundle = await log.accountProof("acme", "alice");
    expect(refusalOf(() => verify(log, bundle, "alice"))).toMatchObject({
      code: "HISTORY_TRUNCATED",
      details: { kind: "grant", grant: "scim" },
    });
    log.hidden.clear();
    const honest = await log.accountProof("acme", "alice");
    honest.lookup.grants = [];
    expect(refusalOf(() => verify(log, honest, "alice")).code).toBe("INDEX_PROOF_INVALID");
  });

  it("refuses an admin's removal left out (HISTORY_TRUNCATED on the org's authority)", async () => {
    const { log } = small((h, add) => {
      add(h.adminAdd("acme", ADMINS[1]!, admin(ROOT)));
      add(h.adminRemove("acme", ADMINS[1]!, admin(ROOT)));
    });
    log.hidden.add(4);
    const bundle = await log.accountProof("acme", "alice");
    expect(refusalOf(() => verify(log, bundle, "alice"))).toMatchObject({
      code: "HISTORY_TRUNCATED",
      details: { kind: "authority", org: "acme", servedSeq: 1, provedSeq: 2 },
    });
  });

  it("refuses a removed admin's admin.add appended again and indexed, before it can sign anything", async () => {
    // The operator re-appends the exact bytes of an earlier admin.add after the removal and
    // puts the copy in its index: a verifier that skipped the org's seqs would see the removed
    // admin back. Its seq is a step back in the org chain.
    let addAdmin: Envelope | undefined;
    const { log } = small((h, add) => {
      addAdmin = h.adminAdd("acme", ADMINS[1]!, admin(ROOT));
      add(addAdmin);
      add(h.adminRemove("acme", ADMINS[1]!, admin(ROOT)));
    });
    log.append(addAdmin!);
    log.seal();
    const bundle = await log.accountProof("acme", "alice");
    expect(refusalOf(() => verify(log, bundle, "alice"))).toMatchObject({ code: "CHAIN_BROKEN" });
  });
});

// -------------------------------------------------------------------------------------------
// Random orgs: admins come and go, grants are issued and revoked, accounts are invited,
// suspended, reactivated and keyed by admins, delegates and themselves.

type Step =
  | { op: "adminAdd"; who: number; by: number }
  | { op: "adminRemove"; who: number; by: number }
  | { op: "grantIssue"; delegate: number; ops: number; scope: number; by: number }
  | { op: "grantRevoke"; grant: number; by: number }
  | { op: "invite" | "suspend" | "reactivate" | "keyRevoke"; user: number; via: number }
  | { op: "keyAdd"; user: number; key: number }
  | { op: "seal" };

const OPS: EventType[] = ["account.invite", "account.suspend", "account.reactivate", "key.revoke"];

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant("adminAdd" as const), who: fc.nat(2), by: fc.nat(1) }),
  fc.record({ op: fc.constant("adminRemove" as const), who: fc.nat(2), by: fc.nat(1) }),
  fc.record({
    op: fc.constant("grantIssue" as const),
    delegate: fc.nat(1),
    ops: fc.integer({ min: 1, max: 15 }),
    scope: fc.nat(2),
    by: fc.nat(1),
  }),
  fc.record({ op: fc.constant("grantRevoke" as const), grant: fc.nat(5), by: fc.nat(1) }),
  {
    arbitrary: fc.record({
      op: fc.constantFrom("invite" as const, "suspend" as const, "reactivate" as const, "keyRevoke" as const),
      user: fc.nat(USERS.length - 1),
      via: fc.nat(8),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("keyAdd" as const),
      user: fc.nat(USERS.length - 1),
      key: fc.nat(1),
    }),
    weight: 2,
  },
  fc.constant({ op: "seal" as const }),
);

/** Builds a random org, keeping only what the policy accepts (as a real log does). */
function randomOrg(steps: Step[]): { h: History; log: MemoryLog } {
  const h = new History();
  const log = new MemoryLog();
  const add = logged(h, log);
  add(h.orgCreate("acme", { admins: [ROOT, ADMINS[1]!] }));
  // Two grants to start with, so that delegates act from the first steps.
  add(h.grantIssue("acme", { id: "g0", delegate: DELEGATES[0]!, ops: OPS }, admin(ROOT)));
  add(
    h.grantIssue(
      "acme",
      { id: "g1", delegate: DELEGATES[1]!, ops: OPS.slice(0, 2), accounts: ["u1"] },
      admin(ROOT),
    ),
  );
  let grants = 2;
  // `via`: 0-1 an admin, 2-8 a delegate under grant g(via-2) (its own delegate key).
  const delegateOf = new Map<string, TestKey>([
    ["g0", DELEGATES[0]!],
    ["g1", DELEGATES[1]!],
  ]);
  const by = (via: number) => {
    if (via < 2) return admin(ADMINS[via]!);
    const id = `g${via % 2 === 0 ? 0 : (via - 2) % Math.max(grants, 1)}`;
    return delegate(delegateOf.get(id) ?? DELEGATES[0]!, id);
  };
  for (const s of steps) {
    h.tick(1);
    switch (s.op) {
      case "seal":
        log.seal();
        break;
      case "adminAdd":
        add(h.adminAdd("acme", ADMINS[s.who]!, admin(ADMINS[s.by]!)));
        break;
      case "adminRemove":
        add(h.adminRemove("acme", ADMINS[s.who]!, admin(ADMINS[s.by]!)));
        break;
      case "grantIssue": {
        const id = `g${grants}`;
        const d = DELEGATES[s.delegate]!;
        const ops = OPS.filter((_, i) => s.ops & (1 << i));
        const accounts = s.scope === 0 ? ["*"] : s.scope === 1 ? ["u1"] : ["u2", "u3"];
        if (add(h.grantIssue("acme", { id, delegate: d, ops, accounts }, admin(ADMINS[s.by]!)))) {
          delegateOf.set(id, d);
          grants++;
        }
        break;
      }
      case "grantRevoke":
        add(h.grantRevoke("acme", `g${s.grant}`, admin(ADMINS[s.by]!)));
        break;
      case "invite":
        add(h.invite("acme", USERS[s.user]!, by(s.via)));
        break;
      case "suspend":
        if (h.state.account("acme", USERS[s.user]!)) add(h.suspend("acme", USERS[s.user]!, by(s.via)));
        break;
      case "reactivate":
        if (h.state.account("acme", USERS[s.user]!)) add(h.reactivate("acme", USERS[s.user]!, by(s.via)));
        break;
      case "keyRevoke": {
        const a = h.state.account("acme", USERS[s.user]!);
        const k = a && [...a.keys.values()].find((x) => x.revokedIndex === undefined);
        if (a && k) add(h.keyRevoke("acme", USERS[s.user]!, k.id, by(s.via)));
        break;
      }
      case "keyAdd": {
        const u = USERS[s.user]!;
        const a = h.state.account("acme", u);
        if (!a) break;
        const key = USER_KEYS.get(u)![s.key]!;
        const signer = [...a.keys.values()].find((x) => x.revokedIndex === undefined && x.use === "sign");
        const existing = signer && USER_KEYS.get(u)!.find((k) => k.pub === signer.pub);
        add(
          a.status === "invited"
            ? h.keyAdd("acme", u, key)
            : h.keyAdd("acme", u, key, existing ? { by: { self: existing } } : {}),
        );
        break;
      }
    }
  }
  log.seal();
  return { h, log };
}

describe("random orgs", () => {
  it("every account's bounded bundle verifies to exactly the state a replay of the whole log gives", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 60 }), async (steps) => {
        const { log } = randomOrg(steps);
        const whole = fullReplay(log);
        for (const u of USERS) {
          const want = whole.account("acme", u);
          if (!want) continue;
          const v = verify(log, await log.accountProof("acme", u), u);
          expect(accountToJSON(v.account!)).toEqual(accountToJSON(want));
          expect(v.org.admins).toEqual(whole.org("acme")!.admins);
          expect(v.org.authority).toEqual(whole.org("acme")!.authority);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("leaving out any one org event an account's bundle carries is refused", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40 }), fc.nat(), async (steps, pick) => {
        const { h, log } = randomOrg(steps);
        // Any org event any account's bundle carries (org.create, always first, aside).
        const candidates: [string, number][] = [];
        for (const u of USERS.filter((x) => h.state.account("acme", x))) {
          const honest = await log.accountProof("acme", u);
          for (const e of honest.orgEvents.slice(1)) candidates.push([u, e.index]);
        }
        if (candidates.length === 0) return;
        const [u, index] = candidates[pick % candidates.length]!;
        log.hidden.add(index);
        const bundle = await log.accountProof("acme", u);
        const r = refusalOf(() => verify(log, bundle, u));
        expect(["HISTORY_TRUNCATED", "HISTORY_FORKED"]).toContain(r.code);
      }),
      { numRuns: 60 },
    );
  });
});
