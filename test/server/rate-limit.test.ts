// Write rate limits (docs/api.md, "Limits"): token buckets per client address (the socket's,
// or a trusted proxy's header when configured) and per org, counted in events. A request over a
// limit is 429 RATE_LIMITED with Retry-After, refused whole, counted in the metrics, and changes
// nothing; the defaults leave a provisioning service at a few hundred events a second alone.

import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { loadServerConfig } from "../../server/config.js";
import { clientKey, retryAfterSeconds, TokenBuckets } from "../../server/rate-limit.js";
import { admin, History, testKey } from "../helpers/events.js";
import { batch, createStorage, startTestServer, type TestServer, type TestStorage } from "./http-harness.js";

async function treeSize(t: TestServer): Promise<number> {
  const res = await t.request("/checkpoint");
  return parseCheckpoint(openNote(await res.text(), [parseVerifierKey(t.server.key.vkey)]).body).size;
}

async function counter(t: TestServer, scope: string): Promise<number> {
  const m = await t.server.metrics.rateLimited.get();
  return m.values.find((v) => v.labels.scope === scope)?.value ?? 0;
}

describe("token buckets", () => {
  let now = 0;
  const clock = () => now;

  it("let a burst through, then refill at the rate", () => {
    now = 0;
    const b = new TokenBuckets({ rate: 10, burst: 3, now: clock });
    expect([b.take("a", 1), b.take("a", 1), b.take("a", 1)]).toEqual([0, 0, 0]);
    expect(b.take("a", 1)).toBeCloseTo(0.1);
    now += 50;
    expect(b.wait("a")).toBeCloseTo(0.05);
    now += 50;
    expect(b.take("a", 1)).toBe(0);
    // Another key has a bucket of its own.
    expect(b.take("b", 1)).toBe(0);
    // Never more than the burst, however long the wait.
    now += 3_600_000;
    expect([b.take("a", 1), b.take("a", 1), b.take("a", 1), b.take("a", 1)]).toEqual([0, 0, 0, 0.1]);
  });

  it("charge a request in full once it is let in, into debt if need be", () => {
    now = 0;
    const b = new TokenBuckets({ rate: 100, burst: 50, now: clock });
    // A batch of 1,000 is let in on a full bucket of 50...
    expect(b.take("a", 1000)).toBe(0);
    // ...and the client then waits for the 950 it owes, plus one token.
    expect(b.wait("a")).toBeCloseTo(9.51);
    now += 9_000;
    expect(b.take("a", 1)).toBeGreaterThan(0);
    now += 520;
    expect(b.take("a", 1)).toBe(0);
    expect(retryAfterSeconds(9.51)).toBe(10);
    expect(retryAfterSeconds(0.01)).toBe(1);
  });

  it("are off at rate 0", () => {
    const b = new TokenBuckets({ rate: 0, burst: 1, now: clock });
    for (let i = 0; i < 100; i++) expect(b.take("a", 1000)).toBe(0);
    expect(b.enabled).toBe(false);
    expect(b.size).toBe(0);
  });

  it("keep a bounded number of keys: full buckets go first, then the least recently used", () => {
    now = 0;
    const b = new TokenBuckets({ rate: 1, burst: 10, maxKeys: 100, now: clock });
    b.take("busy", 20); // in debt
    for (let i = 0; i < 1000; i++) b.take(`org-${i}`, 1);
    expect(b.size).toBeLessThanOrEqual(100);
    // The indebted key was used least recently and is gone; a busy key that keeps writing stays.
    now = 0;
    const c = new TokenBuckets({ rate: 1, burst: 10, maxKeys: 100, now: clock });
    c.take("busy", 20);
    for (let i = 0; i < 1000; i++) {
      c.wait("busy");
      c.take(`org-${i}`, 1);
    }
    expect(c.size).toBeLessThanOrEqual(100);
    expect(c.wait("busy")).toBeGreaterThan(0);
    // Buckets that refilled are dropped before any that is still in debt.
    now = 0;
    const d = new TokenBuckets({ rate: 1, burst: 10, maxKeys: 100, now: clock });
    d.take("busy", 20);
    for (let i = 0; i < 99; i++) d.take(`quiet-${i}`, 1);
    now += 1000;
    d.take("new", 1);
    expect(d.size).toBe(2);
    expect(d.wait("busy")).toBeGreaterThan(0);
  });

  it("count an IPv6 client by its /64, an IPv4 one (mapped or not) by its address", () => {
    expect(clientKey("192.0.2.7")).toBe("192.0.2.7");
    expect(clientKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(clientKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientKey("::1")).toBe("0:0:0:0::/64");
    expect(clientKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });

  it("default to limits a provisioning service at a few hundred events a second never meets", () => {
    const c = loadServerConfig({});
    expect([c.clientRate, c.clientBurst, c.orgRate, c.orgBurst]).toEqual([1000, 10_000, 1000, 10_000]);
    expect(c.clientIpHeader).toBeUndefined();
    // 500 events a second in batches of 100 for ten minutes, from one client into one org.
    now = 0;
    const client = new TokenBuckets({ rate: c.clientRate, burst: c.clientBurst, now: clock });
    const org = new TokenBuckets({ rate: c.orgRate, burst: c.orgBurst, now: clock });
    for (let i = 0; i < 3000; i++, now += 200) {
      expect(client.take("provisioner", 100)).toBe(0);
      expect(org.take("acme", 100)).toBe(0);
    }
    const env = { TRUSTLOG_CLIENT_RATE: "0", TRUSTLOG_ORG_RATE: "2.5", TRUSTLOG_ORG_BURST: "40" };
    expect(loadServerConfig(env)).toMatchObject({ clientRate: 0, orgRate: 2.5, orgBurst: 40 });
  });
});

describe("per-client rate limit over HTTP", () => {
  let storage: TestStorage;
  let t: TestServer;
  // Three events' worth, refilling at one token in 1,000 s: nothing refills during the test.
  const limits = { clientRate: 0.001, clientBurst: 3, orgRate: 0 };

  beforeAll(async () => {
    storage = await createStorage("postgres");
    t = await startTestServer(storage, { config: limits });
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${t.server.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });

  it("counts events from the socket's address, then answers 429 before reading the body", async () => {
    const before = await treeSize(t);
    const v0 = await counter(t, "client");
    // Two events, then one: the bucket of three is empty (each request costs its events).
    expect((await post('{"events":[{},{}]}')).status).toBe(200);
    expect((await post("{}")).status).toBe(400);
    const res = await post("{}");
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(999);
    expect(await res.json()).toEqual({
      error: { code: "RATE_LIMITED", message: "this client is over its write rate limit" },
    });
    // A spoofed X-Forwarded-For does not make a new client: the header is not trusted.
    expect((await post("{}", { "x-forwarded-for": "203.0.113.9" })).status).toBe(429);
    // Refused from the headers alone: a body that is announced and never sent is not awaited.
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(t.server.port, "127.0.0.1", () =>
        socket.write("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"),
      );
      let data = "";
      socket.on("close", () => resolve(data));
      socket.setEncoding("utf8").on("data", (d: string) => {
        data += d;
        if (data.includes("RATE_LIMITED")) {
          socket.destroy();
          resolve(data);
        }
      });
    });
    expect(answer).toMatch(/^HTTP\/1\.1 429 /);
    expect(await counter(t, "client")).toBe(v0 + 3);
    expect(await treeSize(t)).toBe(before);
  });

  it("counts by a trusted proxy's header when one is configured", async () => {
    const proxied = await createStorage("postgres");
    const p = await startTestServer(proxied, { config: { ...limits, clientIpHeader: "X-Forwarded-For" } });
    try {
      const send = (xff: string) =>
        fetch(`${p.server.url}/v1/events`, {
          method: "POST",
          headers: { "x-forwarded-for": xff },
          body: "{}",
        });
      // The last address is the one the proxy saw; what the client wrote before it is ignored.
      for (let i = 0; i < 3; i++) expect((await send(`10.9.9.${i}, 198.51.100.1`)).status).toBe(400);
      expect((await send("198.51.100.1")).status).toBe(429);
      expect((await send("10.0.0.1, 198.51.100.2")).status).toBe(400);
    } finally {
      await p.stop();
      await proxied.dispose();
    }
  });
});

describe("per-org rate limit", () => {
  let storage: TestStorage;
  let t: TestServer;
  const h = new History();
  const root = testKey("rl-root");
  const bridge = testKey("rl-bridge");

  beforeAll(async () => {
    storage = await createStorage("postgres");
    t = await startTestServer(storage, {
      clock: () => h.now,
      config: { clientRate: 0, orgRate: 0.001, orgBurst: 3 },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  async function accept(env: Parameters<History["append"]>[0]) {
    const r = await t.post(env);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    h.append(env);
  }

  it("refuses an org's events past its bucket, whole, while other orgs write on", async () => {
    await accept(h.orgCreate("acme", { admins: [root] }));
    await accept(
      h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["account.invite"] }, admin(root)),
    );
    await accept(h.invite("acme", "alice", admin(root)));
    const before = await treeSize(t);
    const v0 = await counter(t, "org");

    const r = await t.post(h.invite("acme", "bob", admin(root)));
    expect(r.status).toBe(429);
    expect(r.json.error).toEqual({ code: "RATE_LIMITED", message: "org acme is over its write rate limit" });
    expect(Number(r.res.headers.get("retry-after"))).toBeGreaterThanOrEqual(999);

    // A batch with an event for acme is refused whole: beta's event is not logged either.
    const beta = h.orgCreate("beta", { admins: [root] });
    const mixed = await t.post(batch([beta, h.invite("acme", "bob", admin(root))]));
    expect(mixed.status).toBe(429);
    expect(await treeSize(t)).toBe(before);
    expect(await counter(t, "org")).toBe(v0 + 2);

    // Another org has a bucket of its own.
    await accept(beta);
    expect(await treeSize(t)).toBe(before + 2);
  });

  it("lets a batch larger than the bucket in once, then waits for the debt", async () => {
    // gamma's bucket holds three; a batch of five is let in on it.
    await accept(h.orgCreate("gamma", { admins: [root] }));
    const invites = ["a", "b", "c", "d", "e"].map((a) => h.invite("gamma", a, admin(root)));
    const r = await t.post(batch(invites));
    expect(r.status).toBe(200);
    for (const x of r.json.results) expect(x.error).toBeUndefined();
    for (const e of invites) h.append(e);
    expect((await t.post(h.invite("gamma", "f", admin(root)))).status).toBe(429);
  });
});
