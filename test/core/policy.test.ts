import { describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { errorKind } from "../../core/error-codes.js";
import type { Envelope } from "../../core/event.js";
import { MemoryState } from "../../core/memory-state.js";
import { applyEvent, POLICY_ERROR_CODES } from "../../core/policy.js";
import { admin, DAY, delegate, History, self, testKey } from "../helpers/events.js";

const root = testKey("acme-root");
const ops2 = testKey("acme-ops");
const ops3 = testKey("acme-ops-3");
const bridge = testKey("scim-bridge");
const laptop = testKey("alice-laptop");
const phone = testKey("alice-phone");
const outsider = testKey("outsider");

/** acme (admin root, threshold 1), a full grant "scim" for the bridge, alice active on her laptop. */
function acme(): History {
  const h = new History();
  h.append(h.orgCreate("acme", { admins: [root], name: "Acme Inc" }));
  h.append(
    h.grantIssue(
      "acme",
      {
        id: "scim",
        delegate: bridge,
        ops: ["account.invite", "account.suspend", "account.reactivate", "account.delete", "key.revoke"],
      },
      admin(root),
    ),
  );
  h.append(h.invite("acme", "alice", delegate(bridge, "scim"), { externalId: "2819c223" }));
  h.append(h.keyAdd("acme", "alice", laptop));
  return h;
}

function code(h: History, env: Envelope, ctx: { now?: number; skewSeconds?: number } = {}): string {
  return h.refuse(env, ctx).code;
}

describe("the policy: organisations", () => {
  it("an org is created by its admins and pins its genesis leaf hash", () => {
    const h = new History();
    const e = h.append(h.orgCreate("acme", { admins: [root, ops2], threshold: 2 }));
    const org = h.state.org("acme")!;
    expect(org).toMatchObject({ id: "acme", admins: [root.pub, ops2.pub], threshold: 2, activeGrants: 0 });
    expect(org.genesis).toBe(toBase64(e.leafHash));
    expect(org.head).toEqual({ seq: 0, leafHash: toBase64(e.leafHash), index: 0 });
  });

  it("an org id is used once (ORG_EXISTS)", () => {
    const h = acme();
    expect(code(h, h.orgCreate("acme", { admins: [outsider] }))).toBe("ORG_EXISTS");
  });

  it("org.create needs threshold signatures of its admins (THRESHOLD_NOT_MET)", () => {
    const h = new History();
    expect(code(h, h.orgCreate("acme", { admins: [root, ops2], threshold: 2, signers: [root] }))).toBe(
      "THRESHOLD_NOT_MET",
    );
  });

  it("org.create's actor is one of its admins (NOT_ADMIN)", () => {
    const h = new History();
    expect(
      code(h, h.orgCreate("acme", { admins: [root, ops2], by: outsider, signers: [outsider, root] })),
    ).toBe("NOT_ADMIN");
  });

  it("a key that plays no role cannot sign (SIG_UNEXPECTED)", () => {
    const h = new History();
    expect(code(h, h.orgCreate("acme", { admins: [root, ops2], extraSigners: [outsider] }))).toBe(
      "SIG_UNEXPECTED",
    );
    // A key.add may carry two signatures: a second that is not the new key plays no role.
    const a = acme();
    expect(
      code(
        a,
        a.keyAdd("acme", "alice", laptop, {
          id: "enc",
          use: "encrypt",
          by: self(laptop),
          extraSigners: [outsider],
        }),
      ),
    ).toBe("SIG_UNEXPECTED");
  });

  it("an envelope carries no more signatures than its rule can use (TOO_MANY_SIGNATURES)", () => {
    // Checked when the envelope is parsed, before any signature or rule: an account event other
    // than key.add has one signer; a second admin is no co-signer there either.
    const a = acme();
    expect(code(a, a.suspend("acme", "alice", admin(root), { extraSigners: [laptop] }))).toBe(
      "TOO_MANY_SIGNATURES",
    );
    a.append(a.adminAdd("acme", ops2, admin(root)));
    expect(code(a, a.suspend("acme", "alice", admin(root), { extraSigners: [ops2] }))).toBe(
      "TOO_MANY_SIGNATURES",
    );
    expect(code(a, a.keyAdd("acme", "alice", phone, { by: self(laptop), extraSigners: [outsider] }))).toBe(
      "TOO_MANY_SIGNATURES",
    );
  });

  it("the actor must sign (SIG_MISSING)", () => {
    const h = acme();
    h.append(h.adminAdd("acme", ops2, admin(root)));
    expect(code(h, h.adminAdd("acme", ops3, admin(root), { signers: [ops2, ops3] }))).toBe("SIG_MISSING");
  });

  it("a new admin key proves possession by signing its admin.add (SIG_MISSING)", () => {
    const h = acme();
    expect(code(h, h.adminAdd("acme", ops2, admin(root), { signers: [root] }))).toBe("SIG_MISSING");
  });

  it("admins are added and removed; org events need threshold admins, extra admins may co-sign", () => {
    const h = acme();
    h.append(h.adminAdd("acme", ops2, admin(root)));
    h.append(h.adminAdd("acme", ops3, admin(root, ops2)));
    expect(h.state.org("acme")!.admins).toEqual([root.pub, ops2.pub, ops3.pub]);
    h.append(h.adminRemove("acme", ops3, admin(ops2)));
    expect(h.state.org("acme")!.admins).toEqual([root.pub, ops2.pub]);
  });

  it("a threshold org refuses an event signed by too few admins (THRESHOLD_NOT_MET)", () => {
    const h = new History();
    h.append(h.orgCreate("acme", { admins: [root, ops2, ops3], threshold: 2 }));
    expect(code(h, h.adminRemove("acme", ops3, admin(root)))).toBe("THRESHOLD_NOT_MET");
    h.append(h.adminRemove("acme", ops3, admin(root, ops2)));
    expect(h.state.org("acme")!.admins).toEqual([root.pub, ops2.pub]);
  });

  it("removing an admin cannot leave fewer admins than the threshold (LAST_ADMIN)", () => {
    const h = acme();
    expect(code(h, h.adminRemove("acme", root, admin(root)))).toBe("LAST_ADMIN");
  });

  it("an admin is added once (ADMIN_EXISTS) and only admins are removed (ADMIN_UNKNOWN)", () => {
    const h = acme();
    h.append(h.adminAdd("acme", ops2, admin(root)));
    expect(code(h, h.adminAdd("acme", ops2, admin(root)))).toBe("ADMIN_EXISTS");
    expect(code(h, h.adminRemove("acme", outsider, admin(root)))).toBe("ADMIN_UNKNOWN");
  });

  it("only an admin acts as admin (NOT_ADMIN)", () => {
    const h = acme();
    expect(code(h, h.adminAdd("acme", outsider, admin(outsider)))).toBe("NOT_ADMIN");
    expect(code(h, h.suspend("acme", "alice", admin(outsider)))).toBe("NOT_ADMIN");
  });

  it("a removed admin has no authority left (NOT_ADMIN)", () => {
    const h = acme();
    h.append(h.adminAdd("acme", ops2, admin(root)));
    h.append(h.adminRemove("acme", ops2, admin(root)));
    expect(code(h, h.suspend("acme", "alice", admin(ops2)))).toBe("NOT_ADMIN");
  });

  it("org events are for admins only (ROLE_FORBIDDEN)", () => {
    const h = acme();
    expect(code(h, h.adminRemove("acme", root, self(laptop)))).toBe("ROLE_FORBIDDEN");
    expect(code(h, h.grantRevoke("acme", "scim", delegate(bridge, "scim")))).toBe("ROLE_FORBIDDEN");
  });

  it("events for an unknown org are refused (ORG_UNKNOWN)", () => {
    const h = acme();
    expect(code(h, h.adminAdd("globex", ops2, admin(root)))).toBe("ORG_UNKNOWN");
    expect(code(h, h.invite("globex", "bob", admin(root)))).toBe("ORG_UNKNOWN");
  });

  it("a wrong seq or prev is a chain conflict carrying the subject's head (CHAIN_CONFLICT)", () => {
    const h = acme();
    const head = h.head("acme")!;
    const stale = h.refuse(h.adminAdd("acme", ops2, admin(root), { seq: head.seq }));
    expect(stale.code).toBe("CHAIN_CONFLICT");
    expect(stale.details).toEqual({ head });
    expect(code(h, h.adminAdd("acme", ops2, admin(root), { prev: toBase64(new Uint8Array(32)) }))).toBe(
      "CHAIN_CONFLICT",
    );
    expect(code(h, h.suspend("acme", "alice", admin(root), { seq: 7 }))).toBe("CHAIN_CONFLICT");
    // Two events built on the same head: the second one loses.
    const a = h.adminAdd("acme", ops2, admin(root));
    const b = h.adminAdd("acme", ops3, admin(root));
    h.append(a);
    expect(code(h, b)).toBe("CHAIN_CONFLICT");
  });

  it("a signature that does not verify is refused (SIG_INVALID)", () => {
    const h = acme();
    const env = h.suspend("acme", "alice", admin(root));
    const sig = fromBase64(env.sigs[0]!.sig);
    sig[0]! ^= 1;
    const bad = { ...env, sigs: [{ key: env.sigs[0]!.key, sig: toBase64(sig) }] };
    expect(code(h, bad)).toBe("SIG_INVALID");
  });
});

describe("the policy: grants and delegates", () => {
  it("a grant is recorded with its position and revoked once", () => {
    const h = acme();
    expect(h.state.grant("acme", "scim")).toMatchObject({
      org: "acme",
      delegate: bridge.pub,
      issuedIndex: 1,
    });
    expect(h.state.org("acme")!.activeGrants).toBe(1);
    const e = h.append(h.grantRevoke("acme", "scim", admin(root), { reason: "rotated" }));
    expect(h.state.org("acme")!.activeGrants).toBe(0);
    expect(h.state.grant("acme", "scim")).toMatchObject({
      revokedIndex: e.index,
      revokeReason: "rotated",
    });
    expect(code(h, h.grantRevoke("acme", "scim", admin(root)))).toBe("GRANT_REVOKED");
  });

  it("a grant id is used once, even after revocation (GRANT_EXISTS)", () => {
    const h = acme();
    h.append(h.grantRevoke("acme", "scim", admin(root)));
    expect(
      code(h, h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["key.revoke"] }, admin(root))),
    ).toBe("GRANT_EXISTS");
  });

  it("a grant cannot list an operation that is never delegable (OP_NOT_DELEGABLE)", () => {
    const h = acme();
    for (const op of ["key.add", "admin.add", "grant.issue", "org.create"] as const) {
      expect(
        code(
          h,
          h.grantIssue("acme", { id: "g2", delegate: bridge, ops: ["account.invite", op] }, admin(root)),
        ),
      ).toBe("OP_NOT_DELEGABLE");
    }
  });

  it("a delegate cannot add a key (DELEGATE_CANNOT_ADD_KEY)", () => {
    const h = acme();
    expect(code(h, h.keyAdd("acme", "alice", outsider, { by: delegate(bridge, "scim") }))).toBe(
      "DELEGATE_CANNOT_ADD_KEY",
    );
    // Even with a grant that does not exist, the code is the same.
    expect(code(h, h.keyAdd("acme", "alice", outsider, { by: delegate(bridge, "nope") }))).toBe(
      "DELEGATE_CANNOT_ADD_KEY",
    );
  });

  it("a delegate cannot add an admin or issue a grant (DELEGATE_CANNOT_ADD_KEY)", () => {
    const h = acme();
    expect(code(h, h.adminAdd("acme", outsider, delegate(bridge, "scim")))).toBe("DELEGATE_CANNOT_ADD_KEY");
    expect(
      code(
        h,
        h.grantIssue("acme", { id: "g2", delegate: outsider, ops: ["key.revoke"] }, delegate(bridge, "nope")),
      ),
    ).toBe("DELEGATE_CANNOT_ADD_KEY");
  });

  it("a delegate must cite a grant that exists (GRANT_UNKNOWN)", () => {
    const h = acme();
    expect(code(h, h.suspend("acme", "alice", delegate(bridge, "other")))).toBe("GRANT_UNKNOWN");
  });

  it("a delegate must hold the grant it cites (GRANT_KEY_MISMATCH)", () => {
    const h = acme();
    expect(code(h, h.suspend("acme", "alice", delegate(outsider, "scim")))).toBe("GRANT_KEY_MISMATCH");
  });

  it("a revoked grant gives no authority (GRANT_REVOKED)", () => {
    const h = acme();
    h.append(h.grantRevoke("acme", "scim", admin(root)));
    expect(code(h, h.suspend("acme", "alice", delegate(bridge, "scim")))).toBe("GRANT_REVOKED");
  });

  it("a grant is judged by the event's time: not before notBefore, not from notAfter on", () => {
    const h = acme();
    h.append(
      h.grantIssue(
        "acme",
        {
          id: "later",
          delegate: bridge,
          ops: ["account.suspend"],
          notBefore: h.now + 100,
          notAfter: h.now + 200,
        },
        admin(root),
      ),
    );
    expect(code(h, h.suspend("acme", "alice", delegate(bridge, "later")))).toBe("GRANT_NOT_YET_VALID");
    expect(code(h, h.suspend("acme", "alice", delegate(bridge, "later"), { time: h.now + 200 }))).toBe(
      "GRANT_EXPIRED",
    );
    h.append(h.suspend("acme", "alice", delegate(bridge, "later"), { time: h.now + 100 }));
    expect(h.state.account("acme", "alice")!.status).toBe("suspended");
  });

  it("an expired grant gives no authority (GRANT_EXPIRED)", () => {
    const h = acme();
    h.tick(31 * DAY);
    expect(code(h, h.suspend("acme", "alice", delegate(bridge, "scim")))).toBe("GRANT_EXPIRED");
  });

  it("a delegate acts only within its grant's ops and accounts (OUT_OF_SCOPE)", () => {
    const h = acme();
    h.append(
      h.grantIssue(
        "acme",
        {
          id: "eng",
          delegate: outsider,
          ops: ["account.invite", "account.suspend"],
          accounts: ["eng.", "ops."],
        },
        admin(root),
      ),
    );
    h.append(h.invite("acme", "eng.bob", delegate(outsider, "eng")));
    h.append(h.invite("acme", "ops.carol", delegate(outsider, "eng")));
    expect(code(h, h.invite("acme", "sales.dan", delegate(outsider, "eng")))).toBe("OUT_OF_SCOPE");
    expect(code(h, h.delete("acme", "eng.bob", delegate(outsider, "eng")))).toBe("OUT_OF_SCOPE");
    h.append(h.suspend("acme", "eng.bob", delegate(outsider, "eng")));
  });
});

