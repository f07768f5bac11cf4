// The one way tests and benchmarks run the real `trustlog` command as a child process:
//   - `startTrustlog` for long-running servers: a free loopback port (or the caller's), stdout and
//     stderr collected, ready when a path (default /readyz) answers 200, stopped with a signal;
//   - `spawnWitness` for `trustlog witness serve` from a config object (written to a file; ready
//     at /healthz, which answers once the witness listens, the last step of its start);
//   - `runTrustlog` for commands that run to completion (keygen, demo, fsck).
// Children never see the user's state directory nor the parent's TRUSTLOG_* settings:
// XDG_STATE_HOME points at a temporary directory unless a test sets it, so a client command
// that keeps its trust state by default cannot write to the home directory.
//
// Readiness deadline. Readiness is polled over HTTP every 100 ms, never a fixed sleep. A start
// fails:
//   - at once when the child exits before it is ready;
//   - when it has made no progress for `stallMs` (default 20 s): progress is the child printing
//     anything, or using at least 5% of a core over a second (utime + stime, /proc/<pid>/stat;
//     answering the readiness polls costs it about 1%). A start on a loaded machine is slow but
//     busy (tsx compiles, migrations run),
//     so it keeps the deadline alive; a hung child (waiting on a lock, a promise that never
//     settles) is idle and fails after `stallMs`, as early as today's 30 s fixed deadline did;
//   - in any case after `timeoutMs` (default 90 s), a busy loop included.
// Without /proc (not Linux) only printing counts as progress, so the stall rule is not applied
// and `timeoutMs` alone holds. Every failure kills the child and carries what it printed.
// Measured start-up (bench/startup.ts: spawn to first 200, PostgreSQL, 2-core machine, medians of
// 3 on 2026-12-07): `trustlog serve` 1.2 s idle, 2.3 s beside two CPU-bound processes;
// `trustlog witness serve` 1.0 s idle, 1.9 s loaded. The deadlines above are ten times that.
// Children still running when the test process exits are killed (a test that timed out in
// vitest does not leave servers behind).

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { WitnessConfigInput } from "../../witness/config.js";

const BIN = fileURLToPath(new URL("../../bin/trustlog.js", import.meta.url));
const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** A TCP port on 127.0.0.1 that was free a moment ago (peers must know each other's URL before they start). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  /** Extra environment; the parent's is inherited (PATH, etc.), TRUSTLOG_* ones removed. */
  env?: Record<string, string>;
  /** Path polled until it answers 200 (default /readyz). */
  readyPath?: string;
  /** Hard readiness deadline, default 90 s (see the header). */
  timeoutMs?: number;
  /** Fail when the child has made no progress for this long, default 20 s (see the header). */
  stallMs?: number;
  /** The port to listen on; default a free one. */
  port?: number;
  /** The flag the command takes its port from (default --port; the host is always 127.0.0.1). */
  portFlag?: string;
  hostFlag?: string;
}

export interface TrustlogProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Milliseconds from spawn to the first 200 on the readiness path. */
  readonly readyMs: number;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code (null if killed by signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** A witness child process (`spawnWitness`). */
export type WitnessProcess = TrustlogProcess;

let stateHome: string | undefined;

/** One temporary XDG_STATE_HOME for this test process's children, removed when it exits. */
function isolatedStateHome(): string {
  if (!stateHome) {
    const dir = mkdtempSync(join(tmpdir(), "trustlog-state-home-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    stateHome = dir;
  }
  return stateHome;
}

const live = new Set<ChildProcess>();
let reaperInstalled = false;

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("TRUSTLOG_") && k !== "DATABASE_URL") env[k] = v;
  }
  return { ...env, XDG_STATE_HOME: isolatedStateHome(), ...extra };
}

function spawnTrustlog(args: string[], env?: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (!reaperInstalled) {
    reaperInstalled = true;
    process.once("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** CPU time (ms, user + system, all threads) the process has used so far, or undefined without /proc. */
export function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) in parentheses: utime is the 14th
    // field of the line, stime the 15th, in clock ticks (100 per second on Linux).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * CPU time (ms) used so far by every process whose command name is `comm` (e.g. "postgres":
 * the server and its backends), or undefined without /proc. A process that exits between two
 * readings takes its time with it; benches read it while their connections are open.
 */
export function commandCpuMs(comm: string): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  let total = 0;
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== comm) continue;
    } catch {
      continue; // gone meanwhile
    }
    total += cpuMs(Number(pid)) ?? 0;
  }
  return total;
}

