// `npm start` (bin/start.ts) as a newcomer runs it: the log server on PGlite, a witness that
// witnesses it and the demo SCIM bridge, in one process. The checkpoint must carry the
// witness's valid cosignature, the bridge must answer with its printed token, and a second
// start on the same data directory must keep the keys, the log and the token.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { freePort } from "../helpers/process.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), "trustlog-start-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function npmStart(port: number, witnessPort: number, scimPort: number) {
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
      TRUSTLOG_SCIM_PORT: String(scimPort),
      TRUSTLOG_WITNESS_REFRESH_SECONDS: "1",
      TRUSTLOG_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const t0 = Date.now();
  // Ready when the demo SCIM bridge is up: it starts last, after the log and the witness.
  while (!/SCIM token: /.test(out)) {
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
  const token = /SCIM token: +(\S+)/.exec(out)![1]!;
  return { url: `http://127.0.0.1:${port}`, logVkey, witnessVkey, token, stop, output: () => out };
}

/** The first checkpoint of at least `minSize` leaves that the bundled witness cosigned. */
async function cosignedCheckpoint(url: string, logVkey: string, witnessVkey: string, minSize = 0) {
  const t0 = Date.now();
  for (;;) {
    const text = await (await fetch(`${url}/checkpoint`)).text();
    const opened = openNote(text, [parseVerifierKey(logVkey), parseVerifierKey(witnessVkey)]);
    const cp = parseCheckpoint(opened.body);
    if (opened.verified.length === 2 && cp.size >= minSize) return cp;
    if (Date.now() - t0 > 20_000) throw new Error(`no cosigned checkpoint: ${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("npm start", () => {
  it("starts the log, a witness that cosigns its checkpoints and the demo SCIM bridge, and keeps them across restarts", async () => {
    const [port, witnessPort, scimPort] = [await freePort(), await freePort(), await freePort()];
    const first = await npmStart(port, witnessPort, scimPort);
    let logVkey: string;
    try {
      logVkey = first.logVkey;
      expect(first.output()).toMatch(/generated the log key/);
      // The demo bridge's org and grant are in the log: org.create, grant.issue, an index leaf.
      const cp = await cosignedCheckpoint(first.url, first.logVkey, first.witnessVkey, 3);
      expect(cp.origin).toBe("trustlog.example/log");
      const org = (await (await fetch(`${first.url}/v1/orgs/demo`)).json()) as { head: { seq: number } };
      expect(org.head.seq).toBe(1);
      expect(readFileSync(join(dataDir, "scim", "token"), "utf8").trim()).toBe(first.token);
      const users = await fetch(`http://127.0.0.1:${scimPort}/scim/v2/Users`, {
        headers: { authorization: `Bearer ${first.token}` },
      });
      expect(users.status).toBe(200);
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const second = await npmStart(port, witnessPort, scimPort);
    try {
      expect(second.logVkey).toBe(logVkey);
      expect(second.witnessVkey).toBe(first.witnessVkey);
      expect(second.output()).not.toMatch(/generated the log key/);
      // The same demo org, grant and token: nothing logged twice.
      expect(second.token).toBe(first.token);
      const org = (await (await fetch(`${second.url}/v1/orgs/demo`)).json()) as { head: { seq: number } };
      expect(org.head.seq).toBe(1);
      await cosignedCheckpoint(second.url, second.logVkey, second.witnessVkey);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 180_000);
});
