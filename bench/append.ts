// Write-path benchmark: a real `trustlog serve` process on PostgreSQL, fed pre-signed events
// over HTTP. Reports events/s and submit → signed-checkpoint latency (the answer to a POST
// arrives only once a signed checkpoint covering the event is committed).
//
// The ceiling, measured first in the same run (before the server starts, so nothing else of
// ours competes): native Ed25519 verifications a second on one core. batch100's events/s over
// it is the ratio issue 13 sets a goal for (>= 0.6); the paced scenario reports the rate it
// sustained against the 1,000/s it was offered, and its p50/p99.
//
//   npx tsx bench/append.ts [--runs 3] [--accounts 2000] [--clients 8] [--database-url postgres://…]
//
// Each run also prints CPU time per event of the server, the load generator, PostgreSQL and the
// whole machine, and the share of the machine's CPU left idle while it posted: a run with idle
// cores was not bound by the CPU.
//
// The mix per run is realistic for a provisioning service: orgs are created, each issues a
// grant to its provisioning delegate, the delegate invites accounts, each account adds its key.
// Three scenarios, each on fresh events (no deduplication):
//   single    one envelope per POST, 64 concurrent clients (closed loop);
//   batch100  batches of 100 envelopes, 8 concurrent clients (--clients);
//   paced     one envelope per POST at a fixed 1,000 events/s (open loop), for latency.

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { type Envelope, parseEnvelope } from "../core/event.js";
import { accountInvite, grantIssue, keyAdd, orgCreate, sealEvent } from "../core/event-build.js";
import { inviteKeyFromSecret } from "../core/invite.js";
import { commandCpuMs, cpuMs, machineCpuMs, startTrustlog } from "../test/helpers/process.js";
import { nativeVerificationsPerSecond } from "./signatures.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    accounts: { type: "string", default: "2000" },
    orgs: { type: "string", default: "10" },
    /** Concurrent clients of batch100 (closed loop). */
    clients: { type: "string", default: "8" },
    /** An already running log (for profiling it); default: start one on a fresh database. */
    url: { type: "string" },
    /** The --url server's process id, to report its CPU time per event. */
    pid: { type: "string" },
    scenarios: { type: "string", default: "single,batch100,paced" },
    "database-url": {
      type: "string",
      default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    },
  },
});
const RUNS = Number(args.runs);
const ORGS = Number(args.orgs);
const ACCOUNTS = Number(args.accounts); // per run, spread over the orgs

const seed = () => new Uint8Array(randomBytes(32));
const pub = (s: Uint8Array) => toBase64(ed25519().publicKey(s));

/** Phases of events; every event of a phase depends only on earlier phases. */
function buildMix(prefix: string, now: number): Envelope[][] {
  const orgs = Array.from({ length: ORGS }, (_, i) => ({
    id: `${prefix}-org${i}`,
    admin: seed(),
    delegate: seed(),
  }));
  const creates = orgs.map((o) =>
    sealEvent(
      orgCreate({
        org: o.id,
        time: now,
        actor: { role: "admin", key: pub(o.admin) },
        name: o.id,
        admins: [pub(o.admin)],
        threshold: 1,
      }),
      [o.admin],
    ),
  );
  const grants = orgs.map((o, i) =>
    sealEvent(
      grantIssue({
        org: o.id,
        seq: 1,
        prev: parseEnvelope(creates[i]!).leafHash,
        time: now,
        actor: { role: "admin", key: pub(o.admin) },
        id: "scim",
        delegate: pub(o.delegate),
        ops: ["account.invite", "account.suspend", "key.revoke"],
        accounts: ["*"],
        notBefore: now - 3600,
        notAfter: now + 86400,
        note: "bench",
      }),
      [o.admin],
    ),
  );
  const invites: Envelope[] = [];
  const adds: Envelope[] = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const o = orgs[a % ORGS]!;
    const secret = seed();
    const key = seed();
    const subject = `user${a}@${o.id}`;
    const invite = sealEvent(
      accountInvite({
        org: o.id,
        subject,
        time: now,
        actor: { role: "delegate", key: pub(o.delegate), grant: "scim" },
        inviteSecret: secret,
      }),
      [o.delegate],
    );
    invites.push(invite);
    adds.push(
      sealEvent(
        keyAdd({
          org: o.id,
          subject,
          seq: 1,
          prev: parseEnvelope(invite).leafHash,
          time: now,
          actor: { role: "self", key: pub(key) },
          key: { id: "k1", alg: "ed25519", use: "sign", pub: pub(key) },
        }),
        [key, inviteKeyFromSecret(secret).seed],
      ),
    );
  }
  return [creates, grants, invites, adds];
}

