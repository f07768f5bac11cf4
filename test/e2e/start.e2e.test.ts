// `npm start` (bin/start.ts) as a newcomer runs it: the log server on PGlite and a witness that
// witnesses it, in one process. The checkpoint must carry the witness's valid cosignature, and a
// second start on the same data directory must keep both keys and the log.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote, parseVerifierKey } from "../../core/note.js";
import { freePort } from "../helpers/process.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), "trustlog-start-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function npmStart(port: number, witnessPort: number) {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith("TRUSTLOG_") && k !== "DATABASE_URL") env[k] = v;
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "bin/start.ts"], {
    cwd: REPO,
    env: {
      ...env,
      TRUSTLOG_DATA_DIR: dataDir,
      TRUSTLOG_PORT: String(port),
      TRUSTLOG_WITNESS_PORT: String(witnessPort),
      TRUSTLOG_WITNESS_REFRESH_SECONDS: "1",
      TRUSTLOG_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const t0 = Date.now();
  while (!/log server: /.test(out)) {
    if (child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(`npm start failed:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const logVkey = /log server: .*vkey (\S+)\)/.exec(out)![1]!;
  const witnessVkey = /witness: .*vkey (\S+)\)/.exec(out)![1]!;
  const stop = () =>
    new Promise<number | null>((resolve) => {
      child.once("exit", (code) => resolve(code));
      child.kill("SIGTERM");
    });
  return { url: `http://127.0.0.1:${port}`, logVkey, witnessVkey, stop, output: () => out };
}

async function cosignedCheckpoint(url: string, logVkey: string, witnessVkey: string) {
  const t0 = Date.now();
  for (;;) {
    const text = await (await fetch(`${url}/checkpoint`)).text();
    const opened = openNote(text, [parseVerifierKey(logVkey), parseVerifierKey(witnessVkey)]);
    if (opened.verified.length === 2) return parseCheckpoint(opened.body);
    if (Date.now() - t0 > 20_000) throw new Error(`no cosigned checkpoint: ${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("npm start", () => {
  it("starts the log and a witness that cosigns its checkpoints, and keeps both across restarts", async () => {
    const [port, witnessPort] = [await freePort(), await freePort()];
    const first = await npmStart(port, witnessPort);
    let logVkey: string;
    try {
      logVkey = first.logVkey;
      expect(first.output()).toMatch(/generated the log key/);
      const cp = await cosignedCheckpoint(first.url, first.logVkey, first.witnessVkey);
      expect(cp.size).toBe(0);
      expect(cp.origin).toBe("trustlog.example/log");
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const second = await npmStart(port, witnessPort);
    try {
      expect(second.logVkey).toBe(logVkey);
      expect(second.witnessVkey).toBe(first.witnessVkey);
      expect(second.output()).not.toMatch(/generated the log key/);
      await cosignedCheckpoint(second.url, second.logVkey, second.witnessVkey);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 180_000);
});
