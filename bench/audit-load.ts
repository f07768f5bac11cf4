// An auditing witness beside a real log, each its own process: catch-up of a large log, then
// the cosignature delay under a steady load offered by this process (which only posts
// pre-signed events and samples; it neither sequences nor serves, unlike bench/audit-witness.ts,
// whose in-process fixture cannot offer 1,000 events/s on two cores).
//
//   npx tsx bench/audit-load.ts [--entries 1000000] [--rate 1000] [--seconds 30]
//                               [--database-url postgres://…] [--keep]
//
//   1. seed: `--entries` leaves written through the storage layer (server/sequencer.ts in this
//      process, batches of 5,000 delegate-signed invites under a grant, an index leaf closing
//      each batch), into the database `bench_audit_<entries>`; with --keep it is kept and reused;
//   2. catch-up: `trustlog serve` on that database and a new auditing `trustlog witness serve`
//      (its own database); figure: entries/s from the witness's start until it cosigns the
//      log's size (every entry fetched over HTTP, checked against the checkpoint, replayed with
//      core's rules, every index leaf recomputed);
//   3. load: `--rate` events/s offered open loop (a batch of rate/10 invites every 100 ms, not
//      waiting for answers) for `--seconds`. The log answers a POST once the checkpoint covering
//      it is signed and committed, and names that checkpoint; the delay of an answer is the time
//      from its arrival to the first poll (every 10 ms) showing the auditor's cosigned size
//      covering that checkpoint. Reports the rate achieved, the delay p50/p99 and the POST
//      latency p50/p99.

import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import type { SubmitAnswer } from "../core/api-types.js";
import type { Envelope } from "../core/event.js";
import { parseEnvelope } from "../core/event.js";
import { NOTE_TYPE_COSIGNATURE_V1 } from "../core/note.js";
import { generateSignerKey } from "../core/note-keys.js";
import { openDatabase, runMigrations } from "../node/db.js";
import { readSignerKey, writeNewSignerKey } from "../server/keys.js";
import { SERVER_MIGRATIONS } from "../server/main.js";
import { Sequencer } from "../server/sequencer.js";
import { LogStore } from "../server/storage/log-store.js";
import { createTestDatabase } from "../test/helpers/db.js";
import { admin, delegate, History, testKey } from "../test/helpers/events.js";
import { cpuMs, freePort, spawnWitness, startTrustlog } from "../test/helpers/process.js";

const { values: args } = parseArgs({
  options: {
    entries: { type: "string", default: "1000000" },
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "30" },
    "database-url": {
      type: "string",
      default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    },
    keep: { type: "boolean", default: false },
  },
});
const ENTRIES = Number(args.entries);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const ORIGIN = "bench.trustlog.example/audited";
const CHUNK = 5000;
const ROOT = testKey("bench-root");
const BRIDGE = testKey("bench-bridge");

const base = new URL(args["database-url"]!);
const dbName = `bench_audit_${ENTRIES}`;
const dbUrl = new URL(base);
dbUrl.pathname = `/${dbName}`;
const dir = join(tmpdir(), `trustlog-bench-audit-${ENTRIES}`);
const keyFile = join(dir, "log.key");

/** CPU time of every PostgreSQL process so far, in ms (the server's backends come and go). */
function postgresCpuMs(): number {
  let total = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8") !== "postgres\n") continue;
    } catch {
      continue; // gone meanwhile
    }
    total += cpuMs(Number(d)) ?? 0;
  }
  return total;
}

