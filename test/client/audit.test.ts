// audit replays a whole log from tiles and entry bundles: an honest log passes, and each kind of
// tampering is reported with the index of the first bad entry.

import { describe, expect, it } from "vitest";
import { audit } from "../../client/audit.js";
import { MemoryTrustStore } from "../../client/trust-store.js";
import { accountReactivate, accountSuspend, keyAdd, sealEvent } from "../../core/event-build.js";
import { ALICE_SIGN, DELEGATE, MemoryLog, pub, seed, standardHistory, T0 } from "./memory-log.js";

function opts(log: MemoryLog) {
  return {
    log: { url: "memory:", vkey: log.vkey },
    witnesses: log.witnesses.map((w) => w.vkey),
    quorum: 3,
    source: log,
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
          time: T0 + 100 + i,
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
    expect(r.events).toBe(304);
    expect(r.orgs).toBe(1);
    expect(r.state.account("acme", "alice")?.status).toBe("active");
    expect((await store.load(log.vkey)).checkpoint?.size).toBe(304);
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
    const at = log.append(forged).index;
    await expect(audit(opts(log))).rejects.toMatchObject({
      code: "POLICY_VIOLATION",
      details: { index: at, policyCode: "SIG_INVALID" },
    });
  });

  it("refuses a checkpoint without quorum", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    log.cosigners = log.witnesses.slice(0, 2);
    await expect(audit(opts(log))).rejects.toMatchObject({ code: "QUORUM_NOT_MET" });
  });
});
