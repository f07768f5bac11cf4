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
// process's event loop with autocannon, as the log server does not), measured with the same
// autocannon settings right after each run. For full tiles it serves the very tiles the log
// serves, from a Map keyed by path, to the same random paths: autocannon decodes every body it
// receives as UTF-8 (its pipelinedRequestsQueue appends each body to a string), and decoding
// the same 8 KiB of random bytes again and again is ~7x cheaper than decoding distinct ones
// (the CPU's branch predictor learns the one body; bench/body-decode.ts measures it), so a
// ceiling serving one body measures the client's branch predictor, not the server. That
// one-body ceiling (`/`, always tile 0) is still printed for comparison with earlier figures.
// For inclusion proofs the bare server serves 4,096 real proofs of random leaves, fetched from
// the log first, at random (the log is asked for any leaf): until 2026-12-07 their ceiling was
// the one-body one, whose 8 KiB body costs autocannon more to read than a ~1 KiB proof. Each
// scenario prints its median req/s, p50/p99, the ceilings' medians and the ratios.

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

/** A ceiling's requests to the bare server, and how its line is labelled. */
interface Ceiling {
  label: string;
  path: () => string;
}

interface Scenario {
  name: string;
  /** Path of a measured request, and of a warm-up request (those walk every tile in turn). */
  path: () => string;
  warm: () => string;
  /** The first is the one the ratio is reported against in the summary's first place. */
  ceilings: Ceiling[];
}

const MAX_TILES = 4096;

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

