// A generated history replayed event by event against a deliberately simple model of the
// rules. Valid steps must be accepted and end in the model's state; forbidden steps injected
// along the way must be refused with the expected code and leave the state untouched.

import { describe, expect, it } from "vitest";
import type { Envelope, EventType } from "../../core/event.js";
import { DELEGABLE_OPS } from "../../core/event.js";
import { admin, type By, DAY, delegate, History, self, type TestKey, testKey } from "../helpers/events.js";

interface MGrant {
  delegate: TestKey;
  ops: EventType[];
  accounts: string[];
  notBefore: number;
  notAfter: number;
  revoked: boolean;
}
interface MOrg {
  admins: TestKey[];
  threshold: number;
  grants: Map<string, MGrant>;
}
interface MKey {
  key: TestKey;
  use: "sign" | "encrypt";
  revoked: boolean;
}
interface MAccount {
  org: string;
  id: string;
  status: "invited" | "active" | "suspended" | "deleted";
  everActive: boolean;
  keys: Map<string, MKey>;
}

function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}

const PREFIXES = ["eng.", "ops.", "sales."];

function run(seed: number, steps: number) {
  const r = rng(seed);
  const h = new History();
  const orgs = new Map<string, MOrg>();
  const accounts = new Map<string, MAccount>();
  let counter = 0;
  const fresh = (p: string) => testKey(`${p}-${seed}-${counter++}`);
  let accepted = 0;
  let refused = 0;
  const codes = new Set<string>();

  const ok = (env: Envelope) => {
    h.append(env);
    accepted++;
  };
  const no = (env: Envelope, code: string) => {
    expect(h.refuse(env).code, `${env.event.type} on ${env.event.subject}`).toBe(code);
    refused++;
    codes.add(code);
  };
  const orgBy = (o: MOrg): By => admin(o.admins[0]!, ...o.admins.slice(1, o.threshold));
  const grantUsable = (g: MGrant, op: EventType, subject: string) =>
    !g.revoked &&
    g.notBefore <= h.now &&
    h.now < g.notAfter &&
    g.ops.includes(op) &&
    g.accounts.some((a) => a === "*" || subject.startsWith(a));
  /** An authority for an account op: a usable grant when there is one, else an admin. */
  const accountBy = (a: MAccount, op: EventType): By => {
    const o = orgs.get(a.org)!;
    if (r.chance(0.6)) {
      for (const [id, g] of o.grants) if (grantUsable(g, op, a.id)) return delegate(g.delegate, id);
    }
    return admin(r.pick(o.admins));
  };
  const activeSign = (a: MAccount) => [...a.keys.values()].filter((k) => k.use === "sign" && !k.revoked);

  for (let step = 0; step < steps; step++) {
    h.tick(r.int(DAY / 2));
    const orgIds = [...orgs.keys()];
    const live = [...accounts.values()].filter((a) => a.status !== "deleted");
    const choice = orgIds.length === 0 ? 0 : r.int(10);

    if (choice === 0 && orgIds.length < 4) {
      const id = `org${orgIds.length}`;
      const admins = Array.from({ length: 1 + r.int(3) }, () => fresh("admin"));
      const threshold = 1 + r.int(admins.length);
      ok(h.orgCreate(id, { admins, threshold }));
      orgs.set(id, { admins, threshold, grants: new Map() });
    } else if (choice === 1) {
      const id = r.pick(orgIds);
      const o = orgs.get(id)!;
      if (r.chance(0.5) && o.admins.length < 5) {
        const k = fresh("admin");
        ok(h.adminAdd(id, k, orgBy(o)));
        o.admins.push(k);
      } else if (o.admins.length - 1 >= o.threshold) {
        // Remove an admin that does not sign, so the signers stay admins.
        const k = o.admins[o.admins.length - 1]!;
        ok(h.adminRemove(id, k, orgBy(o)));
        o.admins.pop();
      } else {
        no(h.adminRemove(id, o.admins[0]!, orgBy(o)), "LAST_ADMIN");
      }
    } else if (choice === 2) {
      const id = r.pick(orgIds);
      const o = orgs.get(id)!;
      const gid = `g${counter++}`;
      const ops = DELEGABLE_OPS.filter(() => r.chance(0.6));
      if (ops.length === 0) ops.push("account.invite");
      const accountsScope = r.chance(0.5) ? ["*"] : [r.pick(PREFIXES)];
      const notBefore = h.now - r.int(DAY);
      const notAfter = h.now + DAY + r.int(5 * DAY);
      const g = {
        delegate: fresh("bridge"),
        ops,
        accounts: accountsScope,
        notBefore,
        notAfter,
        revoked: false,
      };
      ok(h.grantIssue(id, { id: gid, ...g }, orgBy(o)));
      o.grants.set(gid, g);
    } else if (choice === 3) {
      const id = r.pick(orgIds);
      const o = orgs.get(id)!;
      const open = [...o.grants].filter(([, g]) => !g.revoked);
      if (open.length > 0) {
        const [gid, g] = r.pick(open);
        ok(h.grantRevoke(id, gid, orgBy(o)));
        g.revoked = true;
      }
    } else if (choice === 4 || choice === 5) {
      const org = r.pick(orgIds);
      const acct = `${r.pick(PREFIXES)}u${counter++}`;
      const a: MAccount = { org, id: acct, status: "invited", everActive: false, keys: new Map() };
      ok(h.invite(org, acct, accountBy(a, "account.invite")));
      accounts.set(`${org}/${acct}`, a);
    } else if (choice === 6 && live.length > 0) {
      const a = r.pick(live);
      const k = fresh("device");
      if (a.status === "invited") {
        ok(h.keyAdd(a.org, a.id, k));
        a.keys.set(k.label, { key: k, use: "sign", revoked: false });
        a.status = "active";
        a.everActive = true;
      } else if (a.status === "active" && activeSign(a).length > 0) {
        const use = r.chance(0.3) ? "encrypt" : "sign";
        ok(h.keyAdd(a.org, a.id, k, { use, by: self(r.pick(activeSign(a)).key) }));
        a.keys.set(k.label, { key: k, use, revoked: false });
      } else if (a.status === "suspended" && activeSign(a).length > 0) {
        no(h.keyAdd(a.org, a.id, k, { by: self(activeSign(a)[0]!.key) }), "ACCOUNT_SUSPENDED");
      }
    } else if (choice === 7 && live.length > 0) {
      const a = r.pick(live);
      const open = [...a.keys].filter(([, k]) => !k.revoked);
      if (open.length > 0) {
        const [kid, k] = r.pick(open);
        const signers = activeSign(a);
        const by =
          signers.length > 0 && r.chance(0.3) ? self(r.pick(signers).key) : accountBy(a, "key.revoke");
        ok(h.keyRevoke(a.org, a.id, kid, by));
        k.revoked = true;
      }
    } else if (choice === 8 && live.length > 0) {
      const a = r.pick(live);
      const op: EventType = r.chance(0.1)
        ? "account.delete"
        : a.status === "suspended"
          ? "account.reactivate"
          : "account.suspend";
      const env =
        op === "account.delete"
          ? h.delete(a.org, a.id, accountBy(a, op))
          : op === "account.suspend"
            ? h.suspend(a.org, a.id, accountBy(a, op))
            : h.reactivate(a.org, a.id, accountBy(a, op));
      ok(env);
      a.status =
        op === "account.delete"
          ? "deleted"
          : op === "account.suspend"
            ? "suspended"
            : a.everActive
              ? "active"
              : "invited";
    } else if (choice === 9) {
      injectForbidden();
    }
  }

  function injectForbidden() {
    const all = [...accounts.values()];
    const id = r.pick([...orgs.keys()]);
    const o = orgs.get(id)!;
    switch (r.int(9)) {
      case 0: {
        const a = all.find((x) => x.status === "active");
        const g = [...o.grants].find(([, x]) => !x.revoked);
        if (a && g)
          no(
            h.keyAdd(a.org, a.id, fresh("evil"), { by: delegate(g[1].delegate, g[0]) }),
            "DELEGATE_CANNOT_ADD_KEY",
          );
        return;
      }
      case 1: {
        const a = all.find((x) => x.status === "deleted");
        if (a) no(h.reactivate(a.org, a.id, admin(orgs.get(a.org)!.admins[0]!)), "ACCOUNT_DELETED");
        return;
      }
      case 2: {
        for (const a of all.filter((x) => x.status === "active" || x.status === "invited")) {
          const ao = orgs.get(a.org)!;
          const g = [...ao.grants].find(
            ([, x]) =>
              x.revoked &&
              x.ops.includes("account.suspend") &&
              x.accounts.some((p) => p === "*" || a.id.startsWith(p)),
          );
          if (g) return no(h.suspend(a.org, a.id, delegate(g[1].delegate, g[0])), "GRANT_REVOKED");
        }
        return;
      }
      case 3: {
        for (const a of all.filter((x) => x.status === "active" || x.status === "invited")) {
          const ao = orgs.get(a.org)!;
          const g = [...ao.grants].find(
            ([, x]) =>
              !x.revoked &&
              h.now >= x.notAfter &&
              x.ops.includes("account.suspend") &&
              x.accounts.some((p) => p === "*" || a.id.startsWith(p)),
          );
          if (g) return no(h.suspend(a.org, a.id, delegate(g[1].delegate, g[0])), "GRANT_EXPIRED");
        }
        return;
      }
      case 4:
        return no(h.adminAdd(id, fresh("evil"), admin(fresh("stranger"))), "NOT_ADMIN");
      case 5: {
        const head = h.head(id)!;
        return no(h.adminAdd(id, fresh("evil"), orgBy(o), { seq: head.seq + 2 }), "CHAIN_CONFLICT");
      }
      case 6:
        return no(
          h.grantIssue(
            id,
            { id: `g${counter++}`, delegate: fresh("evil"), ops: ["account.invite", "key.add"] },
            orgBy(o),
          ),
          "OP_NOT_DELEGABLE",
        );
      case 7: {
        const a = all.find((x) => x.status === "active");
        if (a) no(h.reactivate(a.org, a.id, admin(orgs.get(a.org)!.admins[0]!)), "WRONG_STATE");
        return;
      }
      case 8: {
        const a = all.find((x) => x.status !== "deleted" && [...x.keys.values()].some((k) => k.revoked));
        if (a) {
          const kid = [...a.keys].find(([, k]) => k.revoked)![0];
          no(h.keyRevoke(a.org, a.id, kid, admin(orgs.get(a.org)!.admins[0]!)), "KEY_REVOKED");
        }
        return;
      }
    }
  }

  // The final state is what the model says.
  for (const [id, o] of orgs) {
    const s = h.state.org(id)!;
    expect(new Set(s.admins)).toEqual(new Set(o.admins.map((k) => k.pub)));
    expect(s.threshold).toBe(o.threshold);
    expect(
      h.state
        .grantsOf(id)
        .map((g) => g.id)
        .sort(),
    ).toEqual([...o.grants.keys()].sort());
    for (const [gid, g] of o.grants)
      expect(h.state.grant(id, gid)!.revokedIndex !== undefined).toBe(g.revoked);
    expect(s.activeGrants).toBe([...o.grants.values()].filter((g) => !g.revoked).length);
  }
  for (const a of accounts.values()) {
    const s = h.state.account(a.org, a.id)!;
    expect(s.status).toBe(a.status);
    expect(s.everActive).toBe(a.everActive);
    expect([...s.keys.keys()].sort()).toEqual([...a.keys.keys()].sort());
    for (const [kid, k] of a.keys) {
      expect(s.keys.get(kid)).toMatchObject({ use: k.use, pub: k.use === "sign" ? k.key.pub : k.key.x25519 });
      expect(s.keys.get(kid)!.revokedIndex !== undefined).toBe(k.revoked);
    }
  }
  // Heads point at the subject's last entry, and the chain is whole.
  for (const e of h.entries) {
    const ev = e.envelope.event;
    if (ev.seq > 0) {
      const prev = h.entries.find(
        (x) =>
          x.index < e.index &&
          x.envelope.event.subject === ev.subject &&
          x.envelope.event.org === ev.org &&
          x.envelope.event.seq === ev.seq - 1,
      );
      expect(prev, `${ev.type} at ${e.index}`).toBeDefined();
    }
  }
  return { accepted, refused, codes, h };
}

describe("replaying a generated history", () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}: valid steps are accepted into the model's state, forbidden ones refused without effect`, () => {
      const { accepted, refused, codes, h } = run(seed, 160);
      expect(accepted).toBeGreaterThan(60);
      expect(refused).toBeGreaterThan(5);
      expect(codes.size).toBeGreaterThanOrEqual(4);
      // Replaying the accepted entries into a fresh state gives the same state.
      const again = new History();
      for (const e of h.entries) again.append(e.envelope);
      expect(again.state.toJSON()).toEqual(h.state.toJSON());
    });
  }
});
