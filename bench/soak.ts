// Soak: the leader killed with SIGKILL, again and again, under load (issue 9, "Database
// faults"). Two `trustlog serve` processes on one fresh PostgreSQL database (a leader and a
// follower, as in test/e2e/crash.e2e.test.ts) and `--writers` writers, each with its own org and
// accounts, submitting valid events one at a time to whichever server answers (a follower
// answers 503 NOT_LEADER, a killed one not at all: the writer tries the other). In a loop, for
// `--minutes`: the leader is killed at a random moment, the follower must take over, and the
// killed one is started again as the new follower. Then the invariants, as an auditor checks
// them: every acknowledged event is at the index it was given; every acknowledged inclusion
// proof checks against the signed checkpoint it came with, and every such checkpoint is the tree
// of the final log's first leaves (so consistent with the final one); the log holds exactly the
// acknowledged events and replays with no violation; the index of chain heads proves every
// writer's last heads; `trustlog fsck` exits 0.
//
//   npx tsx bench/soak.ts [--minutes 10] [--writers 8] [--database-url postgres://…/postgres]
//
// Prints rounds, events acknowledged, takeover times (SIGKILL until the follower says it leads,
// and until the new leader acknowledges its first write; median and max), the answers other
// than 200 by status and code, and every invariant failure; exits 1 if there was any. Loopback
// only; the database is created for the run and dropped afterwards (kept when a check failed).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { fromBase64, toBase64 } from "../core/bytes.js";
import { type ChainHead, checkLookup, type LookupJson, parseLogEntry } from "../core/chain-index.js";
import { parseCheckpoint } from "../core/checkpoint.js";
import { decodeEntryBundle } from "../core/entry-bundle.js";
import type { Envelope } from "../core/event.js";
import { LogReplayer, type Violation } from "../core/log-replay.js";
import { leafHash, memoryHashReader, rootHashSync } from "../core/merkle.js";
import { openNote } from "../core/note.js";
import { parseVerifierKey } from "../core/note-keys.js";
import { checkConsistency, checkInclusion } from "../core/proof.js";
import { entriesPath, TILE_WIDTH } from "../core/tile-paths.js";
import { History, type TestKey, testKey } from "../test/helpers/events.js";
import { runTrustlog, startTrustlog, type TrustlogProcess } from "../test/helpers/process.js";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    writers: { type: "string", default: "8" },
    "database-url": {
      type: "string",
      default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    },
  },
});
const MINUTES = Number(args.minutes);
const WRITERS = Number(args.writers);
if (!(MINUTES > 0) || !Number.isInteger(WRITERS) || WRITERS < 1) {
  throw new Error("--minutes wants a positive number, --writers a positive integer");
}
const ORIGIN = "soak.trustlog.example/log";
/** Bound on every wait: a takeover, a restart, a writer's progress. */
const WAIT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const failures: string[] = [];
const fail = (m: string) => {
  failures.push(m);
  process.stderr.write(`INVARIANT: ${m}\n`);
};

