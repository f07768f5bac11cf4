// Re-checks a whole stored log, after every step of a test (Sunlight's CheckLog, adapted):
//   - fsck: every leaf hash recomputed from its envelope, the tree rebuilt from the entries and
//     compared with every stored tile, the log head and the latest signed checkpoint;
//   - every checkpoint ever published verifies and is consistent with the next one, and the log
//     head is exactly the latest checkpoint (nothing committed without being published);
//   - the derived state (orgs, accounts, keys, grants) equals a replay of the entries through
//     core's policy, record for record;
//   - optionally, the log is consistent with what an earlier call saw (no fork, no rollback)
//     and holds exactly the entries a test History expects.
// Throws an Error describing the first problem.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { equalBytes, toHex } from "../../core/bytes.js";
import { isIndexLeaf } from "../../core/chain-index.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { ed25519 } from "../../core/ed25519.js";
import { type Envelope, parseEnvelope } from "../../core/event.js";
import { LogReplayer } from "../../core/log-replay.js";
import { leafHash } from "../../core/merkle.js";
import { type NoteVerifier, openNote } from "../../core/note.js";
import { ed25519NoteSigner, ed25519NoteVerifier } from "../../core/note-keys.js";
import { checkConsistency, proveConsistency } from "../../core/proof.js";
import { accountToJSON } from "../../core/state.js";
import { type Database, openDatabase } from "../../node/db.js";
import { Sequencer, type SequencerOptions, type SubmitItem } from "../../server/sequencer.js";
import { fsck } from "../../server/storage/fsck.js";
import { LogStore, migrateLogDatabase } from "../../server/storage/log-store.js";
import { checkpoints } from "../../server/storage/schema.js";
import { createTestDatabase } from "./db.js";
import type { History } from "./events.js";

export interface LogView {
  size: number;
  root: Uint8Array;
}

export interface CheckLogOptions {
  verifier: NoteVerifier;
  /** What an earlier checkLog returned: the log must extend it. */
  previous?: LogView;
  /** The entries the log must hold, in order (compared by leaf). */
  expect?: History;
  /** Skip the state replay (for very large logs). */
  skipState?: boolean;
}

export async function checkLog(database: Database, opts: CheckLogOptions): Promise<LogView> {
  const report = await fsck(database, { verifier: opts.verifier });
  if (!report.ok) {
    const m = report.mismatches[0]!;
    throw new Error(`fsck: ${m.kind}${m.index !== undefined ? ` at ${m.index}` : ""}: ${m.message}`);
  }
  const store = new LogStore(database);
  const view: LogView = { size: report.size, root: report.root };

  // Every published checkpoint verifies, and each is consistent with the next.
  const rows = await database.db.select().from(checkpoints).orderBy(checkpoints.size);
  if (rows.length === 0) throw new Error("no checkpoint published");
  const last = rows[rows.length - 1]!;
  if (last.size !== view.size) throw new Error(`latest checkpoint ${last.size} is not the head ${view.size}`);
  const reader = store.hashReader(view.size);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    const c = parseCheckpoint(openNote(row.note, [opts.verifier]).body);
    if (c.size !== row.size || !equalBytes(c.root, row.root)) {
      throw new Error(`checkpoint row ${row.size} disagrees with its signed note`);
    }
    const next = rows[i + 1];
    if (next) {
      const proof = await proveConsistency(row.size, next.size, reader);
      checkConsistency(row.size, next.size, row.root, next.root, proof);
    }
  }

  if (opts.previous) {
    const p = opts.previous;
    if (p.size > view.size) throw new Error(`log rolled back from ${p.size} to ${view.size}`);
    const proof = await proveConsistency(p.size, view.size, reader);
    checkConsistency(p.size, view.size, p.root, view.root, proof);
  }

  if (opts.expect) {
    // The History holds the events; the log adds its index leaf after each batch.
    const want = opts.expect.entries;
    const got = (await store.readEntries(0, view.size)).filter((leaf) => !isIndexLeaf(leaf));
    if (want.length !== got.length)
      throw new Error(`log holds ${got.length} events, the history ${want.length}`);
    for (let i = 0; i < want.length; i++) {
      if (!equalBytes(got[i]!, want[i]!.leaf)) throw new Error(`event ${i} differs from the history`);
    }
  }

  if (!opts.skipState) {
    // Replay as an auditor does (no clock: replay judges by the log alone, index leaves
    // recomputed) and compare records.
    const replayer = new LogReplayer();
    const entries = await store.readEntries(0, view.size);
    entries.forEach((leaf, index) => {
      const v = replayer.apply(index, leaf, leafHash(leaf));
      if (v.length > 0) throw new Error(`replay: ${v[0]!.code} at ${v[0]!.index}: ${v[0]!.message}`);
    });
    const fin = replayer.finish(view.size);
    if (fin.length > 0) throw new Error(`replay: ${fin[0]!.message}`);
    const json = replayer.state.toJSON();
    for (const org of json.orgs) {
      const stored = await store.getOrg(org.id);
      if (JSON.stringify(sortKeys(stored)) !== JSON.stringify(sortKeys(org))) {
        throw new Error(
          `stored org ${org.id} differs from the replay:\n${JSON.stringify(stored)}\n${JSON.stringify(org)}`,
        );
      }
    }
    for (const acct of json.accounts) {
      const record = await store.getAccount(acct.org, acct.id);
      const stored = record ? accountToJSON(record) : undefined;
      if (JSON.stringify(sortKeys(stored)) !== JSON.stringify(sortKeys(acct))) {
        throw new Error(
          `stored account ${acct.org}/${acct.id} differs from the replay:\n${JSON.stringify(stored)}\n${JSON.stringify(acct)}`,
        );
      }
    }
    const storedGrants = new Map<string, unknown>();
    for (const org of json.orgs)
      for (const g of await store.getOrgGrants(org.id)) storedGrants.set(`${g.org} ${g.id}`, g);
    for (const g of json.grants) {
      const stored = storedGrants.get(`${g.org} ${g.id}`);
      if (JSON.stringify(sortKeys(stored)) !== JSON.stringify(sortKeys(g))) {
        throw new Error(
          `stored grant ${g.org}/${g.id} differs from the replay:\n${JSON.stringify(stored)}\n${JSON.stringify(g)}`,
        );
      }
    }
    const counts = await database.query<{ orgs: string; accounts: string; grants: string }>(
      "select (select count(*) from orgs) as orgs, (select count(*) from accounts) as accounts, (select count(*) from grants) as grants",
    );
    if (
      Number(counts[0]!.orgs) !== json.orgs.length ||
      Number(counts[0]!.accounts) !== json.accounts.length ||
      Number(counts[0]!.grants) !== json.grants.length
    ) {
      throw new Error(`stored state has records the replay does not: ${JSON.stringify(counts[0])}`);
    }
  }
  return view;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object" && !(v instanceof Uint8Array)) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v instanceof Uint8Array ? toHex(v) : v;
}