// The ceiling's server: as little per request as node:http allows, the bodies prebuilt. A path
// it was given answers its body; any other path answers the first (the one-body ceiling).
const BARE_SERVER = `
const http = require("node:http");
const fs = require("node:fs");
const all = fs.readFileSync(process.argv[1]);
const index = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const answers = new Map(index.map(({ path, offset, length, type }) => [
  path,
  { body: all.subarray(offset, offset + length), headers: { "Content-Type": type, "Content-Length": length } },
]));
const first = answers.get(index[0].path);
const server = http.createServer((req, res) => {
  const a = answers.get(req.url) ?? first;
  res.writeHead(200, a.headers);
  res.end(a.body);
});
server.keepAliveTimeout = 65000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

/** One answer of the bare server: its path, body and Content-Type. */
interface BareAnswer {
  path: string;
  body: Uint8Array;
  type: string;
}

/** Starts the bare server in a child process serving `answers`; resolves once it listens. */
async function startBareServer(
  answers: BareAnswer[],
): Promise<{ url: string; pid: number; stop: () => void }> {
  mkdirSync(dir, { recursive: true });
  const bodyFile = join(dir, "bare-bodies.bin");
  const indexFile = join(dir, "bare-index.json");
  let offset = 0;
  const index = answers.map(({ path, body, type }) => {
    const entry = { path, offset, length: body.length, type };
    offset += body.length;
    return entry;
  });
  writeFileSync(bodyFile, Buffer.concat(answers.map((a) => a.body)));
  writeFileSync(indexFile, JSON.stringify(index));
  const child = spawn(process.execPath, ["-e", BARE_SERVER, bodyFile, indexFile], {
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
  // The tiles requested, and served by the ceiling too: every full level-0 tile, up to 4,096
  // (32 MiB, half the log's default cache of immutable answers).
  const tileCount = Math.min(fullTiles, MAX_TILES);
  if (tileCount === 0) throw new Error("the tree has no full level-0 tile");
  const tilePath = (i: number) => `/tile/0/${formatTileIndex(i)}`;
  const tilePaths = Array.from({ length: tileCount }, (_, i) => tilePath(i));
  const tileBodies: Uint8Array[] = [];
  for (const p of tilePaths) {
    const body = new Uint8Array(await (await fetch(`${log.url}${p}`)).arrayBuffer());
    if (body.length !== TILE_WIDTH * 32) throw new Error(`tile ${p} is ${body.length} bytes`);
    tileBodies.push(body);
  }
  const randomTile = () => tilePath(rnd(tileCount));
  const oneBody: Ceiling = { label: "one-body ceiling", path: () => "/" };
  // The proofs' ceiling serves real proofs too: 4,096 of random leaves, fetched from the log
  // (a proof is ~1 KiB of JSON; the one-body ceiling's 8 KiB tile costs autocannon more to read
  // than a proof, which put that ceiling below the log on some machines).
  const proofPath = (i: number) => `/v1/proof/inclusion?index=${i}&size=${size}`;
  const proofAnswers: BareAnswer[] = [];
  if (args.scenarios!.split(",").includes("proofs")) {
    for (let k = 0; k < MAX_TILES; k++) {
      const path = proofPath(rnd(size));
      const res = await fetch(`${log.url}${path}`);
      if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
      proofAnswers.push({ path, body: new Uint8Array(await res.arrayBuffer()), type: "application/json" });
    }
  }
  const randomProof = () => proofAnswers[rnd(proofAnswers.length)]!.path;
  const scenarios: Scenario[] = [
    {
      name: "full tiles",
      path: randomTile,
      warm: () => tilePath(next++ % tileCount),
      ceilings: [{ label: "ceiling (same tiles)", path: randomTile }, oneBody],
    },
    {
      name: "inclusion proofs",
      path: () => proofPath(rnd(size)),
      warm: () => proofPath((next++ * TILE_WIDTH) % size),
      ceilings: [{ label: "ceiling (proofs)", path: randomProof }, oneBody],
    },
  ];

  const wanted = args.scenarios!.split(",");
  const bare = await startBareServer([
    ...tilePaths.map((path, i) => ({ path, body: tileBodies[i]!, type: "application/octet-stream" })),
    ...proofAnswers,
  ]);
  console.log(
    `load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`,
  );
  try {
    for (const { name, path, warm, ceilings } of scenarios.filter((s) =>
      wanted.includes(s.name.split(" ")[1]!),
    )) {
      await measure(log.url, name, warm); // warm-up: fills the caches
      await measure(bare.url, "ceiling", () => "/");
      const runs: Measured[] = [];
      // Per ceiling (in `ceilings` order): its runs, and the ratio of each run to it.
      const measured = ceilings.map(() => ({ runs: [] as Measured[], ratios: [] as number[] }));
      for (let i = 0; i < Number(args.runs); i++) {
        const r = await measure(log.url, name, path, log.child.pid);
        runs.push(r);
        const cpu =
          (r.serverUs === undefined ? "" : `, server CPU ${r.serverUs.toFixed(0)} µs/request`) +
          `, client CPU ${r.clientUs.toFixed(0)} µs/request`;
        const parts: string[] = [];
        for (const [k, ceiling] of ceilings.entries()) {
          const c = await measure(bare.url, "ceiling", ceiling.path, bare.pid);
          measured[k]!.runs.push(c);
          measured[k]!.ratios.push(r.rps / c.rps);
          parts.push(
            `${ceiling.label} ${c.rps.toFixed(0)} req/s (p99 ${c.p99} ms, server CPU ` +
              `${c.serverUs?.toFixed(0)} µs/request, client CPU ${c.clientUs.toFixed(0)} µs/request), ` +
              `ratio ${(r.rps / c.rps).toFixed(2)}`,
          );
        }
        console.log(
          `  ${name} run ${i + 1}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms${cpu}; ${parts.join("; ")}`,
        );
      }
      const med = (xs: number[]) => pct(xs, 50);
      const ratios = ceilings
        .map(
          (ceiling, k) =>
            `${ceiling.label} ${med(measured[k]!.runs.map((c) => c.rps)).toFixed(0)} req/s, ` +
            `ratio ${med(measured[k]!.ratios).toFixed(2)}`,
        )
        .join("; ");
      console.log(
        `${name} median of ${runs.length}: ${med(runs.map((r) => r.rps)).toFixed(0)} req/s, ` +
          `p50 ${med(runs.map((r) => r.p50))} ms, p99 ${med(runs.map((r) => r.p99))} ms, ` +
          `server CPU ${med(runs.map((r) => r.serverUs ?? Number.NaN)).toFixed(0)} µs/request; ` +
          `${ratios} (load average ${loadavg()[0]!.toFixed(2)})`,
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
