// Scenarios for the client's verification, against histories built in memory (MemoryLog):
// an honest history verifies; every way a log can lie is refused with its own code.

import { describe, expect, it } from "vitest";
import { verifyBundle } from "../../client/bundle.js";
import { MemoryTrustStore } from "../../client/trust-store.js";
import { type VerifyKeyOptions, verifyHistory, verifyKey } from "../../client/verify-key.js";
import { compileWitnessPolicy } from "../../client/witness-policy.js";
import { toBase64 } from "../../core/bytes.js";
import { accountSuspend, keyAdd, keyRevoke, orgCreate, sealEvent } from "../../core/event-build.js";
import { inviteKeyFromSecret } from "../../core/invite.js";
import {
  ALICE_SIGN,
  DELEGATE,
  MemoryLog,
  ORIGIN,
  pub,
  seed,
  standardHistory,
  T0,
} from "../helpers/memory-log.js";

function options(
  log: MemoryLog,
  store = new MemoryTrustStore(),
  extra: Partial<VerifyKeyOptions> = {},
): VerifyKeyOptions {
  return {
    log: { url: "memory:", vkey: log.vkey },
    witnesses: log.witnesses.map((w) => w.vkey),
    quorum: 2,
    org: "acme",
    account: "alice",
    store,
    source: log,
    // The witnesses of MemoryLog cosign at T0: judge freshness as of then, not the real clock.
    now: () => T0 * 1000,
    ...extra,
  };
}

async function code(
  p: Promise<unknown>,
): Promise<{ code: string; details: Record<string, unknown> | undefined }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code: string; details?: Record<string, unknown> };
    return { code: err.code, details: err.details };
  }
  throw new Error("expected a refusal");
}

describe("verifyKey on an honest history", () => {
  it("returns alice's active key, the checkpoint and the cosigners", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    const r = await verifyKey(options(log, undefined, { key: pub(ALICE_SIGN) }));
    expect(r.status).toBe("active");
    expect(r.keys.map((k) => k.pub)).toEqual([pub(ALICE_SIGN)]);
    expect(r.key?.id).toBe("sign-1");
    // Four events and the index leaf that closes their batch.
    expect(r.checkpoint).toMatchObject({ origin: ORIGIN, size: 5 });
    expect(r.cosigners).toHaveLength(3);
    expect(r.events.map((e) => e.type)).toEqual(["org.create", "grant.issue", "account.invite", "key.add"]);
  });

  it("advances the trust store and accepts a later, consistent checkpoint", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    const store = new MemoryTrustStore();
    await verifyKey(options(log, store));
    expect((await store.load(log.vkey)).checkpoint?.size).toBe(5);
    log.append(
      sealEvent(
        keyRevoke({
          org: "acme",
          subject: "alice",
          seq: 2,
          prev: log.hash(ix.key),
          time: T0 + 40,
          actor: { role: "self", key: pub(ALICE_SIGN) },
          keyId: "sign-1",
          reason: "lost",
        }),
        [ALICE_SIGN],
      ),
    );
    const r = await verifyKey(options(log, store));
    expect(r.keys).toEqual([]);
    expect((await store.load(log.vkey)).checkpoint?.size).toBe(7);
  });

  it("refuses a key that is not active", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    expect((await code(verifyKey(options(log, undefined, { key: pub(seed(99)) })))).code).toBe(
      "KEY_NOT_ACTIVE",
    );
  });

  it("refuses an active key of a suspended account", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    log.append(
      sealEvent(
        accountSuspend({
          org: "acme",
          subject: "alice",
          seq: 2,
          prev: log.hash(ix.key),
          time: T0 + 40,
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
          reason: "left",
        }),
        [DELEGATE],
      ),
    );
    expect((await code(verifyKey(options(log, undefined, { key: pub(ALICE_SIGN) })))).code).toBe(
      "ACCOUNT_NOT_ACTIVE",
    );
  });
});

