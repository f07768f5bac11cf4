// Database faults with a real process (issue 9, "Database faults"): one `trustlog serve` on its
// own PostgreSQL database, twelve writers submitting valid events (each its own org and
// accounts, so they never conflict with each other), and while they are busy the database goes
// away, again and again, from a separate admin connection on another database of the same
// cluster (the cluster itself is never restarted: other tests share it):
//   - a flap: every backend of the database terminated (pg_terminate_backend, SQLSTATE 57P01),
//     and again as soon as the server has reconnected; the database is back at once;
//   - an outage: connections refused (ALTER DATABASE … ALLOW_CONNECTIONS false) and every
//     backend terminated, held until the server has been seen saying so, then allowed again.
// Throughout, the process never exits or hangs and never answers 500: every answer other than
// 200 is 503 or 429 with Retry-After, or a 409 the writer resolves by resubmitting; while the
// database is away /readyz says not ready and a write is answered 503 with Retry-After; after
// each round readiness comes back and the writers make progress by themselves. At the end,
// everything acknowledged is in the log at the index it was given, under a proof that checks
// against the checkpoint that came with it and a checkpoint consistent with the final one; the
// log holds exactly the acknowledged events and replays with no violation; the server's index
// of chain heads proves each writer's heads; it stops cleanly; and fsck finds the log sound.

import { join } from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { type ChainHead, checkLookup, type LookupJson, parseLogEntry } from "../../core/chain-index.js";
import { type Checkpoint, parseCheckpoint } from "../../core/checkpoint.js";
import { decodeEntryBundle } from "../../core/entry-bundle.js";
import type { Envelope } from "../../core/event.js";
import { LogReplayer, type Violation } from "../../core/log-replay.js";
import { leafHash, memoryHashReader, rootHashSync } from "../../core/merkle.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { checkConsistency, checkInclusion } from "../../core/proof.js";
import { entriesPath, TILE_WIDTH } from "../../core/tile-paths.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { History, type TestKey, testKey } from "../helpers/events.js";
import { runTrustlog, startTrustlog, type TrustlogProcess } from "../helpers/process.js";
import { tempDir } from "../witness/helpers.js";

const ORIGIN = "e2e.trustlog.example/db-faults";
const WRITERS = 12;
const ROUNDS = 12;
/** Bound on readiness coming back after a round, and on each writer's progress afterwards. */
const RECOVERY_MS = 30_000;
/** Pushback codes a write may get while the database is away or leadership is re-taken. */
const PUSHBACK = new Set([
  "DATABASE_UNAVAILABLE",
  "NOT_LEADER",
  "SEQUENCER_FAILED",
  "QUEUE_FULL",
  "RATE_LIMITED",
]);

const dir = tempDir("trustlog-e2e-db-faults-");
const keyFile = join(dir, "log.key");
let vkey = "";
let db: TestDatabase;
let dbName = "";
let admin: postgres.Sql;
let log: TrustlogProcess | undefined;

interface Ack {
  index: number;
  leafHash: string;
  inclusion: string[];
  checkpoint: string;
}

/** Everything the writers saw, for the invariants and the figures. */
const seen = {
  acks: [] as Ack[],
  /** "status code" → count, for every answer other than 200. */
  answers: new Map<string, number>(),
  conflicts: 0,
  /** Invariant violations, as they happen (the test fails on the first look at them). */
  failures: [] as string[],
};

