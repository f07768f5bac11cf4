// An envelope carries no more signatures than its rule can use (docs/events.md §1): the cap is
// stateless, so parseEnvelope refuses the excess with TOO_MANY_SIGNATURES (a 400) before any
// signature is verified, while every envelope the policy accepts still fits under it.

import { describe, expect, it } from "vitest";
import { toBase64 } from "../../core/bytes.js";
import { errorKind } from "../../core/error-codes.js";
import { isTrustlogError } from "../../core/errors.js";
import {
  type Envelope,
  type KeyEvent,
  MAX_ADMINS,
  MAX_SIGS,
  maxSignatures,
  parseEnvelope,
} from "../../core/event.js";
import { admin, delegate, History, self, testKey } from "../helpers/events.js";

const root = testKey("caps-root");
const ops2 = testKey("caps-ops2");
const ops3 = testKey("caps-ops3");
const bridge = testKey("caps-bridge");
const laptop = testKey("caps-laptop");
const phone = testKey("caps-phone");
const outsider = testKey("caps-outsider");

/** acme (three admins, threshold 2), a grant to the bridge, alice with her laptop key. */
function acme(): History {
  const h = new History();
  h.append(h.orgCreate("acme", { admins: [root, ops2, ops3], threshold: 2 }));
  h.append(
    h.grantIssue(
      "acme",
      { id: "scim", delegate: bridge, ops: ["account.invite", "account.suspend", "key.revoke"] },
      admin(root, ops2),
    ),
  );
  h.append(h.invite("acme", "alice", delegate(bridge, "scim")));
  h.append(h.keyAdd("acme", "alice", laptop));
  return h;
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isTrustlogError(e)) return e.code;
    throw e;
  }
  return "accepted";
}

/** A copy of `env` with one more entry in `sigs` whose signature is 64 zero bytes. */
function withBogusSig(env: Envelope): Envelope {
  return { ...env, sigs: [...env.sigs, { key: outsider.pub, sig: toBase64(new Uint8Array(64)) }] };
}

describe("signature caps per event type", () => {
  it("are stated per type: one for account events, two for key.add, the admins for org events", () => {
    const h = acme();
    const cap = (env: Envelope) => maxSignatures(env.event as KeyEvent);
    expect(cap(h.invite("acme", "bob", admin(root)))).toBe(1);
    expect(cap(h.suspend("acme", "alice", admin(root)))).toBe(1);
    expect(cap(h.keyRevoke("acme", "alice", "caps-laptop", self(laptop)))).toBe(1);
    expect(cap(h.keyAdd("acme", "alice", phone, { by: self(laptop) }))).toBe(2);
    expect(cap(h.orgCreate("beta", { admins: [root, ops2, ops3] }))).toBe(3);
    expect(cap(h.adminAdd("acme", outsider, admin(root, ops2)))).toBe(MAX_ADMINS + 1);
    expect(cap(h.adminRemove("acme", ops3, admin(root, ops2)))).toBe(MAX_ADMINS);
    expect(cap(h.grantRevoke("acme", "scim", admin(root, ops2)))).toBe(MAX_ADMINS);
  });

  it("an account event signed by a second key is TOO_MANY_SIGNATURES, a 400, and changes nothing", () => {
    const h = acme();
    const err = h.refuse(h.suspend("acme", "alice", admin(root), { extraSigners: [ops2] }));
    expect(err.code).toBe("TOO_MANY_SIGNATURES");
    expect(err.message).toBe("sigs: account.suspend can use at most 1 signature, got 2");
    expect(err.details).toMatchObject({ count: 2, limit: 1 });
    expect(errorKind("TOO_MANY_SIGNATURES")).toBe("malformed");
    expect(h.refuse(h.invite("acme", "bob", delegate(bridge, "scim"), { extraSigners: [root] })).code).toBe(
      "TOO_MANY_SIGNATURES",
    );
  });

  it("key.add takes two: the new key and its voucher (an active key, or the invite key)", () => {
    const h = acme();
    h.append(h.invite("acme", "bob", admin(root)));
    const bob = testKey("caps-bob");
    expect(h.refuse(h.keyAdd("acme", "bob", bob, { extraSigners: [outsider] })).code).toBe(
      "TOO_MANY_SIGNATURES",
    );
    h.append(h.keyAdd("acme", "bob", bob)); // new key + invite key
    h.append(h.keyAdd("acme", "alice", phone, { by: self(laptop) })); // active key + new key
    expect(
      h.refuse(h.keyAdd("acme", "alice", outsider, { by: self(laptop), extraSigners: [phone] })).code,
    ).toBe("TOO_MANY_SIGNATURES");
  });

  it("org.create takes at most the admins in its body; org events every admin they can have", () => {
    const h = new History();
    const both = { admins: [root, ops2], signers: [root, ops2] };
    expect(h.refuse(h.orgCreate("acme", { ...both, extraSigners: [outsider] })).code).toBe(
      "TOO_MANY_SIGNATURES",
    );
    // Under the cap, a signer who is not an admin is the policy's to refuse.
    expect(h.refuse(h.orgCreate("acme", { admins: [root, ops2], extraSigners: [outsider] })).code).toBe(
      "SIG_UNEXPECTED",
    );
    h.append(h.orgCreate("acme", { admins: [root, ops2, ops3], threshold: 3 }));
    // Every admin and the new admin key: four signatures, accepted.
    h.append(h.adminAdd("acme", outsider, admin(root, ops2, ops3)));
    expect(h.state.org("acme")!.admins).toContain(outsider.pub);
  });

  it("never above MAX_SIGS, whatever the type", () => {
    const h = acme();
    const many = Array.from({ length: MAX_SIGS + 1 }, (_, i) => testKey(`caps-many-${i}`));
    expect(h.refuse(h.adminAdd("acme", outsider, admin(root), { extraSigners: many })).code).toBe(
      "MALFORMED",
    );
    // Up to MAX_SIGS an admin.add parses (the policy judges who signed).
    const sixteen = h.adminAdd("acme", outsider, admin(root), { extraSigners: many.slice(0, MAX_SIGS - 2) });
    expect(sixteen.sigs).toHaveLength(MAX_SIGS);
    expect(() => parseEnvelope(sixteen)).not.toThrow();
  });

  it("the count is refused before any signature is looked at", () => {
    const h = acme();
    // A bogus extra signature: refused for its number, not for being invalid.
    const env = withBogusSig(h.suspend("acme", "alice", admin(root)));
    expect(code(() => parseEnvelope(env))).toBe("TOO_MANY_SIGNATURES");
    expect(code(() => parseEnvelope(JSON.stringify(env)))).toBe("TOO_MANY_SIGNATURES");
  });
});