describe("the checkpoint", () => {
  it("without a witness quorum is refused", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    log.cosigners = [log.witnesses[0]!];
    const r = await code(verifyKey(options(log)));
    expect(r.code).toBe("QUORUM_NOT_MET");
    expect(r.details?.cosigned).toEqual(["witness-0.example"]);
  });

  it("counts one witness once, however many lines it signed", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    log.cosigners = [log.witnesses[0]!, log.witnesses[0]!];
    expect((await code(verifyKey(options(log)))).code).toBe("QUORUM_NOT_MET");
  });

  it("signed by another log key is refused", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    const other = new MemoryLog({ logSeed: seed(201) });
    expect(
      (await code(verifyKey(options(log, undefined, { log: { url: "memory:", vkey: other.vkey } })))).code,
    ).toBe("LOG_SIGNATURE_INVALID");
  });

  it("older than the trusted one is a rollback", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    const store = new MemoryTrustStore();
    await verifyKey(options(log, store)); // size 5
    log.append(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "alice",
          seq: 2,
          prev: log.hash(ix.key),
          time: T0 + 40,
          actor: { role: "self", key: pub(ALICE_SIGN) },
          key: { id: "enc-1", alg: "x25519", use: "encrypt", pub: pub(seed(77)) },
        }),
        [ALICE_SIGN],
      ),
    );
    await verifyKey(options(log, store)); // size 7
    log.servedSize = 5;
    const r = await code(verifyKey(options(log, store)));
    expect(r.code).toBe("ROLLBACK");
    expect(r.details).toMatchObject({ size: 5, trustedSize: 7 });
  });

  it("of a forked log is inconsistent with the trusted one", async () => {
    const honest = new MemoryLog();
    const ix = standardHistory(honest);
    const store = new MemoryTrustStore();
    await verifyKey(options(honest, store));
    // Same log key, a different but valid history: alice's key.add rewritten one second later.
    const fork = new MemoryLog();
    for (let i = 0; i < ix.key; i++) fork.append(honest.envelopes[i]!);
    const k = fork.append(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "alice",
          seq: 1,
          prev: fork.hash(ix.invite),
          time: T0 + 31,
          actor: { role: "self", key: pub(ALICE_SIGN) },
          key: { id: "sign-1", alg: "ed25519", use: "sign", pub: pub(ALICE_SIGN) },
        }),
        [ALICE_SIGN, inviteKeyFromSecret(new Uint8Array(32).fill(4)).seed],
      ),
    ).index;
    fork.append(
      sealEvent(
        keyRevoke({
          org: "acme",
          subject: "alice",
          seq: 2,
          prev: fork.hash(k),
          time: T0 + 40,
          actor: { role: "self", key: pub(ALICE_SIGN) },
          keyId: "sign-1",
          reason: "x",
        }),
        [ALICE_SIGN],
      ),
    );
    expect((await code(verifyKey(options(fork, store)))).code).toBe("INCONSISTENT");
    expect((await store.load(honest.vkey)).checkpoint?.size).toBe(5);
  });
});

