// Tree seeding through the storage layer: leaves/s committed by the Sequencer (server/sequencer.ts
// in this process, no HTTP, no signature checks: the events are pre-signed and parsed first,
// outside the timing), in batches of --batch account invites, against the ceiling measured in
// the same run: PostgreSQL taking the very rows those commits wrote (entries, tiles, derived
// state, checkpoints, the head's compare-and-swap), read back and inserted into a fresh database
// as multi-row INSERTs, one transaction per batch as the sequencer commits them. The ratio
// (seeding / ceiling) is what issue 13 sets a goal for: >= 0.5.
//
//   npx tsx bench/seed.ts [--leaves 50000] [--batch 5000] [--runs 3] [--database-url postgres://…]
//
// Each run uses two fresh databases, dropped at the end. A tile is inserted by the ceiling once,
// in the batch holding its last leaf; the sequencer also rewrites the partial tiles of each
// batch's right edge (a few rows a batch), which the ceiling leaves out.

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { parseEnvelope } from "../core/event.js";
import { accountInvite, orgCreate, sealEvent } from "../core/event-build.js";
import { openDatabase, runMigrations } from "../node/db.js";
import { readSignerKey, writeNewSignerKey } from "../server/keys.js";
import { SERVER_MIGRATIONS } from "../server/main.js";
import { Sequencer, type SubmitItem } from "../server/sequencer.js";
import { LogStore } from "../server/storage/log-store.js";

const { values: args } = parseArgs({
  options: {
    leaves: { type: "string", default: "50000" },
    batch: { type: "string", default: "5000" },
    runs: { type: "string", default: "3" },
    "database-url": {
      type: "string",
      default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    },
  },
});
const LEAVES = Number(args.leaves);
const BATCH = Number(args.batch);
const RUNS = Number(args.runs);
const ORIGIN = "bench.trustlog.example/seed";
const base = new URL(args["database-url"]!);
const admin = postgres(base.toString(), { max: 1, onnotice: () => {} });

