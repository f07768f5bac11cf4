// Set-up for end-to-end tests with a real log and real witnesses, all `trustlog` child processes
// on loopback: log keys (one per origin, written as `trustlog keygen` writes them), a set of
// witnesses that know every origin up front (they are per-origin, so independent logs need
// distinct origins), log processes on PostgreSQL that can be stopped and restarted on their
// database, and a wait for the witness cosignatures of the latest checkpoint.

import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NOTE_TYPE_COSIGNATURE_V1 } from "../../core/note.js";
import { generateSignerKey } from "../../core/note-keys.js";
import { writeNewSignerKey } from "../../server/keys.js";
import { createTestDatabase } from "./db.js";
import { startTrustlog, type TrustlogProcess } from "./process.js";

export interface LogIdentity {
  origin: string;
  keyFile: string;
  vkey: string;
}

/** A new log signing key for `origin` in `dir` (mode 0600, as `trustlog keygen`). */
export function newLogIdentity(dir: string, origin: string): LogIdentity {
  const keyFile = join(dir, `${origin.replace(/[^A-Za-z0-9.-]/g, "_")}.key`);
  const { vkey } = writeNewSignerKey(keyFile, origin);
  return { origin, keyFile, vkey };
}

/** A cosignature/v1 key that no running witness holds (for policies the log cannot meet). */
export function absentWitnessVkey(name: string): string {
  return generateSignerKey(name, new Uint8Array(randomBytes(32)), NOTE_TYPE_COSIGNATURE_V1).vkey;
}

export interface Witnesses {
  names: string[];
  vkeys: string[];
  processes: TrustlogProcess[];
  /** TRUSTLOG_WITNESSES for a log process. */
  config(): string;
  stop(): Promise<void>;
}

/**
 * Starts `n` witnesses that accept checkpoints of every log given, each on a fresh PostgreSQL
 * database (dropped by stop()). PostgreSQL rather than PGlite: three PGlite instances booting
 * their WASM at once took over 30 s on a loaded 2-core machine, and production witnesses run on
 * PostgreSQL anyway (test/witness/pglite.test.ts keeps PGlite covered).
 */
export async function startWitnesses(
  dir: string,
  logs: readonly LogIdentity[],
  opts: { n?: number; domain?: string } = {},
): Promise<Witnesses> {
  const n = opts.n ?? 3;
  const domain = opts.domain ?? "e2e.example";
  const names: string[] = [];
  const vkeys: string[] = [];
  const configs: string[] = [];
  const databases = await Promise.all(Array.from({ length: n }, () => createTestDatabase("witness")));
  for (let i = 0; i < n; i++) {
    const name = `w${i}.${domain}`;
    const { skey, vkey } = generateSignerKey(name, new Uint8Array(randomBytes(32)), NOTE_TYPE_COSIGNATURE_V1);
    const keyFile = join(dir, `w${i}.key`);
    writeFileSync(keyFile, `${skey}\n`, { mode: 0o600, flag: "wx" });
    const config = join(dir, `w${i}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        keyFile,
        databaseUrl: databases[i]!.url,
        logs: logs.map((l) => ({ origin: l.origin, vkeys: [l.vkey] })),
        pullIntervalSeconds: 0,
        gossipIntervalSeconds: 0,
      }),
    );
    names.push(name);
    vkeys.push(vkey);
    configs.push(config);
  }
  const processes = await Promise.all(
    configs.map((c) => startTrustlog(["witness", "serve", "--config", c], { readyPath: "/healthz" })),
  );
  return {
    names,
    vkeys,
    processes,
    config: () => JSON.stringify(processes.map((p, i) => ({ name: names[i], vkey: vkeys[i], url: p.url }))),
    async stop() {
      for (const p of processes) await p.stop("SIGKILL");
      for (const d of databases) await d.drop();
    },
  };
}

/** Starts `trustlog serve` for a log on PostgreSQL, submitting to the witnesses. */
export async function startLog(
  log: LogIdentity,
  databaseUrl: string,
  witnesses: Witnesses,
  dataDir: string,
  env: Record<string, string> = {},
): Promise<TrustlogProcess> {
  mkdirSync(dataDir, { recursive: true });
  return startTrustlog(
    [
      "serve",
      "--database-url",
      databaseUrl,
      "--key-file",
      log.keyFile,
      "--origin",
      log.origin,
      "--data-dir",
      dataDir,
      "--log-level",
      "info",
    ],
    { env: { TRUSTLOG_WITNESSES: witnesses.config(), TRUSTLOG_QUORUM: "2", ...env } },
  );
}

/**
 * Waits until the log's latest checkpoint (of at least `size`, when given) carries cosignatures
 * of `n` of the witnesses; resolves with the note text. Cosignatures arrive asynchronously.
 */
export async function untilCosigned(
  logUrl: string,
  witnesses: Pick<Witnesses, "names">,
  n: number,
  size = 0,
  timeoutMs = 20_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await fetch(`${logUrl}/checkpoint`)).text();
    const lines = text.split("\n");
    const served = Number(lines[1]);
    const cosigned = witnesses.names.filter((w) => lines.some((l) => l.startsWith(`— ${w} `))).length;
    if (served >= size && cosigned >= n) return text;
    if (Date.now() > deadline)
      throw new Error(`checkpoint not cosigned by ${n} witnesses at size ≥ ${size}:\n${text}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/**
 * Stops a log gracefully: SIGTERM, then waits until it reports "log server stopped" (sequencer
 * drained, database connections closed) or exits. A process still alive after that is killed,
 * so a stray handle in the child cannot stall the test; the graceful exit itself is the
 * subject of test/e2e/server.e2e.test.ts, not of the tests using this helper.
 */
export async function stopLog(proc: TrustlogProcess, timeoutMs = 15_000): Promise<void> {
  const child = proc.child;
  const alive = () => child.exitCode === null && child.signalCode === null;
  if (alive()) child.kill("SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (alive() && !proc.stderr().includes('"msg":"log server stopped"')) {
    if (Date.now() > deadline) throw new Error(`log did not stop within ${timeoutMs} ms:\n${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await proc.stop("SIGKILL");
}