const pct = (xs: number[], p: number) =>
  xs.length === 0 ? Number.NaN : [...xs].sort((a, b) => a - b)[Math.floor((p / 100) * (xs.length - 1))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An org with a grant to the bench's delegate, as a provisioning service would have. */
function orgWithGrant(h: History, org: string): Envelope[] {
  const created = h.orgCreate(org, { admins: [ROOT] });
  h.append(created);
  const grant = h.grantIssue(
    org,
    {
      id: "scim",
      delegate: BRIDGE,
      ops: ["account.invite"],
      notBefore: h.now - 60,
      notAfter: h.now + 30 * 86_400,
    },
    admin(ROOT),
  );
  h.append(grant);
  return [created, grant];
}

async function seed(): Promise<void> {
  const pg = postgres(base.toString(), { max: 1, onnotice: () => {} });
  if (!args.keep) await pg.unsafe(`DROP DATABASE IF EXISTS "${dbName}"`);
  const exists = await pg`select 1 from pg_database where datname = ${dbName}`;
  if (exists.length === 0) await pg.unsafe(`CREATE DATABASE "${dbName}"`);
  await pg.end();
  mkdirSync(dir, { recursive: true });
  if (!args.keep || !existsSync(keyFile)) {
    rmSync(keyFile, { force: true });
    writeNewSignerKey(keyFile, ORIGIN);
  }

  const database = await openDatabase({ url: dbUrl.toString() });
  await runMigrations(database, SERVER_MIGRATIONS);
  const store = new LogStore(database);
  const have = await store.treeSize();
  if (have >= ENTRIES) {
    console.log(`seed: the log already has ${have} entries`);
    await database.close();
    return;
  }
  const sequencer = new Sequencer({
    database,
    store,
    signer: readSignerKey(keyFile),
    origin: ORIGIN,
    batchSize: CHUNK,
    batchDelayMs: 0,
    queueLimit: 4 * CHUNK,
    skewSeconds: 86_400 * 365,
  });
  await sequencer.start();
  const item = (env: Envelope) => {
    const p = parseEnvelope(env);
    return { envelope: p.envelope, leaf: p.leaf, leafHash: p.leafHash };
  };
  const h = new History({ start: Math.floor(Date.now() / 1000) });
  const org = `seed-${Date.now().toString(36)}`;
  const check = (rs: readonly object[]) => {
    const bad = rs.find((r) => "error" in r);
    if (bad) throw (bad as { error: Error }).error;
  };
  check(await sequencer.submit(orgWithGrant(h, org).map(item)));
  const started = performance.now();
  let done = await store.treeSize();
  let next = 0;
  let inFlight: Promise<void> | undefined;
  let reported = done;
  while (done < ENTRIES) {
    // Each batch adds its events and one index leaf.
    const n = Math.max(1, Math.min(CHUNK, ENTRIES - done - 1));
    // Events carry the time they are logged at: replay judges each against the time of the
    // index leaf that follows it (the skew rule), as a real log's writers would.
    h.now = Math.floor(Date.now() / 1000);
    const items = Array.from({ length: n }, () =>
      item(h.invite(org, `u${next++}`, delegate(BRIDGE, "scim"))),
    );
    // Sign the next batch while the sequencer commits this one.
    await inFlight;
    inFlight = sequencer.submit(items).then(check);
    done += n + 1;
    if (done - reported >= 50_000 || done >= ENTRIES) {
      reported = done;
      const s = (performance.now() - started) / 1000;
      console.log(`seed: ${done} entries, ${((done - have) / s).toFixed(0)} entries/s`);
    }
  }
  await inFlight;
  await sequencer.stop();
  console.log(
    `seed: ${await store.treeSize()} entries in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  await database.close();
}

await seed();

const witnessDb = await createTestDatabase("bench_audit_load_w");
const wdir = mkdtempSync(join(tmpdir(), "trustlog-bench-audit-load-"));
const { skey, vkey: witnessVkey } = generateSignerKey(
  "bench-auditor",
  new Uint8Array(32).fill(78),
  NOTE_TYPE_COSIGNATURE_V1,
);
writeFileSync(join(wdir, "w.key"), `${skey}\n`, { mode: 0o600 });
const logVkey = readSignerKey(keyFile).vkey;
const witnessPort = await freePort();
const witnessUrl = `http://127.0.0.1:${witnessPort}`;

const log = await startTrustlog(
  ["serve", "--database-url", dbUrl.toString(), "--key-file", keyFile, "--origin", ORIGIN],
  {
    env: {
      TRUSTLOG_WITNESSES: JSON.stringify([{ name: "bench-auditor", vkey: witnessVkey, url: witnessUrl }]),
      TRUSTLOG_WITNESS_REFRESH_SECONDS: "1",
      TRUSTLOG_LOG_LEVEL: "warn",
    },
  },
);
const logSize = async () => Number((await (await fetch(`${log.url}/checkpoint`)).text()).split("\n")[1]);
const size0 = await logSize();
console.log(
  `log ${log.url}, witness ${witnessUrl}: ${size0} entries, ready in ${(log.readyMs / 1000).toFixed(1)} s`,
);

const witness = await spawnWitness(wdir, {
  host: "127.0.0.1",
  port: witnessPort,
  keyFile: join(wdir, "w.key"),
  databaseUrl: witnessDb.url,
  logs: [{ origin: ORIGIN, vkeys: [logVkey], url: log.url, audit: true }],
  pullIntervalSeconds: 1,
  gossipIntervalSeconds: 0,
  logLevel: "warn",
});
const cosignedSize = async () => {
  const res = await fetch(`${witnessUrl}/v1/logs/${encodeURIComponent(ORIGIN)}/checkpoint`).catch((e) => {
    console.log("cosignedSize", e.cause ?? e);
    return undefined;
  });
  if (!res) return 0;
  return res.status === 200 ? Number((await res.text()).split("\n")[1]) : 0;
};

try {
  // 2. Catch-up.
  const t0 = performance.now() - witness.readyMs;
  let lastReport = 0;
  for (;;) {
    const c = await cosignedSize();
    if (c >= size0) break;
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      const status = (await (await fetch(`${witnessUrl}/v1/audit`)).json()) as {
        replayedSize?: number;
        phase?: string;
      }[];
      if (status[0]?.phase === "refused")
        throw new Error(`the auditor refused the log: ${JSON.stringify(status[0])}`);
      const replayed = status[0]?.replayedSize ?? 0;
      const s = (performance.now() - t0) / 1000;
      console.log(
        `catch-up: ${replayed} of ${size0} replayed in ${s.toFixed(0)} s (${(replayed / s).toFixed(0)}/s)`,
      );
    }
    await sleep(200);
  }
  const catchUp = (performance.now() - t0) / 1000;
  console.log(
    `catch-up: ${size0} entries audited and cosigned in ${catchUp.toFixed(1)} s: ${(size0 / catchUp).toFixed(0)} entries/s (from the witness's spawn)`,
  );

  // 3. Load. A fresh org whose grant is valid now.
  const h = new History({ start: Math.floor(Date.now() / 1000) });
  const org = `load-${Date.now().toString(36)}`;
  // Each answer arrives once the checkpoint covering its events is signed and committed; it
  // names that checkpoint, whose size the auditor must then cosign.
  const waiting: { size: number; at: number }[] = [];
  const post = async (events: Envelope[]) => {
    const t = performance.now();
    const res = await fetch(`${log.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events }),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`POST /v1/events: ${res.status} ${text.slice(0, 300)}`);
    const at = performance.now();
    const answer = JSON.parse(text) as SubmitAnswer;
    if (answer.checkpoint) waiting.push({ size: Number(answer.checkpoint.split("\n")[1]), at });
    return at - t;
  };
  for (const e of orgWithGrant(h, org)) await post([e]);
  waiting.length = 0;
  const perTick = Math.max(1, Math.round(RATE / 10));
  const ticks = SECONDS * 10;
  const batches = Array.from({ length: ticks }, (_, t) =>
    Array.from({ length: perTick }, (_, i) => h.invite(org, `u${t * perTick + i}`, delegate(BRIDGE, "scim"))),
  );
  const delays: number[] = [];
  const postLatencies: number[] = [];
  let stopAt = 0;
  // Polls the auditor's cosigned checkpoint every 10 ms (the figures' resolution).
  const sampler = (async () => {
    while (stopAt === 0 || (waiting.length > 0 && performance.now() - stopAt < 60_000)) {
      const a = await cosignedSize();
      const now = performance.now();
      for (let i = waiting.length - 1; i >= 0; i--) {
        if (waiting[i]!.size <= a) {
          delays.push(now - waiting[i]!.at);
          waiting.splice(i, 1);
        }
      }
      await sleep(10);
    }
  })();
  const cpu0 = {
    log: cpuMs(log.child.pid) ?? Number.NaN,
    witness: cpuMs(witness.child.pid) ?? Number.NaN,
    pg: postgresCpuMs(),
  };
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  let failed: unknown;
  for (let t = 0; t < ticks; t++) {
    const due = start + t * 100;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    inflight.push(
      post(batches[t]!).then(
        (ms) => {
          postLatencies.push(ms);
        },
        (e) => {
          failed ??= e;
        },
      ),
    );
  }
  await Promise.all(inflight);
  const offeredFor = (performance.now() - start) / 1000;
  const cpu1 = {
    log: cpuMs(log.child.pid) ?? Number.NaN,
    witness: cpuMs(witness.child.pid) ?? Number.NaN,
    pg: postgresCpuMs(),
  };
  stopAt = performance.now();
  await sampler;
  if (failed) throw failed;
  const events = ticks * perTick;
  console.log(
    `load: ${events} events offered at ${RATE}/s, all answered within ${offeredFor.toFixed(1)} s (${(events / offeredFor).toFixed(0)} events/s)`,
  );
  const perEvent = (k: "log" | "witness" | "pg") => ((cpu1[k] - cpu0[k]) * 1000) / (ticks * perTick);
  const cores = (k: "log" | "witness" | "pg") => (cpu1[k] - cpu0[k]) / 1000 / offeredFor;
  console.log(
    `load: CPU per event: log ${perEvent("log").toFixed(0)} µs (${cores("log").toFixed(2)} cores), auditing witness ${perEvent("witness").toFixed(0)} µs (${cores("witness").toFixed(2)} cores), PostgreSQL ${perEvent("pg").toFixed(0)} µs (${cores("pg").toFixed(2)} cores); load average ${loadavg()[0]!.toFixed(1)}`,
  );
  console.log(
    `load: POST latency p50 ${pct(postLatencies, 50).toFixed(0)} ms, p99 ${pct(postLatencies, 99).toFixed(0)} ms`,
  );
  console.log(
    `load: auditor cosignature delay p50 ${pct(delays, 50).toFixed(0)} ms, p99 ${pct(delays, 99).toFixed(0)} ms (answer → cosignature seen) over ${delays.length} answers${waiting.length > 0 ? `; ${waiting.length} never cosigned within 60 s` : ""}`,
  );
} catch (e) {
  console.error(`witness output:\n${witness.stderr().slice(-3000)}\n${witness.stdout().slice(-3000)}`);
  console.error(`log output:\n${log.stderr().slice(-3000)}`);
  throw e;
} finally {
  await witness.stop();
  await log.stop();
  await witnessDb.drop();
}
