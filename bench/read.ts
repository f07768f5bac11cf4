// Read-path benchmark: full hash tiles and inclusion proofs served by a real `trustlog serve`
// process on PostgreSQL, from a tree of at least a million leaves, measured with autocannon.
//
//   npx tsx bench/read.ts [--leaves 1000000] [--runs 3] [--duration 10] [--connections 32]
//                         [--database-url postgres://…] [--keep]
//
// The tree is seeded through the storage layer itself (bench/seed-tree.ts: server/sequencer.ts
// in this process, batches of 5,000 invites signed on a worker thread), which is much faster
// than HTTP and writes exactly what the server would. With --keep the seeded database (and its
// key) is kept and reused by the next run with the same --leaves.
//
// The ceiling: a bare `node:http` server in a child process (so that it does not share this
// process's event loop with autocannon, as the log server does not) answering every request
// with the same 8 KiB full tile, measured with the same autocannon settings right after each
// run. Each scenario prints its median req/s, p50/p99, the ceiling's median and their ratio.

import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import postgres from "postgres";
import { formatTileIndex, TILE_WIDTH } from "../core/tile-paths.js";
import { cpuMs, startTrustlog } from "../test/helpers/process.js";
import { seedTree, serveSeededArgs } from "./seed-tree.js";

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

const base = new URL(args["database-url"]!);
const dbName = `bench_read_${LEAVES}`;
const dir = join(tmpdir(), `trustlog-bench-read-${LEAVES}`);
const keyFile = join(dir, "log.key");

async function seed(): Promise<void> {
  const r = await seedTree({
    baseUrl: base.toString(),
    database: dbName,
    keyFile,
    origin: ORIGIN,
    leaves: LEAVES,
  });
  if (r.seconds > 0)
    console.log(`seeded ${r.size} leaves in ${r.seconds.toFixed(0)} s (${r.rate.toFixed(0)} leaves/s)`);
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((p / 100) * (xs.length - 1))]!;

interface Measured {
  rps: number;
  p50: number;
  p99: number;
  /** The server's own CPU time per answered request, in microseconds. */
  serverUs: number | undefined;
  /** autocannon's own CPU time (this process) per request, in microseconds. */
  clientUs: number;
}

async function measure(url: string, name: string, path: () => string, pid?: number): Promise<Measured> {
  const cpu0 = cpuMs(pid);
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
  const cpu1 = cpuMs(pid);
  const client = process.cpuUsage(client0);
  const clientUs = (client.user + client.system) / Math.max(1, result.requests.total);
  const serverUs =
    cpu0 !== undefined && cpu1 !== undefined
      ? ((cpu1 - cpu0) * 1000) / Math.max(1, result.requests.total)
      : undefined;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    serverUs,
    clientUs,
  };
}

