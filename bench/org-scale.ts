// Does one large org slow everyone down? A real `trustlog serve` process on PostgreSQL. Org C
// starts with one grant; we measure (a) the latency of batches of 100 org events into org C
// (grant.issue: the events that used to copy and rewrite every grant of the org) and of batches
// of 100 invites into it, (b) the latency of single writes into an unrelated org B running at the
// same time, and (c) the size and time of an account bundle of org C. Then org C issues
// `--grants` more grants (10,000 by default; it revokes the older ones as it goes, since a log
// holds at most 1,000 unrevoked grants per org) and we measure again. Goal: (a) and (b) within
// 1.5x of before.
//
//   npx tsx bench/org-scale.ts [--grants 10000] [--batches 20] [--singles 60] [--database-url …]

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { type Envelope, parseEnvelope } from "../core/event.js";
import { accountInvite, grantIssue, grantRevoke, orgCreate, sealEvent } from "../core/event-build.js";
import { startTrustlog } from "../test/helpers/process.js";

const { values: args } = parseArgs({
  options: {
    grants: { type: "string", default: "10000" },
    batches: { type: "string", default: "20" },
    singles: { type: "string", default: "60" },
    "database-url": {
      type: "string",
      default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    },
  },
});
const GRANTS = Number(args.grants);
const BATCHES = Number(args.batches);
const SINGLES = Number(args.singles);

const seed = () => new Uint8Array(randomBytes(32));
const pub = (s: Uint8Array) => toBase64(ed25519().publicKey(s));
const now = () => Math.floor(Date.now() / 1000);
const hashOf = (e: Envelope) => parseEnvelope(e).leafHash;

