// Read-path benchmark: full hash tiles and inclusion proofs served by a real `trustlog serve`
// process on PostgreSQL, from a tree of at least a million leaves, measured with autocannon.
//
//   npx tsx bench/read.ts [--leaves 1000000] [--runs 3] [--duration 10] [--connections 32]
//                         [--database-url postgres://…] [--keep]
//
// The tree is seeded through the storage layer itself (server/sequencer.ts in this process,
// batches of 5,000 pre-signed invites), which is much faster than HTTP and writes exactly what
// the server would. With --keep the seeded database (and its key) is kept and reused by the
// next run with the same --leaves.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import postgres from "postgres";
import { toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { parseEnvelope } from "../core/event.js";
import { accountInvite, orgCreate, sealEvent } from "../core/event-build.js";
import { formatTileIndex, TILE_WIDTH } from "../core/tile-paths.js";
import { openDatabase, runMigrations } from "../node/db.js";
import { useNativeEd25519 } from "../node/ed25519-native.js";
import { readSignerKey, writeNewSignerKey } from "../server/keys.js";
import { SERVER_MIGRATIONS } from "../server/main.js";
import { Sequencer } from "../server/sequencer.js";
import { LogStore } from "../server/storage/log-store.js";
import { startTrustlog } from "../test/helpers/process.js";

const { values: args } = parseArgs({
  options: {
    leaves: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    "database-url": {
      type: "string",
      default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    },
    keep: { type: "boolean", default: false },
    /** An already running log serving the seeded database (for profiling it). */
    url: { type: "string" },
    /** Server process id, to report its CPU time per request when --url is given. */
    pid: { type: "string" },
    scenarios: { type: "string", default: "tiles,proofs" },
  },
});
const LEAVES = Number(args.leaves);
const ORIGIN = "bench.trustlog.example/log";
const CHUNK = 5000;

useNativeEd25519();

const base = new URL(args["database-url"]!);
const dbName = `bench_read_${LEAVES}`;
const dbUrl = new URL(base);
dbUrl.pathname = `/${dbName}`;
const dir = join(tmpdir(), `trustlog-bench-read-${LEAVES}`);
const keyFile = join(dir, "log.key");

async function seed(): Promise<void> {
  const admin = postgres(base.toString(), { max: 1, onnotice: () => {} });
  const exists = await admin`select 1 from pg_database where datname = ${dbName}`;
  if (exists.length === 0) await admin.unsafe(`CREATE DATABASE "${dbName}"`);
  await admin.end();
  mkdirSync(dir, { recursive: true });
  if (!existsSync(keyFile)) writeNewSignerKey(keyFile, ORIGIN);

  const database = await openDatabase({ url: dbUrl.toString() });
  await runMigrations(database, SERVER_MIGRATIONS);
  const store = new LogStore(database);
  const have = await store.treeSize();
  if (have >= LEAVES) {
    console.log(`tree already has ${have} leaves`);
    await database.close();
    return;
  }
  const newSequencer = async () => {
    const seq = new Sequencer({
      database,
      store,
      signer: readSignerKey(keyFile),
      origin: ORIGIN,
      batchSize: CHUNK,
      batchDelayMs: 0,
      queueLimit: 4 * CHUNK,
      skewSeconds: 86_400 * 365,
    });
    await seq.start();
    return seq;
  };
  const sequencer = await newSequencer();
  const now = Math.floor(Date.now() / 1000);
  const org = `bench-${randomBytes(3).toString("hex")}`;
  const adminSeed = new Uint8Array(randomBytes(32));
  const adminPub = toBase64(ed25519().publicKey(adminSeed));
  const actor = { role: "admin" as const, key: adminPub };
  const item = (env: ReturnType<typeof sealEvent>) => {
    const p = parseEnvelope(env);
    return { envelope: p.envelope, leaf: p.leaf, leafHash: p.leafHash };
  };
  await sequencer.submit([
    item(
      sealEvent(orgCreate({ org, time: now, actor, name: org, admins: [adminPub], threshold: 1 }), [
        adminSeed,
      ]),
    ),
  ]);
  const started = performance.now();
  let done = have + 1;
  let inFlight: Promise<unknown> | undefined;
  while (done < LEAVES) {
    const n = Math.min(CHUNK, LEAVES - done);
    const items = Array.from({ length: n }, (_, i) =>
      item(
        sealEvent(
          accountInvite({
            org,
            subject: `u${done + i}`,
            time: now,
            actor,
            inviteKey: toBase64(randomBytes(32)),
          }),
          [adminSeed],
        ),
      ),
    );
    // Sign the next chunk while the sequencer commits this one.
    await inFlight;
    inFlight = sequencer.submit(items).then((rs) => {
      const bad = rs.find((r) => "error" in r);
      if (bad) throw (bad as { error: Error }).error;
    });
    done += n;
    if (done % 50_000 < CHUNK) {
      const rate = (done - have) / ((performance.now() - started) / 1000);
      console.log(`seeded ${done} leaves (${rate.toFixed(0)} leaves/s)`);
    }
  }
  await inFlight;
  await sequencer.stop();
  await database.close();
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((p / 100) * (xs.length - 1))]!;

/** CPU time (user + system, all threads) the server process has used so far, in ms (Linux). */
function serverCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return undefined;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Measured {
  rps: number;
  p99: number;
  /** The server's own CPU time per answered request, in microseconds. */
  serverUs: number | undefined;
  /** autocannon's own CPU time (this process) per request, in microseconds. */
  clientUs: number;
}

async function measure(url: string, name: string, path: () => string, pid?: number): Promise<Measured> {
  const cpu0 = serverCpuMs(pid);
  const client0 = process.cpuUsage();
  const result = await autocannon({
    url,
    connections: Number(args.connections),
    duration: Number(args.duration),
    requests: [
      {
        method: "GET",
        setupRequest: (req) => ({ ...req, path: path() }),
      },
    ],
  });
  const errors = result.non2xx + result.errors;
  if (errors > 0) console.log(`  ${name}: ${errors} failed requests`);
  const cpu1 = serverCpuMs(pid);
  const client = process.cpuUsage(client0);
  const clientUs = (client.user + client.system) / Math.max(1, result.requests.total);
  const serverUs =
    cpu0 !== undefined && cpu1 !== undefined
      ? ((cpu1 - cpu0) * 1000) / Math.max(1, result.requests.total)
      : undefined;
  return { rps: result.requests.average, p99: result.latency.p99, serverUs, clientUs };
}

if (!args.url) await seed();
const log = args.url
  ? {
      url: args.url,
      child: { pid: args.pid ? Number(args.pid) : undefined },
      stop: async () => {},
    }
  : await startTrustlog(
      [
        "serve",
        "--database-url",
        dbUrl.toString(),
        "--key-file",
        keyFile,
        "--origin",
        ORIGIN,
        "--log-level",
        "warn",
      ],
      { timeoutMs: 120_000 },
    );
try {
  const size = ((await (await fetch(`${log.url}/readyz`)).json()) as { treeSize: number }).treeSize;
  const fullTiles = Math.floor(size / TILE_WIDTH);
  console.log(
    `tree of ${size} leaves, ${fullTiles} full level-0 tiles; ${args.connections} connections, ${args.duration} s per run`,
  );
  const rnd = (n: number) => Math.floor(Math.random() * n);
  const scenarios: [string, () => string][] = [
    ["full tiles", () => `/tile/0/${formatTileIndex(rnd(fullTiles))}`],
    ["inclusion proofs", () => `/v1/proof/inclusion?index=${rnd(size)}&size=${size}`],
  ];
  const wanted = args.scenarios!.split(",");
  for (const [name, path] of scenarios.filter(([n]) => wanted.includes(n.split(" ")[1]!))) {
    await measure(log.url, name, path); // warm-up: fills the tile cache
    const runs = [];
    for (let i = 0; i < Number(args.runs); i++) {
      const r = await measure(log.url, name, path, log.child.pid);
      runs.push(r);
      const cpu =
        (r.serverUs === undefined ? "" : `, server CPU ${r.serverUs.toFixed(0)} µs/request`) +
        `, client CPU ${r.clientUs.toFixed(0)} µs/request`;
      console.log(`  ${name} run ${i + 1}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms${cpu}`);
    }
    console.log(
      `${name} median: ${pct(
        runs.map((r) => r.rps),
        50,
      ).toFixed(0)} req/s, p99 ${pct(
        runs.map((r) => r.p99),
        50,
      )} ms, server CPU ${pct(
        runs.map((r) => r.serverUs ?? Number.NaN),
        50,
      ).toFixed(0)} µs/request`,
    );
  }
} finally {
  await log.stop();
  if (!args.keep && !args.url) {
    const admin = postgres(base.toString(), { max: 1, onnotice: () => {} });
    await admin.unsafe(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  }
}