function urlOf(name: string): string {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

async function freshDatabase(name: string): Promise<string> {
  await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  const database = await openDatabase({ url: urlOf(name) });
  await runMigrations(database, SERVER_MIGRATIONS);
  await database.close();
  return urlOf(name);
}

/** The org's creation and LEAVES invites under it, signed and parsed (not timed). */
function buildEvents(): { create: SubmitItem; invites: SubmitItem[][] } {
  const now = Math.floor(Date.now() / 1000);
  const org = `seed-${randomBytes(3).toString("hex")}`;
  const adminSeed = new Uint8Array(randomBytes(32));
  const adminPub = toBase64(ed25519().publicKey(adminSeed));
  const actor = { role: "admin" as const, key: adminPub };
  const item = (env: ReturnType<typeof sealEvent>): SubmitItem => parseEnvelope(env);
  const create = item(
    sealEvent(orgCreate({ org, time: now, actor, name: org, admins: [adminPub], threshold: 1 }), [adminSeed]),
  );
  const invites: SubmitItem[][] = [];
  // Each batch of BATCH events adds BATCH + 1 leaves (its index leaf).
  for (let done = 0; done < LEAVES; ) {
    const n = Math.min(BATCH, LEAVES - done);
    invites.push(
      Array.from({ length: n }, (_, i) =>
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
      ),
    );
    done += n;
  }
  return { create, invites };
}

/** Seeds through the Sequencer; leaves/s over the timed batches (the org's creation excluded). */
async function seedThroughSequencer(url: string, ev: ReturnType<typeof buildEvents>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "trustlog-bench-seed-"));
  const database = await openDatabase({ url });
  writeNewSignerKey(join(dir, "log.key"), ORIGIN);
  const sequencer = new Sequencer({
    database,
    store: new LogStore(database),
    signer: readSignerKey(join(dir, "log.key")),
    origin: ORIGIN,
    batchSize: BATCH,
    batchDelayMs: 0,
    // Everything is submitted at once (below), so the queue holds the whole workload.
    queueLimit: (ev.invites.length + 1) * BATCH,
    skewSeconds: 86_400,
    // As the log server runs it: writes are answered from the published checkpoint.
    proofs: false,
  });
  try {
    await sequencer.start();
    await sequencer.submit([ev.create]);
    const size0 = sequencer.treeSize!;
    const started = performance.now();
    // Submitted back to back, as a loader that keeps the queue full would.
    const all = await Promise.all(ev.invites.map((items) => sequencer.submit(items)));
    const seconds = (performance.now() - started) / 1000;
    const bad = all.flat().find((r) => "error" in r);
    if (bad) throw (bad as { error: Error }).error;
    return (sequencer.treeSize! - size0) / seconds;
  } finally {
    await sequencer.stop();
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// biome-ignore lint/suspicious/noExplicitAny: rows go back to PostgreSQL exactly as they were read
type Row = Record<string, any>;

/**
 * The ceiling: the rows the seeding committed, read back from `from` and inserted into the fresh
 * database `to` batch by batch (multi-row INSERT, one transaction per batch, with the head's
 * update), as fast as PostgreSQL takes them. leaves/s over the same batches as the seeding.
 */
async function multiRowInsert(from: string, to: string): Promise<number> {
  const src = postgres(from, { max: 1, onnotice: () => {} });
  const dst = postgres(to, { max: 1, onnotice: () => {} });
  try {
    const read = (q: string) => src.unsafe(q) as unknown as Promise<Row[]>;
    const [entries, tiles, checkpoints, orgs, admins, grants, accounts, keys, head] = await Promise.all([
      read("select * from entries order by idx"),
      read("select * from tiles"),
      read("select * from checkpoints order by size"),
      read("select * from orgs"),
      read("select * from org_admins"),
      read("select * from grants"),
      read("select * from accounts"),
      read("select * from account_keys"),
      read("select * from log_head"),
    ]);
    // Batch k ends at checkpoint k's size; the untimed setup is everything up to the first
    // timed batch (the empty log and the org's creation), as in the seeding.
    const ends = checkpoints.map((c) => Number(c.size));
    const setupEnd = ends[1]!;
    const batchOf = (leaf: number) => {
      let k = 0;
      while (ends[k]! <= leaf) k++;
      return k;
    };
    const groups = new Map<number, Record<string, Row[]>>();
    const put = (k: number, table: string, row: Row) => {
      const g = groups.get(k) ?? {};
      groups.set(k, g);
      const rows = g[table] ?? [];
      g[table] = rows;
      rows.push(row);
    };
    for (const r of entries) put(batchOf(Number(r.idx)), "entries", r);
    for (const r of checkpoints)
      put(Number(r.size) <= setupEnd ? 0 : batchOf(Number(r.size) - 1), "checkpoints", r);
    for (const r of tiles) {
      const level = Number(r.level);
      const width = (r.data as Uint8Array).length / 32;
      const last = Math.min((Number(r.idx) * 256 + width) * 256 ** level, ends.at(-1)!) - 1;
      put(batchOf(last), "tiles", r);
    }
    for (const r of accounts) put(batchOf(Number(r.head_index)), "accounts", r);
    for (const r of keys) put(batchOf(Number(r.added_index)), "account_keys", r);
    for (const r of orgs) put(0, "orgs", r);
    for (const r of admins) put(0, "org_admins", r);
    for (const r of grants) put(0, "grants", r);
    const insert = async (tx: postgres.TransactionSql, table: string, rows: Row[]) => {
      const columns = Object.keys(rows[0]!);
      // PostgreSQL's limit is 65,535 parameters a statement.
      const per = Math.floor(65_535 / columns.length);
      for (let i = 0; i < rows.length; i += per) {
        await tx`insert into ${tx(table)} ${tx(rows.slice(i, i + per), ...columns)}`;
      }
    };
    const order = [
      "orgs",
      "org_admins",
      "grants",
      "entries",
      "tiles",
      "accounts",
      "account_keys",
      "checkpoints",
    ];
    const apply = (g: Record<string, Row[]>, size: number) =>
      dst.begin(async (tx) => {
        await tx`insert into log_head (id, size, root) values (1, ${size}, ${head[0]!.root as Uint8Array})
                 on conflict (id) do update set size = excluded.size, root = excluded.root`;
        for (const t of order) if (g[t]?.length) await insert(tx, t, g[t]!);
      });
    // Setup: batches 0 and 1 (the size-0 checkpoint and the org's creation).
    await apply({ ...groups.get(0) }, 0);
    if (groups.get(1)) await apply(groups.get(1)!, setupEnd);
    const started = performance.now();
    for (let k = 2; k < ends.length; k++) await apply(groups.get(k) ?? {}, ends[k]!);
    const seconds = (performance.now() - started) / 1000;
    const [{ n }] = (await dst`select count(*)::int as n from entries`) as unknown as [{ n: number }];
    if (n !== entries.length) throw new Error(`ceiling inserted ${n} entries of ${entries.length}`);
    return (ends.at(-1)! - setupEnd) / seconds;
  } finally {
    await src.end();
    await dst.end();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const tag = Date.now().toString(36);
const seeded: number[] = [];
const ceilings: number[] = [];
try {
  console.log(`trustlog seeding benchmark: ${LEAVES} invites in batches of ${BATCH}, ${RUNS} runs`);
  for (let run = 0; run < RUNS; run++) {
    const ev = buildEvents();
    const a = await freshDatabase(`bench_seed_${tag}_a`);
    const b = await freshDatabase(`bench_seed_${tag}_b`);
    const load = loadavg()[0]!.toFixed(2);
    const s = await seedThroughSequencer(a, ev);
    const c = await multiRowInsert(a, b);
    seeded.push(s);
    ceilings.push(c);
    console.log(
      `  run ${run + 1}: sequencer ${s.toFixed(0)} leaves/s, multi-row insert ${c.toFixed(0)} leaves/s, ratio ${(s / c).toFixed(2)} (load ${load})`,
    );
  }
  const s = median(seeded);
  const c = median(ceilings);
  console.log(
    `median: sequencer ${s.toFixed(0)} leaves/s, ceiling (multi-row insert of the same rows) ${c.toFixed(0)} leaves/s, ratio ${(s / c).toFixed(2)} (goal >= 0.5)`,
  );
} finally {
  for (const x of ["a", "b"])
    await admin.unsafe(`DROP DATABASE IF EXISTS "bench_seed_${tag}_${x}" WITH (FORCE)`);
  await admin.end();
}