async function post(url: string, body: unknown): Promise<{ ms: number; json: unknown }> {
  const t = performance.now();
  const res = await fetch(`${url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { results?: { error?: unknown }[]; error?: unknown };
  if (res.status !== 200) throw new Error(`POST ${res.status}: ${JSON.stringify(json.error)}`);
  const bad = json.results?.find((r) => r.error);
  if (bad) throw new Error(`refused: ${JSON.stringify(bad.error)}`);
  return { ms: performance.now() - t, json };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** An org with its admin, its chain head and one delegate holding grant g0. */
class Org {
  readonly admin = seed();
  readonly delegate = seed();
  seq = 0;
  prev: Uint8Array | undefined;
  invited = 0;
  issued = 0;
  /** Unrevoked grants other than g0, oldest first. */
  readonly open: string[] = [];
  constructor(readonly id: string) {}

  create(): Envelope {
    const e = sealEvent(
      orgCreate({
        org: this.id,
        time: now(),
        actor: { role: "admin", key: pub(this.admin) },
        name: this.id,
        admins: [pub(this.admin)],
        threshold: 1,
      }),
      [this.admin],
    );
    this.prev = hashOf(e);
    return e;
  }

  grant(id: string): Envelope {
    this.seq++;
    const t = now();
    const e = sealEvent(
      grantIssue({
        org: this.id,
        seq: this.seq,
        prev: this.prev!,
        time: t,
        actor: { role: "admin", key: pub(this.admin) },
        id,
        delegate: pub(this.delegate),
        ops: ["account.invite", "account.suspend"],
        accounts: ["*"],
        notBefore: t - 60,
        notAfter: t + 86_400,
        note: `bench grant ${id}`,
      }),
      [this.admin],
    );
    this.prev = hashOf(e);
    return e;
  }

  revoke(id: string): Envelope {
    this.seq++;
    const e = sealEvent(
      grantRevoke({
        org: this.id,
        seq: this.seq,
        prev: this.prev!,
        time: now(),
        actor: { role: "admin", key: pub(this.admin) },
        id,
        reason: "bench churn",
      }),
      [this.admin],
    );
    this.prev = hashOf(e);
    return e;
  }

  /** `n` org events: new grants, revoking the oldest so that at most `keep` stay unrevoked. */
  churn(n: number, keep = 800): Envelope[] {
    const out: Envelope[] = [];
    while (out.length < n) {
      if (this.open.length >= keep) out.push(this.revoke(this.open.shift()!));
      else {
        const id = `g${++this.issued}`;
        this.open.push(id);
        out.push(this.grant(id));
      }
    }
    return out;
  }

  invite(): Envelope {
    const account = `u${this.invited++}`;
    return sealEvent(
      accountInvite({
        org: this.id,
        subject: account,
        time: now(),
        actor: { role: "delegate", key: pub(this.delegate), grant: "g0" },
        inviteKey: randomBytes(32),
      }),
      [this.delegate],
    );
  }
}

interface Figures {
  grantBatchP50: number;
  batchP50: number;
  batchP99: number;
  singleP50: number;
  singleP99: number;
  bundleBytes: number;
  bundleMs: number;
}

async function measure(url: string, c: Org, b: Org): Promise<Figures> {
  const batchMs: number[] = [];
  const singleMs: number[] = [];
  let done = false;
  const grantMs: number[] = [];
  const batches = (async () => {
    for (let i = 0; i < BATCHES; i++) {
      batchMs.push((await post(url, { events: Array.from({ length: 100 }, () => c.invite()) })).ms);
      grantMs.push((await post(url, { events: c.churn(100) })).ms);
    }
    done = true;
  })();
  const singles = (async () => {
    for (let i = 0; i < SINGLES || !done; i++) singleMs.push((await post(url, b.invite())).ms);
  })();
  await Promise.all([batches, singles]);
  const t = performance.now();
  const res = await fetch(`${url}/v1/orgs/${c.id}/accounts/u0/proof`);
  const body = await res.arrayBuffer();
  const bundleMs = performance.now() - t;
  return {
    grantBatchP50: pct(grantMs, 50),
    batchP50: pct(batchMs, 50),
    batchP99: pct(batchMs, 99),
    singleP50: pct(singleMs, 50),
    singleP99: pct(singleMs, 99),
    bundleBytes: body.byteLength,
    bundleMs,
  };
}

const admin = postgres(args["database-url"]!, { max: 1, onnotice: () => {} });
const dbName = `bench_org_scale_${Date.now().toString(36)}`;
await admin.unsafe(`CREATE DATABASE "${dbName}"`);
const u = new URL(args["database-url"]!);
u.pathname = `/${dbName}`;
const dir = mkdtempSync(join(tmpdir(), "trustlog-bench-org-"));
const log = await startTrustlog(
  [
    "serve",
    "--database-url",
    u.toString(),
    "--data-dir",
    dir,
    "--log-level",
    "warn",
    "--queue-limit",
    "50000",
    // One load generator on one address: the write rate limits are not under test here.
    "--client-rate",
    "0",
    "--org-rate",
    "0",
  ],
  { timeoutMs: 60_000 },
);
try {
  const c = new Org("big");
  const b = new Org("other");
  for (const o of [c, b]) {
    await post(log.url, o.create());
    await post(log.url, o.grant("g0"));
  }
  console.log(`org-scale benchmark: batches of 100 invites into org C, single writes into org B`);
  const before = await measure(log.url, c, b);
  const issuedBefore = c.issued + 1;
  const t = performance.now();
  const start = c.issued;
  let events = 0;
  while (c.issued - start < GRANTS) {
    const batch = c.churn(100);
    events += batch.length;
    await post(log.url, { events: batch });
  }
  console.log(
    `org C issued ${c.issued - start} more grants (${events} org events with the revocations) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  const after = await measure(log.url, c, b);
  const row = (name: string, f: Figures) =>
    `| ${name} | ${f.grantBatchP50.toFixed(0)} | ${f.batchP50.toFixed(0)} / ${f.batchP99.toFixed(0)} | ${f.singleP50.toFixed(0)} / ${f.singleP99.toFixed(0)} | ${(f.bundleBytes / 1024).toFixed(1)} KiB in ${f.bundleMs.toFixed(0)} ms |`;
  console.log(
    "| org C | 100 grant.issue, p50 ms | 100 invites, p50 / p99 ms | org B single write, p50 / p99 ms | account bundle of org C |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  console.log(row(`${issuedBefore} grants at the end`, before));
  console.log(row(`${c.issued + 1} grants at the end (≤ 801 unrevoked)`, after));
  console.log(
    `ratios after/before: grant batch p50 ${(after.grantBatchP50 / before.grantBatchP50).toFixed(2)}, invite batch p50 ${(after.batchP50 / before.batchP50).toFixed(2)}, single write p50 ${(after.singleP50 / before.singleP50).toFixed(2)}, p99 ${(after.singleP99 / before.singleP99).toFixed(2)} (goal ≤ 1.5)`,
  );
} finally {
  await log.stop();
  await admin.unsafe(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
}
