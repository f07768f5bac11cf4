// Seeds a log database with a large tree for the read and scale benchmarks: one org and N
// account invites signed by its admin, written through the storage layer itself
// (server/sequencer.ts in the calling process, batches of 5,000 pre-signed events), which is
// much faster than HTTP and writes exactly what the server would. Each invite opens a chain, so
// a tree of N leaves holds about N chains in the index of chain heads.
//
// The database and the log's signing key are kept: a later call with the same names resumes
// (under a new org) up to the size asked for, or returns at once when the tree is that large.

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";
import postgres from "postgres";
import { toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { parseEnvelope } from "../core/event.js";
import { orgCreate, sealEvent } from "../core/event-build.js";
import { openDatabase, runMigrations } from "../node/db.js";
import type { SubmitItem } from "../server/batch.js";
import { readSignerKey, writeNewSignerKey } from "../server/keys.js";
import { SERVER_MIGRATIONS } from "../server/main.js";
import { Sequencer } from "../server/sequencer.js";
import { LogStore } from "../server/storage/log-store.js";

export interface SeedTreeOptions {
  /** A PostgreSQL URL whose database the seeded one is created beside. */
  baseUrl: string;
  database: string;
  /** The log's signing key file (created when missing). */
  keyFile: string;
  origin: string;
  leaves: number;
  /** Events a batch (default 5,000). */
  chunk?: number;
  /** Progress lines every this many leaves (default 50,000). */
  every?: number;
}

/** The URL of `name` on the server of `baseUrl`. */
export function databaseUrl(baseUrl: string, name: string): string {
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** The arguments of `trustlog serve` on a seeded database (the caller adds its own after them). */
export function serveSeededArgs(
  o: Pick<SeedTreeOptions, "baseUrl" | "database" | "keyFile" | "origin">,
): string[] {
  return [
    "serve",
    "--database-url",
    databaseUrl(o.baseUrl, o.database),
    "--key-file",
    o.keyFile,
    "--origin",
    o.origin,
    "--log-level",
    "warn",
  ];
}

/** Seeds up to `leaves` leaves; returns the size reached and the rate of the leaves added now. */
export async function seedTree(o: SeedTreeOptions): Promise<{ size: number; seconds: number; rate: number }> {
  const chunk = o.chunk ?? 5000;
  const every = o.every ?? 50_000;
  const admin = postgres(o.baseUrl, { max: 1, onnotice: () => {} });
  const exists = await admin`select 1 from pg_database where datname = ${o.database}`;
  if (exists.length === 0) await admin.unsafe(`CREATE DATABASE "${o.database}"`);
  await admin.end();
  mkdirSync(dirname(o.keyFile), { recursive: true });
  if (!existsSync(o.keyFile)) writeNewSignerKey(o.keyFile, o.origin);

  const database = await openDatabase({ url: databaseUrl(o.baseUrl, o.database) });
  try {
    await runMigrations(database, SERVER_MIGRATIONS);
    const store = new LogStore(database);
    const have = await store.treeSize();
    if (have >= o.leaves) {
      console.log(`seed: the tree already has ${have} leaves`);
      return { size: have, seconds: 0, rate: Number.NaN };
    }
    // The state cache keeps its production bound (200,000 records): a seed past it exercises
    // the eviction path the server takes on a large log.
    const sequencer = new Sequencer({
      database,
      store,
      signer: readSignerKey(o.keyFile),
      origin: o.origin,
      batchSize: chunk,
      batchDelayMs: 0,
      queueLimit: 4 * chunk,
      skewSeconds: 86_400 * 365,
      proofs: false,
    });
    await sequencer.start();
    const check = (rs: readonly object[]) => {
      const bad = rs.find((r) => "error" in r);
      if (bad) throw (bad as { error: Error }).error;
    };
    try {
      const now = Math.floor(Date.now() / 1000);
      const org = `seed-${randomBytes(3).toString("hex")}`;
      const adminSeed = new Uint8Array(randomBytes(32));
      const adminPub = toBase64(ed25519().publicKey(adminSeed));
      const actor = { role: "admin" as const, key: adminPub };
      const item = (env: ReturnType<typeof sealEvent>) => {
        const p = parseEnvelope(env);
        return { envelope: p.envelope, leaf: p.leaf, leafHash: p.leafHash };
      };
      check(
        await sequencer.submit([
          item(
            sealEvent(orgCreate({ org, time: now, actor, name: org, admins: [adminPub], threshold: 1 }), [
              adminSeed,
            ]),
          ),
        ]),
      );
      // The invites are signed on a worker thread, two batches ahead of the sequencer.
      const signer = new Worker(
        `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((t) => { t.register(); return import(${JSON.stringify(new URL("./seed-signer.ts", import.meta.url).href)}); });`,
        { eval: true, workerData: { org, seed: toBase64(adminSeed), adminPub, now } },
      );
      const asked = new Map<number, { resolve: (items: SubmitItem[]) => void; reject: (e: Error) => void }>();
      signer.on("message", (m: { id: number; items: SubmitItem[] }) => {
        asked.get(m.id)?.resolve(m.items);
        asked.delete(m.id);
      });
      signer.on("error", (e) => {
        for (const p of asked.values()) p.reject(e);
        asked.clear();
      });
      let askedFor = 0;
      const ask = (from: number, n: number) =>
        new Promise<SubmitItem[]>((resolve, reject) => {
          const id = askedFor++;
          asked.set(id, { resolve, reject });
          signer.postMessage({ id, from, n });
        });
      const started = performance.now();
      let done = sequencer.treeSize!;
      let next = 0;
      let reported = done;
      let inFlight: Promise<void> | undefined;
      const ahead: Promise<SubmitItem[]>[] = [];
      // Each batch adds its events and one index leaf.
      const sizes: number[] = [];
      for (let at = done; at < o.leaves; ) {
        const n = Math.max(1, Math.min(chunk, o.leaves - at - 1));
        sizes.push(n);
        at += n + 1;
      }
      let requested = 0;
      const request = () => {
        const n = sizes[requested++];
        if (n === undefined) return;
        ahead.push(ask(next, n));
        next += n;
      };
      let consumed = 0;
      request();
      request();
      try {
        while (consumed < sizes.length) {
          const items = await ahead.shift()!;
          const n = sizes[consumed]!;
          consumed++;
          request();
          await inFlight;
          inFlight = sequencer.submit(items).then(check);
          done += n + 1;
          if (done - reported >= every || done >= o.leaves) {
            reported = done;
            const s = (performance.now() - started) / 1000;
            const heap = (process.memoryUsage().heapUsed / 2 ** 20).toFixed(0);
            console.log(
              `seed: ${done} leaves, ${((done - have) / s).toFixed(0)} leaves/s, ${s.toFixed(0)} s, heap ${heap} MiB`,
            );
          }
        }
        await inFlight;
      } finally {
        await signer.terminate();
      }
      const seconds = (performance.now() - started) / 1000;
      const size = sequencer.treeSize!;
      return { size, seconds, rate: (size - have) / seconds };
    } finally {
      await sequencer.stop();
    }
  } finally {
    await database.close();
  }
}
