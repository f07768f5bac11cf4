// The log server's reads with and without prepared statements (server/storage/prepared.ts), in
// one run: the same LogStore and state loads on two pools of one connection each, one on the
// database URL as given, one with `?prepare=false` (postgres-js then sends every query as Parse
// and Describe, waits, then Bind and Execute, and PostgreSQL parses and plans it each time; this
// is what every drizzle query built on the fly costs). Rounds alternate the two pools; each
// round times --calls calls of each read, one in flight, and the medians of the per-call times
// over all rounds are printed with their ratio (unprepared / prepared).
//
//   npx tsx bench/prepared.ts [--leaves 100000] [--rounds 6] [--calls 300] [--database-url postgres://…]
//
// The tree is seeded by bench/seed-tree.ts into bench_prepared_<leaves> and kept (a later run
// reuses it). The tile reads miss the server's caches (each through a fresh LogStore), as a
// proof does on a large tree.

import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { type Database, openDatabase } from "../node/db.js";
import { LogStore } from "../server/storage/log-store.js";
import { loadAccounts } from "../server/storage/state.js";
import { databaseUrl, seedTree } from "./seed-tree.js";

const { values: args } = parseArgs({
  options: {
    leaves: { type: "string", default: "100000" },
    rounds: { type: "string", default: "6" },
    calls: { type: "string", default: "300" },
    "database-url": {
      type: "string",
      default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    },
  },
});
const LEAVES = Number(args.leaves);
const ROUNDS = Number(args.rounds);
const CALLS = Number(args.calls);
const BASE = args["database-url"]!;
const NAME = `bench_prepared_${LEAVES}`;

await seedTree({
  baseUrl: BASE,
  database: NAME,
  keyFile: join(tmpdir(), `trustlog-bench-prepared-${LEAVES}`, "log.key"),
  origin: "bench.trustlog.example/prepared",
  leaves: LEAVES,
});
const url = databaseUrl(BASE, NAME);
const pg = postgres(url, { max: 1, onnotice: () => {} });
const accounts = (await pg`select org, id from accounts order by random() limit 2000`) as unknown as {
  org: string;
  id: string;
}[];
await pg.end();

const off = new URL(url);
off.searchParams.set("prepare", "false");
const pools: Record<"prepared" | "unprepared", Database> = {
  prepared: await openDatabase({ url, max: 1 }),
  unprepared: await openDatabase({ url: off.toString(), max: 1 }),
};

const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!;
const reads: Record<string, (db: Database, store: LogStore, size: number) => Promise<unknown>> = {
  // A level-0 tile no cache holds (a fresh LogStore each time; its prepared statements belong
  // to the pool, not to the store): what a proof on a large tree waits for.
  "tile (cold)": (db, _store, size) =>
    new LogStore(db, { tileCacheSize: 16 }).readTile(0, Math.floor((Math.random() * size) / 256)),
  "entry by index": (_db, store, size) => store.getEntry(Math.floor(Math.random() * size)),
  // Two queries side by side (the account row and its keys), as the lookup routes and the
  // sequencer's preload make them.
  "account state": (_db, store) => {
    const a = pick(accounts);
    return store.getAccount(a.org, a.id);
  },
  // The sequencer's preload for a batch of 100 events on 100 accounts.
  "100 accounts' state": (db) =>
    loadAccounts(
      db.db,
      Array.from({ length: 100 }, () => pick(accounts)),
    ),
};

const times: Record<string, Record<string, number[]>> = {};
const stores = {
  prepared: new LogStore(pools.prepared, { tileCacheSize: 16 }),
  unprepared: new LogStore(pools.unprepared, { tileCacheSize: 16 }),
};
const size = await stores.prepared.treeSize();
console.log(`tree of ${size} leaves; ${ROUNDS} rounds of ${CALLS} calls per read and mode, alternating`);
for (let round = 0; round < ROUNDS; round++) {
  const order =
    round % 2 === 0 ? (["prepared", "unprepared"] as const) : (["unprepared", "prepared"] as const);
  for (const mode of order) {
    for (const [name, read] of Object.entries(reads)) {
      const byMode = times[name] ?? {};
      times[name] = byMode;
      const list = byMode[mode] ?? [];
      byMode[mode] = list;
      for (let i = 0; i < CALLS; i++) {
        const t = performance.now();
        await read(pools[mode], stores[mode], size);
        // The first round warms both pools (statements, plans, caches) and is not counted.
        if (round > 0) list.push(performance.now() - t);
      }
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, byMode] of Object.entries(times)) {
  const p = median(byMode.prepared!);
  const u = median(byMode.unprepared!);
  console.log(
    `${name.padEnd(22)} prepared ${p.toFixed(3)} ms, unprepared ${u.toFixed(3)} ms (median per call): ratio ${(u / p).toFixed(2)}`,
  );
}
await pools.prepared.close();
await pools.unprepared.close();