describe("the policy: accounts", () => {
  it("an invited account is created with its invite key, and activated by its first key", () => {
    const h = new History();
    h.append(h.orgCreate("acme", { admins: [root] }));
    h.append(h.invite("acme", "alice", admin(root), { externalId: "x-1" }));
    expect(h.state.account("acme", "alice")).toMatchObject({
      status: "invited",
      externalId: "x-1",
      everActive: false,
      inviteKey: h.inviteKey("acme", "alice").pub,
      keys: new Map(),
      head: { seq: 0, index: 1 },
    });
    h.append(h.keyAdd("acme", "alice", laptop));
    expect(h.state.account("acme", "alice")).toMatchObject({
      status: "active",
      everActive: true,
      keys: new Map([
        ["alice-laptop", { id: "alice-laptop", pub: laptop.pub, use: "sign", alg: "ed25519", addedIndex: 2 }],
      ]),
      head: { seq: 1, index: 2 },
    });
  });

  it("an account id is used once per org (ACCOUNT_EXISTS)", () => {
    const h = acme();
    expect(code(h, h.invite("acme", "alice", admin(root)))).toBe("ACCOUNT_EXISTS");
  });

  it("events for an unknown account are refused (ACCOUNT_UNKNOWN)", () => {
    const h = acme();
    expect(code(h, h.suspend("acme", "bob", admin(root)))).toBe("ACCOUNT_UNKNOWN");
    expect(code(h, h.keyAdd("acme", "bob", outsider))).toBe("ACCOUNT_UNKNOWN");
  });

  it("the account cannot invite itself (ROLE_FORBIDDEN), nor can an admin add its key", () => {
    const h = acme();
    expect(code(h, h.invite("acme", "bob", self(outsider)))).toBe("ROLE_FORBIDDEN");
    expect(code(h, h.keyAdd("acme", "alice", phone, { by: admin(root) }))).toBe("ROLE_FORBIDDEN");
    expect(code(h, h.suspend("acme", "alice", self(laptop)))).toBe("ROLE_FORBIDDEN");
  });

  it("the first key is co-signed by the invite key (INVITE_SIG_MISSING)", () => {
    const h = acme();
    h.append(h.invite("acme", "bob", admin(root)));
    // Another secret's invite key, or none at all.
    expect(code(h, h.keyAdd("acme", "bob", outsider, { inviteSecret: new Uint8Array(32) }))).toBe(
      "INVITE_SIG_MISSING",
    );
    expect(code(h, h.keyAdd("acme", "bob", outsider, { inviteSecret: null }))).toBe("INVITE_SIG_MISSING");
    // A bad signature by the right invite key fails as any bad signature does.
    const good = h.keyAdd("acme", "bob", outsider);
    const invitePub = h.inviteKey("acme", "bob").pub;
    const forged = {
      ...good,
      sigs: good.sigs.map((x) =>
        x.key === invitePub ? { ...x, sig: good.sigs.find((y) => y.key !== invitePub)!.sig } : x,
      ),
    };
    expect(code(h, forged)).toBe("SIG_INVALID");
    h.append(good);
  });

  it("the log never holds the invite secret, only its public invite key", () => {
    const h = acme();
    const secret = h.inviteSecret("acme", "bob");
    const inv = h.append(h.invite("acme", "bob", admin(root)));
    const add = h.append(h.keyAdd("acme", "bob", outsider));
    for (const e of [inv, add]) {
      const text = new TextDecoder().decode(e.leaf);
      expect(text).not.toContain(toBase64(secret));
      expect(text).not.toContain("inviteSecret");
    }
    expect(inv.envelope.event.body).toMatchObject({ inviteKey: h.inviteKey("acme", "bob").pub });
  });

  it("an invite key signs one event only, and never becomes an account key (INVITE_KEY_USED)", () => {
    const h = acme();
    // alice is active: her invite key co-signing a later key.add is refused.
    expect(
      code(
        h,
        h.keyAdd("acme", "alice", laptop, {
          id: "enc",
          use: "encrypt",
          by: self(laptop),
          inviteSecret: h.inviteSecret("acme", "alice"),
        }),
      ),
    ).toBe("INVITE_KEY_USED");
    // The invite key itself as bob's first key: whoever issued the invite would hold it.
    h.append(h.invite("acme", "bob", admin(root)));
    const inviteAsKey = h.inviteKey("acme", "bob");
    expect(code(h, h.keyAdd("acme", "bob", inviteAsKey))).toBe("INVITE_KEY_USED");
  });

  it("the first key signs for itself and must be a sign key", () => {
    const h = acme();
    h.append(h.invite("acme", "bob", admin(root)));
    const bob = testKey("bob");
    // Another key acting for an account that has none yet.
    expect(code(h, h.keyAdd("acme", "bob", bob, { by: self(outsider) }))).toBe("KEY_UNKNOWN");
    expect(code(h, h.keyAdd("acme", "bob", bob, { use: "encrypt", signers: [bob] }))).toBe("WRONG_STATE");
    // The first key and the invite key are its two signers: a third is one too many.
    expect(code(h, h.keyAdd("acme", "bob", bob, { extraSigners: [outsider] }))).toBe("TOO_MANY_SIGNATURES");
    expect(code(h, h.keyAdd("acme", "bob", bob, { inviteSecret: null, extraSigners: [outsider] }))).toBe(
      "INVITE_SIG_MISSING",
    );
  });

  it("later keys are added by an active sign key and sign for themselves", () => {
    const h = acme();
    h.append(h.keyAdd("acme", "alice", phone, { by: self(laptop) }));
    h.append(h.keyAdd("acme", "alice", laptop, { id: "laptop-enc", use: "encrypt", by: self(laptop) }));
    const keys = h.state.account("acme", "alice")!.keys;
    expect([...keys.keys()].sort()).toEqual(["alice-laptop", "alice-phone", "laptop-enc"]);
    expect(keys.get("laptop-enc")).toMatchObject({ alg: "x25519", use: "encrypt", pub: laptop.x25519 });
  });

  it("a new sign key must sign its key.add (SIG_MISSING)", () => {
    const h = acme();
    expect(code(h, h.keyAdd("acme", "alice", phone, { by: self(laptop), signers: [laptop] }))).toBe(
      "SIG_MISSING",
    );
  });

  it("key ids and keys are unique per account for ever (KEY_EXISTS)", () => {
    const h = acme();
    expect(code(h, h.keyAdd("acme", "alice", phone, { id: "alice-laptop", by: self(laptop) }))).toBe(
      "KEY_EXISTS",
    );
    h.append(h.keyAdd("acme", "alice", phone, { by: self(laptop) }));
    h.append(h.keyRevoke("acme", "alice", "alice-phone", self(laptop)));
    expect(code(h, h.keyAdd("acme", "alice", phone, { by: self(laptop) }))).toBe("KEY_EXISTS");
    expect(code(h, h.keyAdd("acme", "alice", phone, { id: "phone-2", by: self(laptop) }))).toBe("KEY_EXISTS");
  });

  it("keys are revoked by the account, an admin or a delegate", () => {
    const h = acme();
    h.append(h.keyAdd("acme", "alice", phone, { by: self(laptop) }));
    h.append(h.keyAdd("acme", "alice", testKey("tablet"), { id: "tablet", by: self(laptop) }));
    h.append(h.keyRevoke("acme", "alice", "alice-phone", self(laptop)));
    h.append(h.keyRevoke("acme", "alice", "tablet", admin(root)));
    const e = h.append(
      h.keyRevoke("acme", "alice", "alice-laptop", delegate(bridge, "scim"), { reason: "lost" }),
    );
    expect(h.state.account("acme", "alice")!.keys.get("alice-laptop")).toMatchObject({
      revokedIndex: e.index,
      revokeReason: "lost",
    });
  });

  it("revoking an unknown key is KEY_UNKNOWN, a revoked one KEY_REVOKED", () => {
    const h = acme();
    expect(code(h, h.keyRevoke("acme", "alice", "nope", admin(root)))).toBe("KEY_UNKNOWN");
    h.append(h.keyAdd("acme", "alice", phone, { by: self(laptop) }));
    h.append(h.keyRevoke("acme", "alice", "alice-phone", admin(root)));
    expect(code(h, h.keyRevoke("acme", "alice", "alice-phone", admin(root)))).toBe("KEY_REVOKED");
  });

  it("a revoked key cannot act for the account (KEY_REVOKED), a stranger's key is KEY_UNKNOWN", () => {
    const h = acme();
    h.append(h.keyAdd("acme", "alice", phone, { by: self(laptop) }));
    h.append(h.keyRevoke("acme", "alice", "alice-phone", admin(root)));
    expect(code(h, h.keyAdd("acme", "alice", testKey("x"), { by: self(phone) }))).toBe("KEY_REVOKED");
    expect(code(h, h.keyRevoke("acme", "alice", "alice-laptop", self(phone)))).toBe("KEY_REVOKED");
    expect(code(h, h.keyAdd("acme", "alice", testKey("x"), { by: self(outsider) }))).toBe("KEY_UNKNOWN");
  });

  it("an encrypt key cannot act for the account (KEY_UNKNOWN)", () => {
    const h = acme();
    h.append(h.keyAdd("acme", "alice", phone, { id: "enc", use: "encrypt", by: self(laptop) }));
    // Even if its bytes were an Ed25519 key, an encrypt key is not a sign key.
    const fake = { ...phone, pub: phone.x25519 };
    expect(code(h, h.keyRevoke("acme", "alice", "alice-laptop", self(fake), { signers: [phone] }))).toBe(
      "KEY_UNKNOWN",
    );
  });

  it("a suspended account accepts no key.add (ACCOUNT_SUSPENDED), then is reactivated", () => {
    const h = acme();
    h.append(h.suspend("acme", "alice", delegate(bridge, "scim")));
    expect(code(h, h.keyAdd("acme", "alice", phone, { by: self(laptop) }))).toBe("ACCOUNT_SUSPENDED");
    h.append(h.keyRevoke("acme", "alice", "alice-laptop", admin(root)));
    h.append(h.reactivate("acme", "alice", admin(root)));
    expect(h.state.account("acme", "alice")!.status).toBe("active");
  });

  it("a suspended invitation returns to invited on reactivation and can still take its first key", () => {
    const h = acme();
    h.append(h.invite("acme", "bob", admin(root)));
    h.append(h.suspend("acme", "bob", admin(root)));
    expect(code(h, h.keyAdd("acme", "bob", outsider))).toBe("ACCOUNT_SUSPENDED");
    h.append(h.reactivate("acme", "bob", admin(root)));
    expect(h.state.account("acme", "bob")!.status).toBe("invited");
    h.append(h.keyAdd("acme", "bob", outsider));
    expect(h.state.account("acme", "bob")!.status).toBe("active");
  });

  it("status changes only from the states they apply to (WRONG_STATE)", () => {
    const h = acme();
    expect(code(h, h.reactivate("acme", "alice", admin(root)))).toBe("WRONG_STATE");
    h.append(h.suspend("acme", "alice", admin(root)));
    expect(code(h, h.suspend("acme", "alice", admin(root)))).toBe("WRONG_STATE");
  });

  it("a deleted account accepts nothing (ACCOUNT_DELETED)", () => {
    const h = acme();
    h.append(h.suspend("acme", "alice", admin(root)));
    h.append(h.delete("acme", "alice", delegate(bridge, "scim")));
    expect(h.state.account("acme", "alice")!.status).toBe("deleted");
    expect(code(h, h.reactivate("acme", "alice", admin(root)))).toBe("ACCOUNT_DELETED");
    expect(code(h, h.delete("acme", "alice", admin(root)))).toBe("ACCOUNT_DELETED");
    expect(code(h, h.keyRevoke("acme", "alice", "alice-laptop", admin(root)))).toBe("ACCOUNT_DELETED");
    expect(code(h, h.keyAdd("acme", "alice", phone, { by: self(laptop) }))).toBe("ACCOUNT_DELETED");
    expect(code(h, h.invite("acme", "alice", admin(root)))).toBe("ACCOUNT_EXISTS");
  });
});

