// audit replays a whole log from tiles and entry bundles: an honest log passes, and each kind of
// tampering is reported with its entry's index, and the replay goes on to the end.

import { describe, expect, it } from "vitest";
import { audit } from "../../client/audit.js";
import { MemoryTrustStore } from "../../client/trust-store.js";
import { formatIndexLeaf } from "../../core/chain-index.js";
import { accountReactivate, accountSuspend, keyAdd, sealEvent } from "../../core/event-build.js";
import { Trie } from "../../core/mpt.js";
import { ALICE_SIGN, DELEGATE, MemoryLog, pub, seed, standardHistory, T0 } from "../helpers/memory-log.js";

function opts(log: MemoryLog) {
  return {
    log: { url: "memory:", vkey: log.vkey },
    witnesses: log.witnesses.map((w) => w.vkey),
    quorum: 3,
    source: log,
    // The witnesses of MemoryLog cosign at T0: judge freshness as of then, not the real clock.
    now: () => T0 * 1000,
  };
}

// Enough suspend/reactivate churn to cross a tile boundary.
function longHistory(log: MemoryLog, n: number): void {
  const ix = standardHistory(log);
  let prev = ix.key;
  for (let i = 0; i < n; i++) {
    const type = i % 2 === 0 ? "suspend" : "reactivate";
    prev = log.append(
      sealEvent(
        (type === "suspend" ? accountSuspend : accountReactivate)({
          org: "acme",
          subject: "alice",
          seq: 2 + i,
          prev: log.hash(prev),
          time: T0 + 100 + Math.floor(i / 10),
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
          reason: type,
        }),
        [DELEGATE],
      ),
    ).index;
  }
}

describe("audit", () => {
  it("passes an honest log across tile boundaries and remembers the checkpoint", async () => {
    const log = new MemoryLog();
    longHistory(log, 300);
    const store = new MemoryTrustStore();
    const r = await audit({ ...opts(log), store });
    expect(r.violations).toEqual([]);
    expect(r.events).toBe(304);
    expect(r.indexLeaves).toBe(1);
    expect(r.entries).toBe(305);
    expect(r.orgs).toBe(1);
    expect(r.state.account("acme", "alice")?.status).toBe("active");
    expect((await store.load(log.vkey)).checkpoint?.size).toBe(305);
  });

  it("names the index of a forged event", async () => {
    const log = new MemoryLog();
    longHistory(log, 10);
    const mallory = seed(66);
    const env = sealEvent(
      keyAdd({
        org: "acme",
        subject: "alice",
        seq: 12,
        prev: log.hash(13),
        time: T0 + 500,
        actor: { role: "self", key: pub(ALICE_SIGN) },
        key: { id: "m", alg: "ed25519", use: "sign", pub: pub(mallory) },
      }),
      [mallory, ALICE_SIGN],
    );
    const forged = { ...env, sigs: env.sigs.map((s) => ({ key: s.key, sig: env.sigs[0]!.sig })) };
    log.seal(); // later events, in a batch of their own
    const at = log.append(forged).index;
    // The replay goes on past it: a valid event takes the same seq (the forged one was not
    // applied), and a later delegate key.add is reported too.
    const next = log.append(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "alice",
          seq: 12,
          prev: log.hash(13),
          time: T0 + 501,
          actor: { role: "self", key: pub(ALICE_SIGN) },
          key: { id: "enc", alg: "x25519", use: "encrypt", pub: pub(seed(67)) },
        }),
        [ALICE_SIGN],
      ),
    ).index;
    const rogue = log.append(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "alice",
          seq: 13,
          prev: log.hash(next),
          time: T0 + 502,
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
          key: { id: "m2", alg: "ed25519", use: "sign", pub: pub(mallory) },
        }),
        [DELEGATE, mallory],
      ),
    ).index;
    const store = new MemoryTrustStore();
    const r = await audit({ ...opts(log), store });
    expect(r.violations.map((v) => [v.index, v.code, v.policyCode])).toEqual([
      [at, "POLICY_VIOLATION", "SIG_INVALID"],
      [rogue, "POLICY_VIOLATION", "DELEGATE_CANNOT_ADD_KEY"],
      // This log's index counted the refused events as chain heads; the auditor's does not.
      [rogue + 1, "INDEX_MISMATCH", undefined],
    ]);
    expect([...r.state.account("acme", "alice")!.keys.keys()]).toContain("enc");
    // A log with violations is not trusted forward.
    expect((await store.load(log.vkey)).checkpoint).toBeUndefined();
  });

  it("recomputes every index leaf and refuses one that lies about the chain heads", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    log.seal();
    // An index leaf whose root is the empty trie's: it would hide every chain.
    const lie = log.appendRaw(
      formatIndexLeaf({ size: log.leaves.length, time: (T0 + 50) * 1000, root: Trie.empty().root() }),
    );
    const r = await audit(opts(log));
    expect(r.violations.map((v) => [v.index, v.code])).toEqual([[lie, "INDEX_MISMATCH"]]);
    expect(ix.key).toBeLessThan(lie);
  });

  it("reports a checkpoint that does not end with an index leaf", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    log.servedSize = 4;
    const r = await audit(opts(log));
    expect(r.violations.map((v) => [v.index, v.code])).toEqual([[3, "INDEX_MISSING"]]);
  });

  it("refuses a checkpoint without quorum", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    log.cosigners = log.witnesses.slice(0, 2);
    await expect(audit(opts(log))).rejects.toMatchObject({ code: "QUORUM_NOT_MET" });
  });
});