describe("the history", () => {
  it("with an event left out breaks the chain", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    log.append(
      sealEvent(
        keyRevoke({
          org: "acme",
          subject: "alice",
          seq: 2,
          prev: log.hash(ix.key),
          time: T0 + 40,
          actor: { role: "self", key: pub(ALICE_SIGN) },
          keyId: "sign-1",
          reason: "lost",
        }),
        [ALICE_SIGN],
      ),
    );
    log.hidden.add(ix.key);
    const r = await code(verifyKey(options(log)));
    expect(r.code).toBe("CHAIN_BROKEN");
  });

  it("with its last event left out is refused once that event was seen", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    const store = new MemoryTrustStore();
    await verifyKey(options(log, store));
    log.hidden.add(ix.key);
    expect((await code(verifyKey(options(log, store)))).code).toBe("HISTORY_TRUNCATED");
  });

  it("with a tampered inclusion proof is refused", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    const b = await log.accountProof("acme", "alice");
    b.accountEvents![1]!.inclusion[0] = toBase64(new Uint8Array(32));
    const policy = compileWitnessPolicy({ witnesses: log.witnesses.map((w) => w.vkey), quorum: 2 });
    expect(() =>
      verifyBundle(b, { log: { vkey: log.vkey }, witnesses: policy, org: "acme", account: "alice" }),
    ).toThrow(expect.objectContaining({ code: "INCLUSION_INVALID" }));
  });

  it("with a forged signature is a policy violation naming the entry", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    const mallory = seed(66);
    const env = sealEvent(
      keyAdd({
        org: "acme",
        subject: "alice",
        seq: 2,
        prev: log.hash(ix.key),
        time: T0 + 40,
        actor: { role: "self", key: pub(ALICE_SIGN) },
        key: { id: "sign-2", alg: "ed25519", use: "sign", pub: pub(mallory) },
      }),
      [ALICE_SIGN, mallory],
    );
    // Alice never signed this: replace her signature with mallory's over the same event.
    const forged = {
      ...env,
      sigs: env.sigs.map((s) =>
        s.key === pub(ALICE_SIGN)
          ? { key: s.key, sig: env.sigs.find((x) => x.key === pub(mallory))!.sig }
          : s,
      ),
    };
    const at = log.append(forged).index;
    const r = await code(verifyKey(options(log)));
    expect(r.code).toBe("POLICY_VIOLATION");
    expect(r.details).toMatchObject({ index: at, policyCode: "SIG_INVALID" });
  });

  it("with a key added by a delegate is a policy violation", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    const mallory = seed(66);
    const at = log.append(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "alice",
          seq: 2,
          prev: log.hash(ix.key),
          time: T0 + 40,
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
          key: { id: "evil", alg: "ed25519", use: "sign", pub: pub(mallory) },
        }),
        [DELEGATE, mallory],
      ),
    ).index;
    const r = await code(verifyKey(options(log)));
    expect(r.code).toBe("POLICY_VIOLATION");
    expect(r.details?.index).toBe(at);
  });

  it("with an expired grant used is a policy violation", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    log.seal(); // a day later, in a batch of its own
    const at = log.append(
      sealEvent(
        accountSuspend({
          org: "acme",
          subject: "alice",
          seq: 2,
          prev: log.hash(ix.key),
          time: T0 + 86_400 + 5,
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
          reason: "late",
        }),
        [DELEGATE],
      ),
    ).index;
    const r = await code(verifyKey(options(log)));
    expect(r.code).toBe("POLICY_VIOLATION");
    expect(r.details).toMatchObject({ index: at, policyCode: "GRANT_EXPIRED" });
  });

  it("of an org re-created under another genesis is refused", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    const store = new MemoryTrustStore();
    await verifyKey(options(log, store));
    const other = new MemoryLog();
    other.append(
      sealEvent(
        orgCreate({
          org: "acme",
          time: T0,
          actor: { role: "admin", key: pub(seed(77)) },
          name: "Acme",
          admins: [pub(seed(77))],
          threshold: 1,
        }),
        [seed(77)],
      ),
    );
    // A fresh store pinned out of band to the honest genesis.
    const genesis = (await store.load(log.vkey)).genesis.acme!;
    const org = await code(
      verifyHistory({
        ...options(other, new MemoryTrustStore()),
        account: undefined,
        pinnedGenesis: genesis,
      }),
    );
    expect(org.code).toBe("GENESIS_MISMATCH");
  });
});