describe("the policy: time, purity and error kinds", () => {
  it("an event too far from the server's clock is refused (SKEW), replay ignores the clock", () => {
    const h = acme();
    const env = h.suspend("acme", "alice", admin(root));
    expect(code(h, env, { now: h.now + 301 })).toBe("SKEW");
    expect(code(h, env, { now: h.now - 61, skewSeconds: 60 })).toBe("SKEW");
    h.append(env, { now: h.now + 300 });
  });

  it("applyEvent never mutates the state it reads or the envelope, and is deterministic", () => {
    const h = acme();
    const env = h.keyAdd("acme", "alice", phone, { by: self(laptop) });
    const before = JSON.stringify(h.state.toJSON());
    const envBefore = JSON.stringify(env);
    const ctx = { index: 99, leafHash: new Uint8Array(32).fill(9) };
    const a = applyEvent(h.state, env, ctx);
    const b = applyEvent(h.state, env, ctx);
    expect(a).toEqual(b);
    expect(a.account).not.toBe(h.state.account("acme", "alice"));
    a.account!.keys.get("alice-laptop")!.revokedIndex = 1;
    expect(JSON.stringify(h.state.toJSON())).toBe(before);
    expect(JSON.stringify(env)).toBe(envBefore);
  });

  it("signaturesChecked skips the signature pass, and only that", () => {
    const h = acme();
    const env = h.suspend("acme", "alice", admin(root));
    const bad = { ...env, sigs: [{ key: env.sigs[0]!.key, sig: toBase64(new Uint8Array(64)) }] };
    const ctx = { index: 99, leafHash: new Uint8Array(32) };
    expect(() => applyEvent(h.state, bad, ctx)).toThrow(expect.objectContaining({ code: "SIG_INVALID" }));
    expect(applyEvent(h.state, bad, { ...ctx, signaturesChecked: true }).account!.status).toBe("suspended");
  });

  it("MemoryState round-trips through JSON", () => {
    const h = acme();
    const copy = MemoryState.fromJSON(JSON.parse(JSON.stringify(h.state)));
    expect(copy.toJSON()).toEqual(h.state.toJSON());
    const env = h.suspend("acme", "alice", admin(root));
    const ctx = { index: 4, leafHash: new Uint8Array(32).fill(3) };
    expect(copy.apply(env, ctx)).toEqual(h.state.apply(env, ctx));
  });

  it("every code the policy gives is a client error: malformed, forbidden, conflict or too large", () => {
    const kinds = new Set(POLICY_ERROR_CODES.map((c) => errorKind(c)));
    expect([...kinds].sort()).toEqual(["conflict", "forbidden", "malformed", "too_large"]);
    expect(errorKind("CHAIN_CONFLICT")).toBe("conflict");
    expect(errorKind("DELEGATE_CANNOT_ADD_KEY")).toBe("forbidden");
  });
});