/**
 * The whole machine's CPU time so far, busy and idle (iowait counted as idle), in milliseconds,
 * from /proc/stat; undefined where there is no /proc. Benches use it to say whether a run was
 * bound by the cores or by something else (latency, a lock).
 */
export function machineCpuMs(): { busy: number; idle: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = t[3]! + t[4]!;
    const busy = t.reduce((a, b) => a + b, 0) - idle;
    return { busy: busy * 10, idle: idle * 10 };
  } catch {
    return undefined;
  }
}

function output(out: string, err: string): string {
  const tail = (s: string) => (s.length > 8000 ? `…${s.slice(-8000)}` : s);
  return `--- stdout\n${tail(out)}\n--- stderr\n${tail(err)}`;
}

export async function startTrustlog(args: string[], opts: StartOptions = {}): Promise<TrustlogProcess> {
  const port = opts.port ?? (await freePort());
  const fullArgs = [...args, opts.hostFlag ?? "--host", "127.0.0.1", opts.portFlag ?? "--port", String(port)];
  const started = Date.now();
  const child = spawnTrustlog(fullArgs, opts.env);
  let out = "";
  let err = "";
  let printedAt = started;
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    printedAt = Date.now();
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    err += d;
    printedAt = Date.now();
  });
  let exitStatus = "";
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code, signal) => {
      exitStatus = signal ? `signal ${signal}` : `code ${code}`;
      resolve(code);
    }),
  );
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const what = `trustlog ${args.join(" ")}`;
  const url = `http://127.0.0.1:${port}`;
  const hardDeadline = started + (opts.timeoutMs ?? 90_000);
  const stallMs = opts.stallMs ?? 20_000;
  let sample = { at: started, cpu: cpuMs(child.pid) };
  const useCpu = sample.cpu !== undefined;
  let cpuProgressAt = started;
  const fail = (why: string): never => {
    child.kill("SIGKILL");
    throw new Error(`${what} ${why} (after ${Date.now() - started} ms):\n${output(out, err)}`);
  };
  for (;;) {
    if (hasExited) fail(`exited (${exitStatus}) before it was ready`);
    try {
      const res = await fetch(url + (opts.readyPath ?? "/readyz"), { signal: AbortSignal.timeout(5_000) });
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    const now = Date.now();
    if (now - sample.at >= 1_000) {
      // Busy: at least 5% of a core over the last second. Answering this loop's own polls
      // costs a ready-but-stuck server far less than that.
      const cpu = cpuMs(child.pid);
      if (cpu !== undefined && sample.cpu !== undefined && cpu - sample.cpu >= 0.05 * (now - sample.at))
        cpuProgressAt = now;
      sample = { at: now, cpu };
    }
    if (now > hardDeadline) fail(`was not ready within ${opts.timeoutMs ?? 90_000} ms`);
    if (useCpu && now - Math.max(printedAt, cpuProgressAt) > stallMs && !hasExited)
      fail(`made no progress (no output, under 5% of a core) for ${stallMs} ms before it was ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const readyMs = Date.now() - started;

  return {
    url,
    port,
    child,
    readyMs,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000) {
      if (!hasExited) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * Starts `trustlog witness serve` with `config` written to `dir`/witness.json. It listens on
 * the config's port when it names one (peers must know each other's URL first), else on a free
 * one; always on 127.0.0.1 (the --host flag overrides the config's host).
 */
export async function spawnWitness(
  dir: string,
  config: WitnessConfigInput,
  opts: Omit<StartOptions, "port" | "portFlag" | "hostFlag" | "readyPath"> = {},
): Promise<WitnessProcess> {
  const file = join(dir, "witness.json");
  // A config without a PostgreSQL URL runs on PGlite, which the witness refuses unless allowed
  // (an explicit allowPglite in the config wins).
  const withDb = config.databaseUrl ? config : { allowPglite: true, ...config };
  const port = typeof config.port === "number" && config.port > 0 ? config.port : await freePort();
  writeFileSync(file, JSON.stringify({ ...withDb, port }, null, 2));
  return startTrustlog(["witness", "serve", "--config", file], { ...opts, port, readyPath: "/healthz" });
}

/** Runs a `trustlog` command to completion. */
export function runTrustlog(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTrustlog(args, opts.env);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  return new Promise((resolve) =>
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