async function post(url: string, body: unknown): Promise<number> {
  const started = performance.now();
  const text = JSON.stringify(body);
  let res: Response;
  try {
    res = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: text,
    });
  } catch {
    // A kept-alive connection closed under us: resubmitting is safe (deduplication).
    res = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: text,
    });
  }
  const json = (await res.json()) as { results?: { error?: { code: string } }[]; error?: { code: string } };
  if (res.status !== 200) throw new Error(`POST answered ${res.status}: ${JSON.stringify(json.error)}`);
  const bad = json.results?.find((r) => r.error);
  if (bad) throw new Error(`refused: ${JSON.stringify(bad.error)}`);
  return performance.now() - started;
}

/** Closed loop: `clients` workers each send their next request as soon as the last is answered. */
async function closedLoop(url: string, requests: unknown[], clients: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests.length) {
        const body = requests[next++]!;
        latencies.push(await post(url, body));
      }
    }),
  );
  return latencies;
}

/** Open loop: requests start at a fixed rate whatever the answers do. */
async function openLoop(url: string, requests: unknown[], perSecond: number): Promise<number[]> {
  const started = performance.now();
  const pending: Promise<number>[] = [];
  for (let i = 0; i < requests.length; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(post(url, requests[i]));
  }
  return Promise.all(pending);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const median = (xs: number[]) => pct(xs, 50);

interface Result {
  eventsPerSecond: number;
  p50: number;
  p99: number;
  /** The server process's CPU time (all its threads) per event, in microseconds. */
  serverUs: number | undefined;
  /** This process's (the load generator's) CPU time per event, in microseconds. */
  clientUs: number;
  /** Share of the machine's CPU time left idle while the run posted (0..1), where /proc tells. */
  idle: number | undefined;
  /** PostgreSQL's CPU time per event (every process named postgres), where /proc tells. */
  postgresUs: number | undefined;
  /** The whole machine's busy CPU time per event, where /proc tells. */
  machineUs: number | undefined;
}

async function scenario(url: string, name: string, run: number, pid?: number): Promise<Result> {
  const now = Math.floor(Date.now() / 1000);
  const phases = buildMix(`${name}-${run}-${randomBytes(3).toString("hex")}`, now);
  const events = phases.reduce((n, p) => n + p.length, 0);
  const latencies: number[] = [];
  const cpu0 = cpuMs(pid);
  const client0 = process.cpuUsage();
  const machine0 = machineCpuMs();
  const pg0 = commandCpuMs("postgres");
  const started = performance.now();
  for (const phase of phases) {
    if (name === "single") latencies.push(...(await closedLoop(url, phase, 64)));
    else if (name === "batch100") {
      const batches = [];
      for (let i = 0; i < phase.length; i += 100) batches.push({ events: phase.slice(i, i + 100) });
      latencies.push(...(await closedLoop(url, batches, Number(args.clients))));
    } else latencies.push(...(await openLoop(url, phase, 1000)));
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu1 = cpuMs(pid);
  const client = process.cpuUsage(client0);
  const machine1 = machineCpuMs();
  const pg1 = commandCpuMs("postgres");
  const serverUs = cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) * 1000) / events : undefined;
  const idle =
    machine0 && machine1
      ? (machine1.idle - machine0.idle) / (machine1.idle - machine0.idle + machine1.busy - machine0.busy)
      : undefined;
  return {
    eventsPerSecond: events / seconds,
    p50: median(latencies),
    p99: pct(latencies, 99),
    serverUs,
    clientUs: (client.user + client.system) / events,
    idle,
    postgresUs: pg0 !== undefined && pg1 !== undefined ? ((pg1 - pg0) * 1000) / events : undefined,
    machineUs: machine0 && machine1 ? ((machine1.busy - machine0.busy) * 1000) / events : undefined,
  };
}