// ---------------------------------------------------------------------------------------------
// Opening a fresh log database on either back end, for suites that run against both.

export type Backend = "postgres" | "pglite";
export const BACKENDS: Backend[] = ["postgres", "pglite"];

export const TEST_ORIGIN = "log.example.test/trustlog";
const LOG_SEED = new Uint8Array(32).fill(42);
export const testSigner = () => ed25519NoteSigner(TEST_ORIGIN, LOG_SEED);
export const testVerifier = () => ed25519NoteVerifier(TEST_ORIGIN, ed25519().publicKey(LOG_SEED));

export interface TestLogDatabase {
  backend: Backend;
  /** Opens a connection (pool) to the same database; PGlite allows only one open at a time. */
  open(opts?: { max?: number }): Promise<Database>;
  /** Drops the database (PostgreSQL) or deletes the directory (PGlite). */
  drop(): Promise<void>;
}

export async function createTestLogDatabase(backend: Backend): Promise<TestLogDatabase> {
  if (backend === "postgres") {
    const t = await createTestDatabase("srv");
    let first = true;
    return {
      backend,
      async open(opts = {}) {
        const database = await openDatabase({ url: t.url, max: opts.max ?? 4 });
        if (first) await migrateLogDatabase(database);
        first = false;
        return database;
      },
      drop: () => t.drop(),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "trustlog-pglite-"));
  return {
    backend,
    async open() {
      const database = await openDatabase({ dataDir: dir });
      await migrateLogDatabase(database);
      return database;
    },
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A started sequencer over `database` with the test key, its store, and a History's clock. */
export async function startSequencer(
  database: Database,
  opts: Partial<SequencerOptions> & { history?: History } = {},
): Promise<{ store: LogStore; sequencer: Sequencer }> {
  const store = opts.store ?? new LogStore(database);
  const history = opts.history;
  const sequencer = new Sequencer({
    database,
    store,
    signer: testSigner(),
    origin: TEST_ORIGIN,
    batchDelayMs: 5,
    leaderRetryMs: 200,
    ...(history ? { clock: () => history.now * 1000 } : {}),
    ...opts,
  });
  await sequencer.start();
  return { store, sequencer };
}

/** parseEnvelope for a list, as the HTTP layer hands items to the sequencer. */
export function items(...envelopes: Envelope[]): SubmitItem[] {
  return envelopes.map((e) => parseEnvelope(e));
}
