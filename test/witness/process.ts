// Runs `trustlog witness serve` as a real child process for end-to-end tests.

import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type { WitnessConfigInput } from "../../witness/config.js";

const root = resolve(import.meta.dirname, "../..");

export interface WitnessProcess {
  url: string;
  proc: ChildProcess;
  stderr: string[];
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A port that was free a moment ago (peers must know each other's URL before they start). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export async function spawnWitness(dir: string, config: WitnessConfigInput): Promise<WitnessProcess> {
  const file = join(dir, "witness.json");
  // A config without a PostgreSQL URL runs on PGlite, which the witness refuses unless allowed
  // (an explicit allowPglite in the config wins).
  const withDb = config.databaseUrl ? config : { allowPglite: true, ...config };
  writeFileSync(file, JSON.stringify(withDb, null, 2));
  const proc = spawn(
    process.execPath,
    ["--import", "tsx", "bin/trustlog.ts", "witness", "serve", "--config", file],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const stderr: string[] = [];
  proc.stderr!.on("data", (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const url = await new Promise<string>((res, rej) => {
    let out = "";
    const timer = setTimeout(() => rej(new Error(`witness did not start: ${stderr.join("")}`)), 60_000);
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /trustlog witness on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`witness exited (${code}): ${stderr.join("")}`));
    });
  });
  return {
    url,
    proc,
    stderr,
    exited,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