// -- the two servers -------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), "trustlog-soak-"));
const keyFile = join(dir, "log.key");
const admin = postgres(args["database-url"], { max: 1, onnotice: () => {} });
const dbName = `soak_${Date.now().toString(36)}`;
const dbUrl = (() => {
  const u = new URL(args["database-url"]);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

/** The servers running now (at most two); a killed one leaves, its restart joins. */
const servers: TrustlogProcess[] = [];
/** Servers we stop on purpose: any other exit breaks the first invariant. */
const stopped = new WeakSet<TrustlogProcess>();
let incarnation = 0;

async function stop(p: TrustlogProcess, signal: NodeJS.Signals): Promise<number | null> {
  stopped.add(p);
  servers.splice(servers.indexOf(p), 1);
  return p.stop(signal, 30_000);
}

async function serve(): Promise<TrustlogProcess> {
  const n = incarnation++;
  const p = await startTrustlog(
    [
      "serve",
      "--origin",
      ORIGIN,
      "--key-file",
      keyFile,
      "--database-url",
      dbUrl,
      "--data-dir",
      join(dir, `d${n}`),
    ],
    { timeoutMs: WAIT_MS, env: { TRUSTLOG_LOG_LEVEL: "warn", TRUSTLOG_BATCH_DELAY_MS: "20" } },
  );
  servers.push(p);
  p.child.once("exit", (code, signal) => {
    if (!stopped.has(p))
      fail(`server ${p.url} exited by itself (${code ?? signal}):\n${p.stderr().slice(-3000)}`);
  });
  return p;
}

async function readyz(p: TrustlogProcess): Promise<{ status: number; leader: boolean } | undefined> {
  try {
    const res = await fetch(`${p.url}/readyz`, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { sequencer?: { leader?: boolean } };
    return { status: res.status, leader: body.sequencer?.leader === true };
  } catch {
    return undefined;
  }
}

async function leaderNow(): Promise<TrustlogProcess | undefined> {
  for (const p of servers) if ((await readyz(p))?.leader) return p;
  return undefined;
}

// -- writers ---------------------------------------------------------------------------------

interface Ack {
  index: number;
  leafHash: string;
  /** Size of the checkpoint the acknowledgement came with (its root is in `roots`). */
  size: number;
}

let vkey = "";
const acks: Ack[] = [];
/** Root of every checkpoint a writer was given, by size; one size, one root. */
const roots = new Map<number, string>();
const answers = new Map<string, number>();
let conflicts = 0;
let transportErrors = 0;
/** When each server (by URL) last acknowledged a write. */
const lastAck = new Map<string, number>();
const count = (k: string) => answers.set(k, (answers.get(k) ?? 0) + 1);

/** Checks an acknowledgement at once (signature, inclusion) and keeps what the end needs. */
function record(r: { index: number; leafHash: string; inclusion: string[] }, note: string): Ack {
  const cp = parseCheckpoint(openNote(note, [parseVerifierKey(vkey)]).body);
  checkInclusion(fromBase64(r.leafHash), r.index, cp.size, r.inclusion.map(fromBase64), cp.root);
  const root = toBase64(cp.root);
  const seen = roots.get(cp.size);
  if (seen !== undefined && seen !== root) fail(`two checkpoints of size ${cp.size} with different roots`);
  roots.set(cp.size, root);
  return { index: r.index, leafHash: r.leafHash, size: cp.size };
}

/** The server writers go to first: the last one that acknowledged a write. */
let preferred = 0;

/**
 * Submits one envelope until it is acknowledged, going from server to server: a refused
 * connection or an answer that never came (a killed server) and 503 NOT_LEADER send it to the
 * other one; other pushback waits for its Retry-After. The same envelope every time, so a
 * write that landed before its server died is answered as a duplicate.
 */
async function deliver(envelope: Envelope): Promise<Ack> {
  const body = JSON.stringify(envelope);
  const deadline = Date.now() + 10 * WAIT_MS;
  let misses = 0;
  let conflictsHere = 0;
  for (;;) {
    if (Date.now() > deadline) throw new Error("an envelope was not acknowledged within ten minutes");
    const list = [...servers];
    const p = list[preferred % Math.max(1, list.length)];
    let res: Response | undefined;
    let text = "";
    if (p) {
      try {
        res = await fetch(`${p.url}/v1/events`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: AbortSignal.timeout(WAIT_MS),
        });
        text = await res.text();
      } catch {
        res = undefined;
        transportErrors++;
      }
    }
    if (res) {
      if (res.status === 200) {
        const json = JSON.parse(text) as {
          results: { index: number; leafHash: string; inclusion: string[] }[];
          checkpoint: string;
        };
        lastAck.set(p!.url, Date.now());
        return record(json.results[0]!, json.checkpoint);
      }
      let code = "?";
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? "?";
      } catch {
        // not JSON: reported below with its text
      }
      count(`${res.status} ${code}`);
      if (res.status === 503 || res.status === 429) {
        if (!res.headers.has("retry-after")) fail(`${res.status} ${code} without Retry-After`);
        if (code !== "NOT_LEADER" && code !== "SHUTTING_DOWN") {
          await sleep(Math.min(1000, 1000 * Number(res.headers.get("retry-after") ?? 1)));
          continue;
        }
      } else if (res.status === 409 && ++conflictsHere <= 5) {
        conflicts++;
        continue;
      } else {
        fail(`POST /v1/events answered ${res.status}: ${text.slice(0, 500)}`);
        throw new Error("unexpected answer");
      }
    }
    // Not this server: the other one next, pausing a little once both were tried.
    preferred++;
    if (++misses % 2 === 0) await sleep(Math.min(500, 25 * misses));
  }
}

class Writer {
  readonly org: string;
  readonly root: TestKey;
  readonly h = new History({ start: Math.floor(Date.now() / 1000) });
  readonly heads = new Map<string, ChainHead>();
  lastAccount: string | undefined;
  acked = 0;
  private next = 0;

  constructor(readonly n: number) {
    this.org = `soak${n}`;
    this.root = testKey(`soak-root-${n}`);
  }

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
      envelope: this.h.keyAdd(this.org, account, testKey(`soak-${this.n}-${account}`)),
      chain: account,
    };
  }

  async run(stop: () => boolean): Promise<void> {
    while (!stop() && failures.length === 0) {
      const { envelope, chain } = this.build();
      const ack = await deliver(envelope);
      this.h.append(envelope);
      if (chain !== this.org) this.lastAccount = chain;
      this.heads.set(chain, {
        seq: envelope.event.seq,
        index: ack.index,
        leafHash: fromBase64(ack.leafHash),
      });
      acks.push(ack);
      this.acked++;
    }
  }
}