// What a first-time sender gets from the index of chain heads (DESIGN.md §4), with no trust
// state at all: the operator's hidden tail, its fork and its stale checkpoint are refused anyway.
describe("a first-time sender against a dishonest operator", () => {
  function revokeAfter(log: MemoryLog, prevIndex: number, seq: number): number {
    return log.append(
      sealEvent(
        keyRevoke({
          org: "acme",
          subject: "alice",
          seq,
          prev: log.hash(prevIndex),
          time: T0 + 40,
          actor: { role: "self", key: pub(ALICE_SIGN) },
          keyId: "sign-1",
          reason: "lost",
        }),
        [ALICE_SIGN],
      ),
    ).index;
  }

  it("refuses a history whose last events were left out (HISTORY_TRUNCATED)", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    const revoke = revokeAfter(log, ix.key, 2);
    log.hidden.add(revoke);
    const r = await code(verifyKey(options(log, new MemoryTrustStore(), { key: pub(ALICE_SIGN) })));
    expect(r.code).toBe("HISTORY_TRUNCATED");
    expect(r.details).toMatchObject({ kind: "account", servedSeq: 1, provedSeq: 2 });
  });

  it("refuses a first key that the invite key did not co-sign (the operator has no secret)", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    log.seal();
    const mallory = seed(66);
    const fork = log.append(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "alice",
          seq: 1,
          prev: log.hash(ix.invite),
          time: T0 + 50,
          actor: { role: "self", key: pub(mallory) },
          key: { id: "sign-1", alg: "ed25519", use: "sign", pub: pub(mallory) },
        }),
        [mallory],
      ),
    ).index;
    log.hidden.add(ix.key);
    const r = await code(verifyKey(options(log)));
    expect(r.code).toBe("POLICY_VIOLATION");
    expect(r.details).toMatchObject({ index: fork, policyCode: "INVITE_SIG_MISSING" });
  });

  it("refuses a fork the log keeps off its index, even with the invite key (HISTORY_FORKED)", async () => {
    // Suppose the invite secret leaked to the operator: its second seq-1 key.add is valid on its
    // own, but the index proves the real seq 1, so a bundle built on the fork cannot pass.
    const log = new MemoryLog();
    const ix = standardHistory(log);
    log.seal();
    const mallory = seed(66);
    const forkEnv = sealEvent(
      keyAdd({
        org: "acme",
        subject: "alice",
        seq: 1,
        prev: log.hash(ix.invite),
        time: T0 + 50,
        actor: { role: "self", key: pub(mallory) },
        key: { id: "sign-1", alg: "ed25519", use: "sign", pub: pub(mallory) },
      }),
      [mallory, inviteKeyFromSecret(new Uint8Array(32).fill(4)).seed],
    );
    log.append(forkEnv, { indexed: false });
    log.hidden.add(ix.key);
    const r = await code(verifyKey(options(log, new MemoryTrustStore(), { key: pub(mallory) })));
    expect(r.code).toBe("HISTORY_FORKED");
    expect(r.details).toMatchObject({ kind: "account", servedSeq: 1, provedSeq: 1, provedIndex: ix.key });
  });

  it("refuses a checkpoint whose cosignatures are 60 days old (CHECKPOINT_STALE)", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    const later = { now: () => (T0 + 60 * 86_400) * 1000 };
    const r = await code(verifyKey(options(log, new MemoryTrustStore(), later)));
    expect(r.code).toBe("CHECKPOINT_STALE");
    expect(r.details).toMatchObject({ ageSeconds: 60 * 86_400, maxAgeSeconds: 3600 });
    // Within the maximum age it passes; a larger maximum is the caller's choice.
    await verifyKey(options(log, new MemoryTrustStore(), { now: () => (T0 + 3599) * 1000 }));
    await verifyKey(options(log, new MemoryTrustStore(), { ...later, maxAgeSeconds: 61 * 86_400 }));
  });

  it("refuses an event seen at one index and shown later at another (HISTORY_FORKED)", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    const revoke = revokeAfter(log, ix.key, 2);
    const store = new MemoryTrustStore();
    await verifyKey(options(log, store, { allowInactive: true }));
    // The same revocation re-appended later (another leaf: here the same bytes in a new batch),
    // with the original hidden: what it revoked would act again in between.
    log.append(log.envelopes[revoke]!);
    log.hidden.add(revoke);
    const r = await code(verifyKey(options(log, store)));
    expect(r.code).toBe("HISTORY_FORKED");
    expect(r.details).toMatchObject({ seenIndex: revoke });
  });

  it("reports a suspended account's status and refuses it unless allowed (ACCOUNT_NOT_ACTIVE)", async () => {
    const log = new MemoryLog();
    const ix = standardHistory(log);
    log.append(
      sealEvent(
        accountSuspend({
          org: "acme",
          subject: "alice",
          seq: 2,
          prev: log.hash(ix.key),
          time: T0 + 40,
          actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
          reason: "left",
        }),
        [DELEGATE],
      ),
    );
    expect((await code(verifyKey(options(log)))).code).toBe("ACCOUNT_NOT_ACTIVE");
    const r = await verifyKey(options(log, new MemoryTrustStore(), { allowInactive: true }));
    expect(r.status).toBe("suspended");
    expect(r.keys).toEqual([]);
    expect(r.unrevokedKeys.map((k) => k.pub)).toEqual([pub(ALICE_SIGN)]);
  });

  it("keeps an org and an account with the same id apart in the trust store", async () => {
    const log = new MemoryLog();
    standardHistory(log);
    const store = new MemoryTrustStore();
    await verifyKey(options(log, store));
    const heads = (await store.load(log.vkey)).heads;
    // An account's bundle holds the org's authority and the grant it used complete, not the
    // org's whole chain: those are what it remembers.
    expect(Object.keys(heads).sort()).toEqual(["account acme alice", "authority acme", "grant acme scim-1"]);
  });
});
