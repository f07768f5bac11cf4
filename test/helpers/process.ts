// Runs the real `trustlog` command as a child process, for end-to-end tests of any part:
// `startTrustlog` for long-running servers (picks a free loopback port, waits until a readiness
// path answers 200, collects stdout and stderr, stops it with a signal), `runTrustlog` for
// commands that run to completion (keygen, demo, fsck). Children never see the user's state
// directory: XDG_STATE_HOME points at a temporary directory unless a test sets it, so a client
// command that keeps its trust state by default cannot write to the home directory.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/trustlog.js", import.meta.url));
const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** A TCP port on 127.0.0.1 that was free a moment ago. */
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
  /** Default 30 s: tsx compiles on first start. */
  timeoutMs?: number;
  /** The flag the command takes its port from (default --port; the host is always 127.0.0.1). */
  portFlag?: string;
  hostFlag?: string;
}

export interface TrustlogProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code (null if killed by signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

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

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("TRUSTLOG_") && k !== "DATABASE_URL") env[k] = v;
  }
  return { ...env, XDG_STATE_HOME: isolatedStateHome(), ...extra };
}

function spawnTrustlog(args: string[], env?: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export async function startTrustlog(args: string[], opts: StartOptions = {}): Promise<TrustlogProcess> {
  const port = await freePort();
  const child = spawnTrustlog(
    [...args, opts.hostFlag ?? "--host", "127.0.0.1", opts.portFlag ?? "--port", String(port)],
    opts.env,
  );
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (hasExited) throw new Error(`trustlog ${args.join(" ")} exited before it was ready:\n${out}\n${err}`);
    try {
      const res = await fetch(url + (opts.readyPath ?? "/readyz"));
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`trustlog ${args.join(" ")} was not ready within the timeout:\n${out}\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    port,
    child,
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
