// The client's side of auditing witnesses: a witness policy may require k of a set of auditing
// witnesses beside the plain quorum. A checkpoint the plain quorum cosigned but the auditors
// did not (an auditor refusing a log that broke a rule) is refused with AUDIT_QUORUM_NOT_MET,
// an auditor's stale cosignature does not count, and verifyKey reports which statements it
// relied on, and whose.

import { describe, expect, it } from "vitest";
import { MemoryTrustStore } from "../../client/trust-store.js";
import { type VerifyKeyOptions, verifyKey } from "../../client/verify-key.js";
import { AUDIT_STATEMENT, compileWitnessPolicy, PLAIN_STATEMENT } from "../../client/witness-policy.js";
import { isTrustlogError } from "../../core/errors.js";
import { MemoryLog, makeWitness, seed, standardHistory, T0 } from "../helpers/memory-log.js";

function options(log: MemoryLog, extra: Partial<VerifyKeyOptions>): VerifyKeyOptions {
  return {
    log: { url: "memory:", vkey: log.vkey },
    witnesses: log.witnesses.slice(0, 2).map((w) => w.vkey),
    quorum: 2,
    org: "acme",
    account: "alice",
    store: new MemoryTrustStore(),
    source: log,
    now: () => T0 * 1000,
    ...extra,
  };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isTrustlogError(e)) return e.code;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("a witness policy with auditors", () => {
  it("accepts a checkpoint the auditor cosigned and reports the statements relied on", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    const auditor = log.witnesses[2]!;
    const r = await verifyKey(options(log, { auditors: [auditor.vkey] }));
    expect(r.statements).toEqual([
      { statement: PLAIN_STATEMENT, quorum: 2, witnesses: ["witness-0.example", "witness-1.example"] },
      { statement: AUDIT_STATEMENT, quorum: 1, witnesses: [auditor.name] },
    ]);
    expect(r.cosigners).toContain(auditor.name);
    // Without auditors in the policy: the plain statement only (backward compatible).
    const plain = await verifyKey(options(log, {}));
    expect(plain.statements.map((s) => s.statement)).toEqual([PLAIN_STATEMENT]);
  });

  it("refuses a checkpoint the plain quorum cosigned without the auditor", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    const auditor = log.witnesses[2]!;
    log.cosigners = log.witnesses.slice(0, 2);
    expect(await refusal(verifyKey(options(log, { auditors: [auditor.vkey] })))).toBe("AUDIT_QUORUM_NOT_MET");
    // k of n: another auditor that did cosign is enough when one of two is required.
    expect(
      (await verifyKey(options(log, { auditors: [auditor.vkey, log.witnesses[1]!.vkey], auditorQuorum: 1 })))
        .statements[1],
    ).toEqual({ statement: AUDIT_STATEMENT, quorum: 1, witnesses: ["witness-1.example"] });
  });

  it("an auditor's stale cosignature does not count", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    const old = makeWitness("auditor.example", seed(230), () => T0 - 7200);
    log.cosigners = [...log.witnesses.slice(0, 2), old];
    expect(await refusal(verifyKey(options(log, { auditors: [old.vkey] })))).toBe("AUDIT_QUORUM_NOT_MET");
    expect(
      (await verifyKey(options(log, { auditors: [old.vkey], maxAgeSeconds: 10_000 }))).statements[1],
    ).toEqual({
      statement: AUDIT_STATEMENT,
      quorum: 1,
      witnesses: ["auditor.example"],
    });
  });

  it("refuses policies no set of keys can meet, or that name one key twice", () => {
    const a = makeWitness("a.example", seed(240));
    const b = makeWitness("b.example", seed(241));
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isTrustlogError(e) ? e.code : "other";
      }
      return "none";
    };
    expect(
      code(() =>
        compileWitnessPolicy({ witnesses: [a.vkey], quorum: 1, auditors: [b.vkey], auditorQuorum: 2 }),
      ),
    ).toBe("BAD_POLICY");
    expect(
      code(() => compileWitnessPolicy({ witnesses: [a.vkey], quorum: 1, auditors: [b.vkey, b.vkey] })),
    ).toBe("BAD_POLICY");
    const alias = makeWitness("a.example", seed(242)); // a's name, another key
    expect(code(() => compileWitnessPolicy({ witnesses: [a.vkey], quorum: 1, auditors: [alias.vkey] }))).toBe(
      "BAD_POLICY",
    );
    expect(code(() => compileWitnessPolicy({ witnesses: [a.vkey], quorum: 1, auditors: [a.vkey] }))).toBe(
      "none",
    );
  });
});