const count = (key: string) => seen.answers.set(key, (seen.answers.get(key) ?? 0) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Submits one envelope until it is acknowledged: pushback is retried after its Retry-After, a
 * 409 by resubmitting the same envelope (what the log holds at that position is either this
 * very event, answered as a duplicate, or a stale view of the server's that must not last).
 */
async function deliver(envelope: Envelope): Promise<Ack | undefined> {
  let conflicts = 0;
  for (;;) {
    let res: Response;
    try {
      res = await fetch(`${log!.url}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(envelope),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (e) {
      seen.failures.push(`POST /v1/events did not answer: ${String(e)}`);
      return undefined;
    }
    const text = await res.text();
    if (res.status === 200) {
      const body = JSON.parse(text) as { results: Ack[]; checkpoint: string };
      const r = body.results[0]!;
      return { index: r.index, leafHash: r.leafHash, inclusion: r.inclusion, checkpoint: body.checkpoint };
    }
    let code = "?";
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? "?";
    } catch {
      // not JSON: reported below with its text
    }
    count(`${res.status} ${code}`);
    if (res.status === 503 || res.status === 429) {
      const retryAfter = Number(res.headers.get("retry-after"));
      if (!res.headers.has("retry-after") || !Number.isFinite(retryAfter) || retryAfter < 0) {
        seen.failures.push(`${res.status} ${code} without a valid Retry-After`);
        return undefined;
      }
      if (!PUSHBACK.has(code)) seen.failures.push(`${res.status} with an unexpected code: ${text}`);
      await sleep(Math.min(retryAfter, 2) * 1000);
      continue;
    }
    if (res.status === 409 && ++conflicts <= 5) {
      seen.conflicts++;
      await sleep(100 * conflicts);
      continue;
    }
    seen.failures.push(`POST /v1/events answered ${res.status}: ${text}`);
    return undefined;
  }
}

/**
 * One writer: its own org, then accounts invited and given their first key, one event at a
 * time, each built on what the log acknowledged before it. Records the head of every chain it
 * wrote (log index and leaf hash from the acknowledgement).
 */
class Writer {
  readonly org: string;
  readonly root: TestKey;
  readonly h = new History({ start: Math.floor(Date.now() / 1000) });
  readonly heads = new Map<string, ChainHead>();
  readonly accounts: string[] = [];
  acked = 0;
  private next = 0;

  constructor(readonly n: number) {
    this.org = `dbf${n}`;
    this.root = testKey(`db-faults-root-${n}`);
  }

  /** The next event: org.create, then for each account its invite and its first key. */
  private build(): { envelope: Envelope; chain: string } {
    this.h.now = Math.floor(Date.now() / 1000);
    if (!this.h.head(this.org)) {
      return { envelope: this.h.orgCreate(this.org, { admins: [this.root] }), chain: this.org };
    }
    const account = `a${this.next}`;
    if (!this.h.head(this.org, account)) {
      return { envelope: this.h.invite(this.org, account, { admin: this.root }), chain: account };
    }
    this.next++;
    return {
      envelope: this.h.keyAdd(this.org, account, testKey(`db-faults-${this.n}-${account}`)),
      chain: account,
    };
  }

  async run(stop: () => boolean): Promise<void> {
    while (!stop() && seen.failures.length === 0) {
      const { envelope, chain } = this.build();
      // Delivered even when told to stop: an envelope left unanswered may have been committed.
      const ack = await deliver(envelope);
      if (!ack) return;
      this.h.append(envelope);
      if (chain !== this.org && !this.accounts.includes(chain)) this.accounts.push(chain);
      this.heads.set(chain, {
        seq: envelope.event.seq,
        index: ack.index,
        leafHash: fromBase64(ack.leafHash),
      });
      seen.acks.push(ack);
      this.acked++;
    }
  }
}

function serve(): Promise<TrustlogProcess> {
  return startTrustlog(
    [
      "serve",
      "--origin",
      ORIGIN,
      "--key-file",
      keyFile,
      "--database-url",
      db.url,
      "--data-dir",
      join(dir, "d"),
    ],
    { timeoutMs: 60_000, env: { TRUSTLOG_LOG_LEVEL: "warn", TRUSTLOG_BATCH_DELAY_MS: "20" } },
  );
}

/** Whether the server process is still running. */
const alive = (p: TrustlogProcess) => p.child.exitCode === null && p.child.signalCode === null;

async function readyz(): Promise<{ status: number; retryAfter: string | null; body: { database?: string } }> {
  const res = await fetch(`${log!.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
}

/** Polls until `ok` holds, at most `ms`; returns the time it took. */
async function until(what: string, ms: number, ok: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await ok()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

async function backends(): Promise<number> {
  const rows = await admin.unsafe<{ n: number }[]>(
    "select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
    [dbName],
  );
  return rows[0]!.n;
}

async function terminateAll(): Promise<void> {
  await admin.unsafe(
    "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
    [dbName],
  );
}

const open = (note: string): Checkpoint => parseCheckpoint(openNote(note, [parseVerifierKey(vkey)]).body);

beforeAll(async () => {
  db = await createTestDatabase("e2e_db_faults");
  const url = new URL(db.url);
  dbName = url.pathname.slice(1);
  // The admin connection lives on another database of the cluster, out of reach of the faults.
  url.pathname = "/postgres";
  admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  const k = await runTrustlog(["keygen", "--name", ORIGIN, "--out", keyFile]);
  expect(k.code).toBe(0);
  vkey = k.stdout.trim();
}, 60_000);

afterAll(async () => {
  await log?.stop("SIGKILL").catch(() => {});
  await admin?.unsafe(`alter database "${dbName}" allow_connections true`).catch(() => {});
  await admin?.end({ timeout: 5 });
  await db?.drop();
});

describe("the database going away under load", () => {
  it("never kills or wedges the server, is answered as pushback, and loses nothing acknowledged", async () => {
    log = await serve();
    const server = log;
    let stopping = false;
    const writers = Array.from({ length: WRITERS }, (_, n) => new Writer(n));
    const running = writers.map((w) => w.run(() => stopping));
    const check = () => {
      expect(seen.failures).toEqual([]);
      expect(alive(server), `the server exited:\n${server.stderr()}`).toBe(true);
    };
    /** Every writer gets `by` more events acknowledged. */
    const progress = (by: number, what: string) => {
      const from = writers.map((w) => w.acked);
      return until(what, RECOVERY_MS, () => {
        check();
        return writers.every((w, i) => w.acked >= from[i]! + by);
      }).catch(async (e: Error) => {
        // What the server was doing, for the report: its sessions and the end of its log.
        const sessions = await admin.unsafe(
          "select state, wait_event, left(query, 80) as query from pg_stat_activity where datname = $1",
          [dbName],
        );
        const stalled = writers.filter((w, i) => w.acked < from[i]! + by).map((w) => w.n);
        throw new Error(
          `${what}: ${e.message}; writers stalled: ${stalled}; answers ${JSON.stringify([...seen.answers])}; ` +
            `sessions ${JSON.stringify(sessions)}\n${server.stderr().slice(-6000)}`,
        );
      });
    };

    await progress(2, "the writers get going");
    const recoveries: number[] = [];
    let probes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Writers busy: some acknowledgements since the last round.
      await progress(1, `round ${round}: writers busy`);
      const outage = round % 2 === 1;
      if (outage) {
        await admin.unsafe(`alter database "${dbName}" allow_connections false`);
        await terminateAll();
        await until(`round ${round}: every backend gone`, RECOVERY_MS, async () => {
          if ((await backends()) === 0) return true;
          await terminateAll();
          return false;
        });
        // While it is away: not ready (three probes in a row), and a write is pushed back.
        let notReady = 0;
        await until(`round ${round}: /readyz says not ready`, RECOVERY_MS, async () => {
          const r = await readyz();
          expect(r.status, JSON.stringify(r.body)).toBe(503);
          expect(r.body.database).toBe("unreachable");
          expect(r.retryAfter).not.toBeNull();
          return ++notReady >= 3;
        });
        const probe = new History({ start: Math.floor(Date.now() / 1000) });
        const res = await fetch(`${server.url}/v1/events`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(
            probe.orgCreate(`dbf-probe-${round}`, { admins: [testKey("db-faults-probe")] }),
          ),
          signal: AbortSignal.timeout(60_000),
        });
        const body = (await res.json()) as { error?: { code?: string } };
        expect(res.status, JSON.stringify(body)).toBe(503);
        expect(res.headers.get("retry-after")).not.toBeNull();
        expect(["DATABASE_UNAVAILABLE", "NOT_LEADER"]).toContain(body.error?.code);
        probes++;
        await admin.unsafe(`alter database "${dbName}" allow_connections true`);
      } else {
        // A flap, and a second one as soon as the server has reconnected.
        await terminateAll();
        await until(`round ${round}: the server reconnects`, RECOVERY_MS, async () => (await backends()) > 0);
        await terminateAll();
      }
      const t0 = Date.now();
      await until(
        `round ${round}: /readyz ready again`,
        RECOVERY_MS,
        async () => (await readyz()).status === 200,
      );
      recoveries.push(Date.now() - t0);
      // And writes resume by themselves: every writer's next event gets acknowledged.
      await progress(1, `round ${round}: writers resume`);
      check();
    }
    stopping = true;
    await Promise.all(running);
    check();

    // Everything acknowledged is in the log, at the index it was given.
    const finalNote = await (await fetch(`${server.url}/checkpoint`)).text();
    const final = open(finalNote);
    const entries: Uint8Array[] = [];
    for (let n = 0; n * TILE_WIDTH < final.size; n++) {
      const width = Math.min(TILE_WIDTH, final.size - n * TILE_WIDTH);
      const res = await fetch(`${server.url}/${entriesPath(n, width)}`);
      expect(res.status, entriesPath(n, width)).toBe(200);
      entries.push(...decodeEntryBundle(new Uint8Array(await res.arrayBuffer())));
    }
    expect(entries).toHaveLength(final.size);
    const tree = memoryHashReader(entries.map((leaf) => leafHash(leaf)));
    expect(toBase64(rootHashSync(final.size, tree))).toBe(toBase64(final.root));
    const byLeaf = new Map<string, number>();
    const checkpoints = new Map<number, Checkpoint>();
    for (const a of seen.acks) {
      expect(byLeaf.get(a.leafHash) ?? a.index).toBe(a.index);
      byLeaf.set(a.leafHash, a.index);
      expect(toBase64(leafHash(entries[a.index]!)), `entry ${a.index}`).toBe(a.leafHash);
      // Its proof checks against the checkpoint it came with, and that checkpoint is the tree of
      // the final log's first leaves (so consistent with the final one).
      const cp = open(a.checkpoint);
      checkInclusion(fromBase64(a.leafHash), a.index, cp.size, a.inclusion.map(fromBase64), cp.root);
      if (!checkpoints.has(cp.size)) {
        expect(toBase64(rootHashSync(cp.size, tree)), `checkpoint ${cp.size}`).toBe(toBase64(cp.root));
        checkpoints.set(cp.size, cp);
      }
    }
    // The server proves it too (a sample: each proof is one request).
    const sizes = [...checkpoints.keys()].filter((n) => n < final.size).sort((a, b) => a - b);
    for (const size of sizes.filter((_, i) => i % Math.ceil(sizes.length / 20) === 0)) {
      const proof = (await (
        await fetch(`${server.url}/v1/proof/consistency?from=${size}&to=${final.size}`)
      ).json()) as { hashes: string[] };
      const cp = checkpoints.get(size)!;
      checkConsistency(size, final.size, cp.root, final.root, proof.hashes.map(fromBase64));
    }

    // The log holds exactly the acknowledged events (every writer resubmitted until answered, so
    // nothing committed went unacknowledged; no probe landed) and replays clean.
    const replayer = new LogReplayer();
    const violations: Violation[] = [];
    entries.forEach((leaf, index) => {
      violations.push(...replayer.apply(index, leaf, leafHash(leaf)));
      const entry = parseLogEntry(leaf);
      if (entry.kind === "event") expect(byLeaf.get(toBase64(entry.leafHash)), `entry ${index}`).toBe(index);
    });
    violations.push(...replayer.finish(final.size));
    expect(violations).toEqual([]);
    expect(replayer.events).toBe(byLeaf.size);
    expect(replayer.orgs).toBe(WRITERS);

    // The server's index of chain heads (rebuilt or cached through every fault) proves each
    // writer's heads against the final checkpoint.
    for (const w of writers) {
      const org = { kind: "org" as const, org: w.org, claimed: w.heads.get(w.org) };
      for (const account of w.accounts.slice(-2)) {
        const res = await fetch(
          `${server.url}/v1/orgs/${w.org}/accounts/${encodeURIComponent(account)}/lookup`,
        );
        expect(res.status).toBe(200);
        const answer = (await res.json()) as { checkpoint: string; lookup: LookupJson };
        checkLookup(open(answer.checkpoint), answer.lookup, [
          org,
          { kind: "account", org: w.org, account, claimed: w.heads.get(account) },
        ]);
      }
    }

    // Faults the process-level guard had to catch (server/cli.ts): database errors nobody awaited
    // are survivable (postgres-js's own fetch of array types after connecting is one), but a
    // TypeError from the driver's write timer means a connection was used after it was forgotten,
    // which node/db.ts's GuardedSocket must prevent.
    const escaped = server
      .stderr()
      .split("\n")
      .filter((l) => l.includes("escaped its caller"))
      .map((l) => JSON.parse(l) as { err: { type: string; stack?: string } });
    expect(escaped.filter((l) => l.err.type === "TypeError").map((l) => l.err.stack)).toEqual([]);
    const answers = [...seen.answers].map(([k, v]) => `${k}: ${v}`).join(", ");
    console.log(
      `${ROUNDS} rounds (${probes} outages), ${seen.acks.length} events acknowledged, ` +
        `final size ${final.size}; readiness back after median ${median(recoveries)} ms, max ` +
        `${Math.max(...recoveries)} ms; other answers: ${answers || "none"}; 409s resolved: ` +
        `${seen.conflicts}; database errors that escaped their caller: ${escaped.length}`,
    );

    // It still stops cleanly, and the stored log is sound.
    expect(await server.stop("SIGTERM")).toBe(0);
    const f = await runTrustlog(["fsck", "--database-url", db.url, "--vkey", vkey]);
    expect(f.code, f.stdout + f.stderr).toBe(0);
  }, 300_000);
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
