// Start-up time of `trustlog serve` and `trustlog witness serve`, both on PostgreSQL, as the
// tests start them (test/helpers/process.ts: spawn to the first 200 on /readyz or /healthz), on
// an idle machine and with two CPU-bound processes (`node -e "for(;;){}"`) running beside them.
// Each start is on a fresh database and data directory; one unmeasured start first warms tsx's
// compile cache. Prints the runs and the medians.
//
//   npx tsx bench/startup.ts [--runs 3] [--database-url postgres://…]

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { NOTE_TYPE_COSIGNATURE_V1 } from "../core/note.js";
import { generateSignerKey } from "../core/note-keys.js";
import { createTestDatabase } from "../test/helpers/db.js";
import { spawnWitness, startTrustlog } from "../test/helpers/process.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    "database-url": { type: "string", default: process.env.TEST_DATABASE_URL },
  },
});
if (args["database-url"]) process.env.TEST_DATABASE_URL = args["database-url"];
const RUNS = Number(args.runs);

async function serveOnce(): Promise<number> {
  const db = await createTestDatabase("startup");
  const dir = mkdtempSync(join(tmpdir(), "trustlog-startup-"));
  try {
    const p = await startTrustlog([
      "serve",
      "--database-url",
      db.url,
      "--data-dir",
      dir,
      "--log-level",
      "warn",
    ]);
    await p.stop();
    return p.readyMs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
  }
}

async function witnessOnce(): Promise<number> {
  const db = await createTestDatabase("startupw");
  const dir = mkdtempSync(join(tmpdir(), "trustlog-startup-"));
  try {
    const { skey } = generateSignerKey(
      "w.example",
      new Uint8Array(randomBytes(32)),
      NOTE_TYPE_COSIGNATURE_V1,
    );
    writeFileSync(join(dir, "w.key"), `${skey}\n`, { mode: 0o600 });
    const log = generateSignerKey("log.example", new Uint8Array(randomBytes(32)));
    const p = await spawnWitness(dir, {
      keyFile: join(dir, "w.key"),
      databaseUrl: db.url,
      logs: [{ origin: "log.example", vkeys: [log.vkey] }],
      pullIntervalSeconds: 0,
      gossipIntervalSeconds: 0,
      logLevel: "warn",
    });
    await p.stop();
    return p.readyMs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(label: string): Promise<void> {
  for (const [name, once] of [
    ["trustlog serve", serveOnce],
    ["trustlog witness serve", witnessOnce],
  ] as const) {
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await once());
    console.log(
      `${label.padEnd(7)} ${name.padEnd(23)} runs ${runs.join(", ")} ms, median ${median(runs)} ms`,
    );
  }
}

console.log(`warm-up: serve ${await serveOnce()} ms, witness ${await witnessOnce()} ms`);
await measure("idle");
const burners = [0, 1].map(() => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
try {
  await new Promise((r) => setTimeout(r, 500));
  await measure("loaded");
} finally {
  for (const b of burners) b.kill("SIGKILL");
}