async function until(what: string, ok: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await ok()) return Date.now() - t0;
    if (Date.now() - t0 > WAIT_MS) throw new Error(`${what}: not within ${WAIT_MS} ms`);
    if (failures.length > 0) throw new Error(`${what}: stopped on an invariant failure`);
    await sleep(25);
  }
}

// -- the run ---------------------------------------------------------------------------------

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? "n/a" : `median ${s[Math.floor(s.length / 2)]} ms, max ${s[s.length - 1]} ms`;
};

async function main(): Promise<void> {
  await admin.unsafe(`create database "${dbName}"`);
  const k = await runTrustlog(["keygen", "--name", ORIGIN, "--out", keyFile]);
  if (k.code !== 0) throw new Error(`keygen: ${k.stderr}`);
  vkey = k.stdout.trim();

  await serve();
  await serve();
  let stopping = false;
  const writers = Array.from({ length: WRITERS }, (_, n) => new Writer(n));
  const running = writers.map((w) => w.run(() => stopping));
  const progress = (what: string) => {
    const from = writers.map((w) => w.acked);
    return until(what, () => writers.every((w, i) => w.acked > from[i]!));
  };

  const started = Date.now();
  const end = started + MINUTES * 60_000;
  const takeovers: number[] = [];
  const firstWrites: number[] = [];
  let rounds = 0;
  try {
    await progress("the writers get going");
    while (Date.now() < end && failures.length === 0) {
      await progress(`round ${rounds}: writers busy`);
      // Under load for a random moment, then the leader dies mid-stream.
      await sleep(250 + Math.random() * 2000);
      const leader = await leaderNow();
      if (!leader) throw new Error(`round ${rounds}: no server says it leads`);
      const t0 = Date.now();
      await stop(leader, "SIGKILL");
      const follower = servers[0]!;
      takeovers.push(
        await until(`round ${rounds}: takeover`, async () => (await readyz(follower))?.leader === true),
      );
      const acked = () => lastAck.get(follower.url) ?? 0;
      await until(`round ${rounds}: a write acknowledged by the new leader`, () => acked() > t0);
      firstWrites.push(acked() - t0);
      await serve(); // the killed one, back as the follower
      rounds++;
      process.stderr.write(
        `round ${rounds}: takeover ${takeovers.at(-1)} ms, first write ${firstWrites.at(-1)} ms, ` +
          `${acks.length} events acknowledged\n`,
      );
    }
  } catch (e) {
    fail(String(e));
  }
  stopping = true;
  await Promise.all(running).catch((e) => fail(`a writer: ${String(e)}`));
  const minutes = (Date.now() - started) / 60_000;

  // -- invariants, against whichever server leads now ----------------------------------------
  const p = (await leaderNow()) ?? servers[0]!;
  const final = parseCheckpoint(
    openNote(await (await fetch(`${p.url}/checkpoint`)).text(), [parseVerifierKey(vkey)]).body,
  );
  const entries: Uint8Array[] = [];
  for (let n = 0; n * TILE_WIDTH < final.size; n++) {
    const width = Math.min(TILE_WIDTH, final.size - n * TILE_WIDTH);
    const res = await fetch(`${p.url}/${entriesPath(n, width)}`);
    if (res.status !== 200) {
      fail(`${entriesPath(n, width)} answered ${res.status}`);
      break;
    }
    entries.push(...decodeEntryBundle(new Uint8Array(await res.arrayBuffer())));
  }
  if (entries.length !== final.size) fail(`${entries.length} entries for a checkpoint of ${final.size}`);
  const tree = memoryHashReader(entries.map((leaf) => leafHash(leaf)));
  if (toBase64(rootHashSync(entries.length, tree)) !== toBase64(final.root)) fail("final root mismatch");
  const byLeaf = new Map<string, number>();
  for (const a of acks) {
    const prior = byLeaf.get(a.leafHash);
    if (prior !== undefined && prior !== a.index)
      fail(`${a.leafHash} acknowledged at ${prior} and ${a.index}`);
    byLeaf.set(a.leafHash, a.index);
    const at = entries[a.index];
    if (!at || toBase64(leafHash(at)) !== a.leafHash) fail(`acknowledged entry ${a.index} is not in the log`);
  }
  for (const [size, root] of roots) {
    if (size > entries.length || toBase64(rootHashSync(size, tree)) !== root) {
      fail(`acknowledged checkpoint ${size} is not the tree of the final log's first ${size} leaves`);
    }
  }
  // A sample of consistency proofs as the server makes them.
  const sizes = [...roots.keys()].filter((n) => n < final.size).sort((a, b) => a - b);
  for (const size of sizes.filter((_, i) => i % Math.ceil(sizes.length / 20) === 0)) {
    const proof = (await (
      await fetch(`${p.url}/v1/proof/consistency?from=${size}&to=${final.size}`)
    ).json()) as {
      hashes: string[];
    };
    try {
      checkConsistency(
        size,
        final.size,
        fromBase64(roots.get(size)!),
        final.root,
        proof.hashes.map(fromBase64),
      );
    } catch (e) {
      fail(`consistency ${size} → ${final.size}: ${String(e)}`);
    }
  }
  const replayer = new LogReplayer();
  const violations: Violation[] = [];
  entries.forEach((leaf, index) => {
    violations.push(...replayer.apply(index, leaf, leafHash(leaf)));
    const entry = parseLogEntry(leaf);
    if (entry.kind === "event" && byLeaf.get(toBase64(entry.leafHash)) !== index) {
      fail(`entry ${index} is an event nobody was told about`);
    }
  });
  violations.push(...replayer.finish(entries.length));
  for (const v of violations.slice(0, 20)) fail(`replay: ${v.code} ${v.message}`);
  if (replayer.events !== byLeaf.size)
    fail(`${replayer.events} events in the log, ${byLeaf.size} acknowledged`);
  for (const w of writers) {
    if (!w.lastAccount) continue;
    const res = await fetch(`${p.url}/v1/orgs/${w.org}/accounts/${w.lastAccount}/lookup`);
    const answer = (await res.json()) as { checkpoint: string; lookup: LookupJson };
    try {
      checkLookup(
        parseCheckpoint(openNote(answer.checkpoint, [parseVerifierKey(vkey)]).body),
        answer.lookup,
        [
          { kind: "org", org: w.org, claimed: w.heads.get(w.org) },
          { kind: "account", org: w.org, account: w.lastAccount, claimed: w.heads.get(w.lastAccount) },
        ],
      );
    } catch (e) {
      fail(`lookup of ${w.org}/${w.lastAccount}: ${String(e)}`);
    }
  }
  for (const s of [...servers]) {
    const code = await stop(s, "SIGTERM");
    if (code !== 0) fail(`server ${s.url} stopped with ${code}`);
  }
  const f = await runTrustlog(["fsck", "--database-url", dbUrl, "--vkey", vkey], { timeoutMs: 30 * 60_000 });
  if (f.code !== 0) fail(`fsck exited ${f.code}: ${f.stdout}${f.stderr}`);

  const other = [...answers].map(([k, v]) => `${k}: ${v}`).join(", ") || "none";
  process.stdout.write(
    [
      `soak: ${minutes.toFixed(1)} min, ${WRITERS} writers, two servers on one PostgreSQL database`,
      `rounds (leader SIGKILLed, follower took over, killed one restarted): ${rounds}`,
      `events acknowledged: ${byLeaf.size} (${acks.length} acknowledgements), final tree size ${final.size}`,
      `takeover (SIGKILL until the follower leads): ${stats(takeovers)}`,
      `first write acknowledged by the new leader after SIGKILL: ${stats(firstWrites)}`,
      `answers other than 200: ${other}; 409s resubmitted: ${conflicts}; requests with no answer (killed server): ${transportErrors}`,
      `checks: ${acks.length} inclusion proofs, ${roots.size} checkpoints against the final tree, ` +
        `${sizes.length > 0 ? Math.min(20, sizes.length) : 0} consistency proofs, replay of ${entries.length} entries, ` +
        `${writers.length} lookups, fsck exit ${f.code}`,
      `invariant failures: ${failures.length === 0 ? "none" : `${failures.length}\n  ${failures.join("\n  ")}`}`,
    ].join("\n") + "\n",
  );
}

try {
  await main();
} catch (e) {
  fail(`soak aborted: ${String(e)}`);
} finally {
  for (const s of [...servers]) await stop(s, "SIGKILL").catch(() => {});
  if (failures.length === 0)
    await admin.unsafe(`drop database if exists "${dbName}" with (force)`).catch(() => {});
  else process.stderr.write(`database ${dbName} kept for inspection\n`);
  await admin.end({ timeout: 5 });
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failures.length === 0 ? 0 : 1;