async function startLog(): Promise<{ url: string; pid?: number; stop: () => Promise<void> }> {
  if (args.url) return { url: args.url, pid: args.pid ? Number(args.pid) : undefined, stop: async () => {} };
  const admin = postgres(args["database-url"]!, { max: 1, onnotice: () => {} });
  const dbName = `bench_append_${Date.now().toString(36)}`;
  await admin.unsafe(`CREATE DATABASE "${dbName}"`);
  const u = new URL(args["database-url"]!);
  u.pathname = `/${dbName}`;
  const dir = mkdtempSync(join(tmpdir(), "trustlog-bench-"));
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
      // One load generator on one address: the per-client and per-org write limits are not under test.
      "--client-rate",
      "0",
      "--org-rate",
      "0",
    ],
    { timeoutMs: 60_000 },
  );
  return {
    url: log.url,
    pid: log.child.pid,
    async stop() {
      await log.stop();
      await admin.unsafe(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
      await admin.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const ceiling = nativeVerificationsPerSecond();
console.log(
  `ceiling: native Ed25519 ${ceiling.toFixed(0)} verifications/s on one core (bench/signatures.ts)`,
);
const server = await startLog();
try {
  console.log(
    `trustlog append benchmark: ${RUNS} runs, ${ORGS} orgs and ${ACCOUNTS} accounts per run (${2 * ORGS + 2 * ACCOUNTS} events)`,
  );
  for (const name of args.scenarios!.split(",")) {
    const results: Result[] = [];
    for (let run = 0; run < RUNS; run++) {
      const r = await scenario(server.url, name, run, server.pid);
      results.push(r);
      const cpu =
        (r.serverUs === undefined ? "" : `, server CPU ${r.serverUs.toFixed(0)} µs/event`) +
        `, load generator ${r.clientUs.toFixed(0)} µs/event` +
        (r.postgresUs === undefined ? "" : `, PostgreSQL ${r.postgresUs.toFixed(0)} µs/event`) +
        (r.machineUs === undefined ? "" : `, machine ${r.machineUs.toFixed(0)} µs/event`) +
        (r.idle === undefined ? "" : `, ${(100 * r.idle).toFixed(0)}% idle`);
      console.log(
        `  ${name.padEnd(9)} run ${run + 1}: ${r.eventsPerSecond.toFixed(0)} events/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms${cpu}`,
      );
    }
    const cpu =
      results[0]?.serverUs === undefined
        ? ""
        : `, server CPU ${median(results.map((r) => r.serverUs!)).toFixed(0)} µs/event`;
    console.log(
      `${name.padEnd(9)} median: ${median(results.map((r) => r.eventsPerSecond)).toFixed(0)} events/s, ` +
        `p50 ${median(results.map((r) => r.p50)).toFixed(1)} ms, p99 ${median(results.map((r) => r.p99)).toFixed(1)} ms${cpu}`,
    );
    const rate = median(results.map((r) => r.eventsPerSecond));
    if (name === "batch100") {
      console.log(
        `batch100 ratio: ${rate.toFixed(0)} events/s / ${ceiling.toFixed(0)} verifications/s = ${(rate / ceiling).toFixed(2)} (goal >= 0.6)`,
      );
    } else if (name === "paced") {
      const p99 = median(results.map((r) => r.p99));
      console.log(
        `paced: sustained ${rate.toFixed(0)} of 1000 events/s offered, p99 ${(p99 / 1000).toFixed(2)} s ` +
          `(goal: 1000/s sustained, p99 <= 1 s)`,
      );
    }
  }
} finally {
  await server.stop();
}
