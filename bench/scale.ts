// Scale benchmark: how a real `trustlog serve` on PostgreSQL behaves as the tree grows. For each
// size in --leaves the tree is seeded (bench/seed-tree.ts: one org, one account chain per invite,
// kept for the next run), the server is started on it, and the same measures are taken:
//
//   start-up      spawn to /readyz (the index of chain heads is rebuilt from the state tables);
//   memory        the server's resident set after start-up and its peak after the load (VmRSS,
//                 VmHWM), and the heap it reports after the load;
//   append        single events, one POST in flight, answered after the signed checkpoint that
//                 covers them is committed (p50/p99), then batches of 100 from 4 clients;
//   inclusion     /v1/proof/inclusion for random indices of the whole tree, one in flight
//                 (the tile caches are cold for most of them at 10^7 leaves);
//   lookup        /v1/orgs/:org/accounts/:account/lookup for random seeded accounts, one in
//                 flight (a proof from the index of chain heads).
//
// Issue 13's goal: append and proof latency at 10^7 leaves within 1.5x of 10^5. The last line
// prints each ratio (largest size / smallest).
//
//   npx tsx bench/scale.ts [--leaves 100000,10000000] [--samples 1000] [--database-url postgres://…]
//                          [--batches 40] [--drop] [--server-heap-mb N] [--tile-cache-tiles N] [--warm]
//                          [--server-node-options="--max-semi-space-size=64 …"]
//
// Seeding 10^7 leaves keeps the index of chain heads of 10^7 chains in this process: run it as
// node --max-old-space-size=8192 --import tsx bench/scale.ts …, and give the server a heap of its
// own with --server-heap-mb when node's default (about 4 GiB here) is too small for the index.
// The seeded databases (bench_scale_<N>) are kept unless --drop is given.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import type { Envelope } from "../core/event.js";
import { accountInvite, orgCreate, sealEvent } from "../core/event-build.js";
import { startTrustlog } from "../test/helpers/process.js";
import { databaseUrl, seedTree, serveSeededArgs } from "./seed-tree.js";

