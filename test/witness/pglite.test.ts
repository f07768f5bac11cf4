// A witness's one promise, never to cosign two inconsistent checkpoints, rests on its state being
// durable before a cosignature leaves. PGlite does not fsync: after an OS crash it can come back
// older, and the witness would cosign a fork of what it already signed. So a witness refuses to
// start on PGlite unless told it may (--allow-pglite, allowPglite: true,
// TRUSTLOG_WITNESS_ALLOW_PGLITE=1), and says why; `npm start` tells it (bin/start.ts).

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadWitnessConfig, parseWitnessConfig } from "../../witness/config.js";
import { startWitness } from "../../witness/main.js";
import { runTrustlog, startTrustlog } from "../helpers/process.js";
import { tempDir, witnessKey } from "./helpers.js";

/** A config file for a witness on PGlite in a fresh directory, with no word on PGlite. */
function pgliteConfigFile(extra: Record<string, unknown> = {}): string {
  const dir = tempDir();
  const keyFile = join(dir, "witness.key");
  writeFileSync(keyFile, `${witnessKey("pglite.test", 71).skey}\n`, { mode: 0o600 });
  const file = join(dir, "witness.json");
  writeFileSync(
    file,
    JSON.stringify({
      port: 0,
      keyFile,
      dataDir: join(dir, "pglite"),
      logs: [],
      pullIntervalSeconds: 0,
      gossipIntervalSeconds: 0,
      logLevel: "silent",
      ...extra,
    }),
  );
  return file;
}

describe("a witness on PGlite", () => {
  it("refuses to start unless allowed, naming the option and the reason", async () => {
    const config = loadWitnessConfig(pgliteConfigFile(), {});
    expect(config.allowPglite).toBe(false);
    const err = await startWitness(config).then(
      async (w) => void (await w.close()),
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code).toBe("CONFIG_INVALID");
    expect(err?.message).toContain("fsync");
    expect(err?.message).toContain("--allow-pglite");
    expect(err?.message).toContain("allowPglite");
    expect(err?.message).toContain("TRUSTLOG_WITNESS_ALLOW_PGLITE");
  });

  it("starts when the configuration allows it", async () => {
    const w = await startWitness(loadWitnessConfig(pgliteConfigFile({ allowPglite: true }), {}));
    try {
      expect((await fetch(`${w.url}/healthz`)).status).toBe(200);
    } finally {
      await w.close();
    }
  });

  it("reads the option from the environment, strictly", () => {
    const file = pgliteConfigFile();
    expect(loadWitnessConfig(file, { TRUSTLOG_WITNESS_ALLOW_PGLITE: "1" }).allowPglite).toBe(true);
    expect(loadWitnessConfig(file, { TRUSTLOG_WITNESS_ALLOW_PGLITE: "true" }).allowPglite).toBe(true);
    expect(loadWitnessConfig(file, { TRUSTLOG_WITNESS_ALLOW_PGLITE: "0" }).allowPglite).toBe(false);
    expect(() => loadWitnessConfig(file, { TRUSTLOG_WITNESS_ALLOW_PGLITE: "perhaps" })).toThrow(
      /allowPglite/,
    );
  });

  it("a throw-away memory:// database needs no option (nobody takes it for durable)", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "witness.key");
    writeFileSync(keyFile, `${witnessKey("memory.test", 72).skey}\n`, { mode: 0o600 });
    const w = await startWitness(
      parseWitnessConfig({ port: 0, keyFile, dataDir: "memory://", logs: [], logLevel: "silent" }),
    );
    await w.close();
  });
});

describe("trustlog witness serve on PGlite", () => {
  it("exits with the reason when not allowed", async () => {
    const r = await runTrustlog(["witness", "serve", "--config", pgliteConfigFile()], { timeoutMs: 90_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("CONFIG_INVALID");
    expect(r.stderr).toContain("does not fsync");
    expect(r.stderr).toContain("--allow-pglite");
  }, 120_000);

  it("serves with --allow-pglite", async () => {
    const p = await startTrustlog(["witness", "serve", "--config", pgliteConfigFile(), "--allow-pglite"], {
      readyPath: "/healthz",
      timeoutMs: 90_000,
    });
    try {
      expect(p.stdout()).toContain("trustlog witness on");
    } finally {
      await p.stop();
    }
  }, 120_000);
});