// The ceiling's server: as little per request as node:http allows, the body prebuilt.
const BARE_SERVER = `
const http = require("node:http");
const body = require("node:fs").readFileSync(process.argv[1]);
const headers = { "Content-Type": "application/octet-stream", "Content-Length": body.length };
const server = http.createServer((req, res) => { res.writeHead(200, headers); res.end(body); });
server.keepAliveTimeout = 65000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

/** Starts the bare server in a child process serving `body`; resolves once it listens. */
async function startBareServer(body: Uint8Array): Promise<{ url: string; pid: number; stop: () => void }> {
  const bodyFile = join(dir, "bare-body.bin");
  mkdirSync(dir, { recursive: true });
  writeFileSync(bodyFile, body);
  const child = spawn(process.execPath, ["-e", BARE_SERVER, bodyFile], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`bare server exited with ${code}`)));
    child.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop: () => child.kill() };
}

if (!args.url) await seed();
const log = args.url
  ? {
      url: args.url,
      child: { pid: args.pid ? Number(args.pid) : undefined },
      stop: async () => {},
    }
  : await startTrustlog(
      serveSeededArgs({ baseUrl: base.toString(), database: dbName, keyFile, origin: ORIGIN }),
      {
        timeoutMs: 120_000,
      },
    );
try {
  const size = ((await (await fetch(`${log.url}/readyz`)).json()) as { treeSize: number }).treeSize;
  const fullTiles = Math.floor(size / TILE_WIDTH);
  console.log(
    `tree of ${size} leaves, ${fullTiles} full level-0 tiles; ${args.connections} connections, ${args.duration} s per run`,
  );
  const rnd = (n: number) => Math.floor(Math.random() * n);
  let next = 0;
  // [name, path of a measured request, path of a warm-up request]: the warm-up walks every
  // level-0 tile in turn, so that the measured runs find every cache warm, however large the tree.
  const scenarios: [string, () => string, () => string][] = [
    [
      "full tiles",
      () => `/tile/0/${formatTileIndex(rnd(fullTiles))}`,
      () => `/tile/0/${formatTileIndex(next++ % fullTiles)}`,
    ],
    [
      "inclusion proofs",
      () => `/v1/proof/inclusion?index=${rnd(size)}&size=${size}`,
      () => `/v1/proof/inclusion?index=${(next++ * TILE_WIDTH) % size}&size=${size}`,
    ],
  ];

  const wanted = args.scenarios!.split(",");
  // The ceiling serves the very bytes of a full tile the log serves.
  const tileBody = new Uint8Array(
    await (await fetch(`${log.url}/tile/0/${formatTileIndex(0)}`)).arrayBuffer(),
  );
  if (tileBody.length !== TILE_WIDTH * 32) throw new Error(`tile 0/000 is ${tileBody.length} bytes`);
  const bare = await startBareServer(tileBody);
  console.log(
    `load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`,
  );
  try {
    for (const [name, path, warm] of scenarios.filter(([n]) => wanted.includes(n.split(" ")[1]!))) {
      await measure(log.url, name, warm); // warm-up: fills the caches
      await measure(bare.url, "ceiling", () => "/");
      const runs: Measured[] = [];
      const ceilings: Measured[] = [];
      const ratios: number[] = [];
      for (let i = 0; i < Number(args.runs); i++) {
        const r = await measure(log.url, name, path, log.child.pid);
        const c = await measure(bare.url, "ceiling", () => "/", bare.pid);
        runs.push(r);
        ceilings.push(c);
        ratios.push(r.rps / c.rps);
        const cpu =
          (r.serverUs === undefined ? "" : `, server CPU ${r.serverUs.toFixed(0)} µs/request`) +
          `, client CPU ${r.clientUs.toFixed(0)} µs/request`;
        console.log(
          `  ${name} run ${i + 1}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms${cpu}; ` +
            `ceiling ${c.rps.toFixed(0)} req/s (p99 ${c.p99} ms, server CPU ${c.serverUs?.toFixed(0)} µs/request), ` +
            `ratio ${(r.rps / c.rps).toFixed(2)}`,
        );
      }
      const med = (xs: number[]) => pct(xs, 50);
      console.log(
        `${name} median of ${runs.length}: ${med(runs.map((r) => r.rps)).toFixed(0)} req/s, ` +
          `p50 ${med(runs.map((r) => r.p50))} ms, p99 ${med(runs.map((r) => r.p99))} ms, ` +
          `server CPU ${med(runs.map((r) => r.serverUs ?? Number.NaN)).toFixed(0)} µs/request; ` +
          `ceiling ${med(ceilings.map((c) => c.rps)).toFixed(0)} req/s; ratio ${med(ratios).toFixed(2)} ` +
          `(load average ${loadavg()[0]!.toFixed(2)})`,
      );
    }
  } finally {
    bare.stop();
  }
} finally {
  await log.stop();
  if (!args.keep && !args.url) {
    const admin = postgres(base.toString(), { max: 1, onnotice: () => {} });
    await admin.unsafe(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await admin.end();
  }
}