describe("the policy: ids that are also JavaScript property names", () => {
  it("a grant and a key named __proto__ or constructor are stored and used like any other", () => {
    const h = new History();
    h.append(h.orgCreate("acme", { admins: [root] }));
    for (const id of ["__proto__", "constructor"]) {
      h.append(
        h.grantIssue("acme", { id, delegate: bridge, ops: ["account.invite", "key.revoke"] }, admin(root)),
      );
    }
    expect(
      h.state
        .grantsOf("acme")
        .map((g) => g.id)
        .sort(),
    ).toEqual(["__proto__", "constructor"]);
    expect(h.state.org("acme")!.activeGrants).toBe(2);
    // Using the grants works, and survives a JSON round trip (what server and client persist).
    h.append(h.invite("acme", "alice", delegate(bridge, "__proto__")));
    h.append(h.keyAdd("acme", "alice", laptop, { id: "__proto__" }));
    h.append(h.keyRevoke("acme", "alice", "__proto__", delegate(bridge, "constructor")));
    const again = MemoryState.fromJSON(JSON.parse(JSON.stringify(h.state.toJSON())));
    expect(
      again
        .grantsOf("acme")
        .map((g) => g.id)
        .sort(),
    ).toEqual(["__proto__", "constructor"]);
    expect(again.account("acme", "alice")!.keys.get("__proto__")?.revokedIndex).toBeDefined();
    // A grant id that was never issued is unknown even when it names an Object.prototype member.
    expect(code(h, h.invite("acme", "bob", delegate(bridge, "toString")))).toBe("GRANT_UNKNOWN");
  });
});