const { values: args } = parseArgs({
  options: {
    leaves: { type: "string", default: "100000,10000000" },
    samples: { type: "string", default: "1000" },
    /** Batches of 100 in the batch phase (4 clients); more smooths out the garbage collector's pauses. */
    batches: { type: "string", default: "40" },
    drop: { type: "boolean", default: false },
    /** The server's V8 heap limit (--max-old-space-size), MiB; default node's own. */
    "server-heap-mb": { type: "string" },
    /** More node options for the server (NODE_OPTIONS), given as --server-node-options="…". */
    "server-node-options": { type: "string" },
    /** The server's tile cache, in tiles (TRUSTLOG_TILE_CACHE_TILES); default the server's. */
    "tile-cache-tiles": { type: "string" },
    /** Before the proofs, one proof per level-0 tile (fills the tile cache). */
    warm: { type: "boolean", default: false },
    "database-url": {
      type: "string",
      default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    },
  },
});
const SIZES = args.leaves!.split(",").map(Number);
const SAMPLES = Number(args.samples);
const BATCHES = Number(args.batches);
const BASE = args["database-url"]!;
const ORIGIN = "bench.trustlog.example/scale";
const nodeOptions = [
  ...(args["server-heap-mb"] ? [`--max-old-space-size=${args["server-heap-mb"]}`] : []),
  ...(args["server-node-options"] ? [args["server-node-options"]] : []),
].join(" ");
const serverEnv: Record<string, string> = {
  ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
  ...(args["tile-cache-tiles"] ? { TRUSTLOG_TILE_CACHE_TILES: args["tile-cache-tiles"] } : {}),
};

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((p / 100) * (xs.length - 1))]!;
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`;

/** VmRSS and VmHWM of a process, MiB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))![1]) / 1024;
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

async function post(url: string, envelopes: Envelope[]): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(envelopes.length === 1 ? envelopes[0] : { events: envelopes }),
  });
  const json = (await res.json()) as { results?: { error?: unknown }[]; error?: unknown };
  if (res.status !== 200) throw new Error(`POST answered ${res.status}: ${JSON.stringify(json.error)}`);
  const bad = json.results?.find((r) => r.error);
  if (bad) throw new Error(`refused: ${JSON.stringify(bad.error)}`);
  return performance.now() - started;
}

async function get(url: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  return performance.now() - started;
}

/** A fresh org and `n` invites under it (signed outside the timing). */
function events(n: number): { create: Envelope; invites: Envelope[] } {
  const now = Math.floor(Date.now() / 1000);
  const org = `scale-${randomBytes(4).toString("hex")}`;
  const seed = new Uint8Array(randomBytes(32));
  const pub = toBase64(ed25519().publicKey(seed));
  const actor = { role: "admin" as const, key: pub };
  const create = sealEvent(orgCreate({ org, time: now, actor, name: org, admins: [pub], threshold: 1 }), [
    seed,
  ]);
  const invites = Array.from({ length: n }, (_, i) =>
    sealEvent(
      accountInvite({ org, subject: `a${i}`, time: now, actor, inviteKey: toBase64(randomBytes(32)) }),
      [seed],
    ),
  );
  return { create, invites };
}

interface Figures {
  size: number;
  seedSeconds: number;
  seedRate: number;
  readyMs: number;
  rssReady: number;
  rssAfter: number;
  peak: number;
  heapMiB: number;
  single: number[];
  batch: number[];
  batchRate: number;
  inclusion: number[];
  lookup: number[];
}

async function measureSize(leaves: number): Promise<Figures> {
  const name = `bench_scale_${leaves}`;
  const keyFile = join(tmpdir(), `trustlog-bench-scale-${leaves}`, "log.key");
  console.log(`\n== ${leaves} leaves`);
  const seeded = await seedTree({
    baseUrl: BASE,
    database: name,
    keyFile,
    origin: ORIGIN,
    leaves,
    every: Math.max(50_000, Math.round(leaves / 50)),
  });
  if (seeded.seconds > 0)
    console.log(
      `seeded to ${seeded.size} leaves in ${seeded.seconds.toFixed(0)} s (${seeded.rate.toFixed(0)} leaves/s)`,
    );
  // Seeded accounts to look up, spread over the whole tree.
  const pg = postgres(databaseUrl(BASE, name), { max: 1, onnotice: () => {} });
  const accounts = (await pg`
    select org, id from accounts tablesample system (1) limit ${SAMPLES}`) as unknown as {
    org: string;
    id: string;
  }[];
  await pg.end();

  const log = await startTrustlog(
    [
      ...serveSeededArgs({ baseUrl: BASE, database: name, keyFile, origin: ORIGIN }),
      // One load generator on one address: the write limits are not under test.
      "--client-rate",
      "0",
      "--org-rate",
      "0",
    ],
    { timeoutMs: 900_000, env: serverEnv },
  );
  try {
    const pid = log.child.pid!;
    const ready = memory(pid);
    console.log(`server ready in ${(log.readyMs / 1000).toFixed(1)} s, resident ${ready.rss.toFixed(0)} MiB`);
    const size = ((await (await fetch(`${log.url}/readyz`)).json()) as { treeSize: number }).treeSize;

    // Append: one in flight.
    const single: number[] = [];
    const a = events(SAMPLES);
    await post(log.url, [a.create]);
    for (const e of a.invites) single.push(await post(log.url, [e]));
    console.log(`append single, one in flight: ${fmt(single)}`);

    // Append: batches of 100 from 4 clients.
    const b = events(BATCHES * 100);
    await post(log.url, [b.create]);
    const batches = Array.from({ length: BATCHES }, (_, i) => b.invites.slice(i * 100, (i + 1) * 100));
    const batch: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < batches.length) batch.push(await post(log.url, batches[next++]!));
      }),
    );
    const batchRate = (BATCHES * 100) / ((performance.now() - t0) / 1000);
    console.log(`append batch100, 4 clients: ${batchRate.toFixed(0)} events/s, ${fmt(batch)}`);

    if (args.warm) {
      // One proof per level-0 tile, 16 at a time: every tile the measured proofs can need is
      // then in the tile cache, if it holds them all (as a long-running server's would be).
      const t = performance.now();
      let tile = 0;
      const tiles = Math.ceil(size / 256);
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (tile < tiles) {
            const index = Math.min(size - 1, 256 * tile++);
            await get(`${log.url}/v1/proof/inclusion?index=${index}&size=${size}`);
          }
        }),
      );
      console.log(
        `warmed the tile cache with ${tiles} proofs in ${((performance.now() - t) / 1000).toFixed(1)} s`,
      );
    }
    // Proofs against the tree as seeded (before the appends above), random indices.
    const inclusion: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const index = Math.floor(Math.random() * size);
      inclusion.push(await get(`${log.url}/v1/proof/inclusion?index=${index}&size=${size}`));
    }
    console.log(`inclusion proofs, one in flight: ${fmt(inclusion)}`);
    const lookup: number[] = [];
    for (const { org, id } of accounts) {
      lookup.push(
        await get(`${log.url}/v1/orgs/${encodeURIComponent(org)}/accounts/${encodeURIComponent(id)}/lookup`),
      );
    }
    console.log(`account lookups (${accounts.length}), one in flight: ${fmt(lookup)}`);
    const metrics = await (await fetch(`${log.url}/metrics`)).text();
    const heap =
      Number(metrics.match(/^trustlog_nodejs_heap_size_used_bytes (\S+)/m)?.[1] ?? Number.NaN) / 2 ** 20;
    const after = memory(pid);
    console.log(
      `server memory: resident ${after.rss.toFixed(0)} MiB (peak ${after.peak.toFixed(0)} MiB), heap used ${heap.toFixed(0)} MiB; load average ${loadavg()[0]!.toFixed(2)}`,
    );
    return {
      size,
      seedSeconds: seeded.seconds,
      seedRate: seeded.rate,
      readyMs: log.readyMs,
      rssReady: ready.rss,
      rssAfter: after.rss,
      peak: after.peak,
      heapMiB: heap,
      single,
      batch,
      batchRate,
      inclusion,
      lookup,
    };
  } finally {
    await log.stop();
    if (args.drop) {
      const admin = postgres(BASE, { max: 1, onnotice: () => {} });
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  }
}

const all: Figures[] = [];
for (const n of SIZES) all.push(await measureSize(n));
if (all.length >= 2) {
  const lo = all[0]!;
  const hi = all.at(-1)!;
  const r = (f: (x: Figures) => number[], p: number) => (pct(f(hi), p) / pct(f(lo), p)).toFixed(2);
  console.log(`\nratios, ${hi.size} leaves over ${lo.size} (goal <= 1.5):`);
  for (const [label, f] of [
    ["append single", (x: Figures) => x.single],
    ["append batch100", (x: Figures) => x.batch],
    ["inclusion proof", (x: Figures) => x.inclusion],
    ["account lookup", (x: Figures) => x.lookup],
  ] as const) {
    console.log(`  ${label.padEnd(16)} p50 ${r(f, 50)}, p99 ${r(f, 99)}`);
  }
  console.log(
    `  server resident after start-up: ${lo.rssReady.toFixed(0)} MiB -> ${hi.rssReady.toFixed(0)} MiB; start-up ${(lo.readyMs / 1000).toFixed(1)} s -> ${(hi.readyMs / 1000).toFixed(1)} s`,
  );
}