describe("the policy: admission limits (the server's, never replay's)", () => {
  const limits = { maxActiveGrants: 2, maxAdmins: 2, maxKeysPerAccount: 2 };

  it("an org holds at most maxActiveGrants unrevoked grants (GRANT_LIMIT); revoking frees one", () => {
    const h = new History();
    h.append(h.orgCreate("acme", { admins: [root] }));
    h.append(h.grantIssue("acme", { id: "g1", delegate: bridge, ops: ["account.invite"] }, admin(root)), {
      limits,
    });
    h.append(h.grantIssue("acme", { id: "g2", delegate: bridge, ops: ["account.invite"] }, admin(root)), {
      limits,
    });
    const third = h.grantIssue("acme", { id: "g3", delegate: bridge, ops: ["account.invite"] }, admin(root));
    expect(h.refuse(third, { limits }).code).toBe("GRANT_LIMIT");
    // Without limits (a replay), the same event is valid: limits bind admission only.
    expect(() => applyEvent(h.state, third, { index: 9, leafHash: new Uint8Array(32) })).not.toThrow();
    h.append(h.grantRevoke("acme", "g1", admin(root)), { limits });
    h.append(h.grantIssue("acme", { id: "g3", delegate: bridge, ops: ["account.invite"] }, admin(root)), {
      limits,
    });
  });

  it("an org has at most maxAdmins admins (ADMIN_LIMIT)", () => {
    const h = new History();
    h.append(h.orgCreate("acme", { admins: [root] }));
    h.append(h.adminAdd("acme", testKey("limit-admin-2"), admin(root)), { limits });
    expect(h.refuse(h.adminAdd("acme", testKey("limit-admin-3"), admin(root)), { limits }).code).toBe(
      "ADMIN_LIMIT",
    );
  });

  it("an account has had at most maxKeysPerAccount keys, revoked ones included (KEY_LIMIT)", () => {
    const h = acme();
    h.append(h.keyAdd("acme", "alice", phone, { by: self(laptop) }), { limits });
    h.append(h.keyRevoke("acme", "alice", "alice-phone", self(laptop)), { limits });
    expect(h.refuse(h.keyAdd("acme", "alice", outsider, { by: self(laptop) }), { limits }).code).toBe(
      "KEY_LIMIT",
    );
  });
});
