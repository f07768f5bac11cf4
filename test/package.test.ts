// The compiled package (npm run build, tsconfig.build.json): what `npm start`, the `trustlog`
// command, the container image and a consumer of the package run. Built here when dist/ is
// missing or older than the sources (bin/build.js ensure, as `npm start` does), then checked
// from outside, in child processes running plain Node: no tsx, no vitest module resolution.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./helpers/process.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
  exports: Record<string, Record<string, string> | string>;
  scripts: Record<string, string>;
  bin: Record<string, string>;
};

/** Plain Node in the repository, with none of the test runner's loaders. */
function node(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, args, {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let scripts = 0;

/**
 * Runs an ES module script from a file inside the package (test-artifacts/, ignored by git), so
 * "trustlog" is a self-reference; a file, not --eval, since a worker would inherit --input-type.
 */
function script(source: string) {
  const dir = join(REPO, "test-artifacts");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `package-${process.pid}-${scripts++}.mjs`);
  writeFileSync(file, source.replaceAll("./dist/", "../dist/"));
  try {
    const r = node([file]);
    if (r.status !== 0) throw new Error(`script failed (${r.status}):\n${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } finally {
    rmSync(file, { force: true });
  }
}

beforeAll(() => {
  const r = node([join(REPO, "bin", "build.js"), "ensure"]);
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
}, 180_000);

describe("the compiled package", () => {
  it("every entry of the exports map resolves, with its types", () => {
    for (const [entry, target] of Object.entries(pkg.exports)) {
      const targets = typeof target === "string" ? [target] : Object.values(target);
      for (const t of targets) expect(existsSync(join(REPO, t)), `${entry} -> ${t}`).toBe(true);
      if (entry !== "./package.json") expect((target as Record<string, string>).types).toMatch(/\.d\.ts$/);
    }
    const got = script(`
      const main = await import("trustlog");
      const browser = await import("trustlog/browser");
      const core = await import("trustlog/core");
      console.log(JSON.stringify({
        main: ["verifyKey", "audit", "monitor", "Provisioner", "FileTrustStore", "LogClient"].filter((k) => typeof main[k] === "function"),
        browser: Object.keys(browser).sort(),
        core: ["parseCheckpoint", "applyEvent", "ed25519", "nobleEd25519"].filter((k) => typeof core[k] === "function" || typeof core[k] === "object"),
        backend: core.ed25519().name,
        sameVerifyKey: main.verifyKey === browser.verifyKey,
      }));
    `);
    expect(got.main).toEqual(["verifyKey", "audit", "monitor", "Provisioner", "FileTrustStore", "LogClient"]);
    expect(got.browser).toContain("verifyKey");
    expect(got.browser).toContain("IndexedDbTrustStore");
    expect(got.browser).not.toContain("FileTrustStore");
    expect(got.core).toEqual(["parseCheckpoint", "applyEvent", "ed25519", "nobleEd25519"]);
    // "#ed25519" under the "node" condition: the native back end, with no call to install it.
    expect(got.backend).toBe("node:crypto");
    expect(got.sameVerifyKey).toBe(true);
  });

  it("the browser entry bundles for browsers: no Node built-in, the noble back end", async () => {
    const esbuild = await import("esbuild");
    for (const entry of ["trustlog/browser", "trustlog/core"]) {
      const result = await esbuild.build({
        stdin: { contents: `export * from "${entry}";`, resolveDir: REPO, loader: "js" },
        bundle: true,
        platform: "browser",
        format: "esm",
        write: false,
        metafile: true,
        logLevel: "silent",
      });
      const inputs = Object.keys(result.metafile.inputs);
      expect(inputs.some((f) => f.startsWith("dist/"))).toBe(true);
      expect(inputs).toContain("dist/core/ed25519-noble.js");
      expect(inputs).toContain("dist/core/sha256-noble.js");
      expect(inputs.filter((f) => f.includes("-native") || f.startsWith("node:"))).toEqual([]);
    }
  });

  it("the trustlog command runs the compiled CLI", () => {
    expect(pkg.bin.trustlog).toBe("./bin/trustlog.js");
    const compiled = node(["dist/bin/trustlog.js", "--help"]);
    expect(compiled.status).toBe(0);
    expect(compiled.stdout).toContain("verify-key");
    // The shim (the package's bin) picks dist/, fresh after beforeAll.
    const shim = node(["bin/trustlog.js", "witness", "--help"]);
    expect(shim.status).toBe(0);
    expect(shim.stdout).toContain("serve");
  });

  it("verifies signatures on a worker thread running the compiled module, without tsx", () => {
    const got = script(`
      const { VerifyPool } = await import("./dist/node/verify-pool.js");
      const pool = new VerifyPool(1);
      const alive = setInterval(() => {}, 1000); // the pool's workers are unref'd
      const [err] = await pool.verify([new TextEncoder().encode("not an envelope")]);
      console.log(JSON.stringify({ answered: pool.answeredByWorkers, code: err?.code }));
      await pool.close();
      clearInterval(alive);
    `);
    expect(got.answered).toBe(1);
    expect(got.code).toBeTypeOf("string");
  });

  it("npm start runs the compiled entry, which finds the migrations and the explorer source", async () => {
    expect(pkg.scripts.start).toBe("node dist/bin/start.js");
    expect(pkg.scripts.prestart).toBe("node bin/build.js ensure");
    expect(existsSync(join(REPO, "dist", "bin", "start.js"))).toBe(true);
    const dataDir = mkdtempSync(join(tmpdir(), "trustlog-package-"));
    const port = await freePort();
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, ["dist/bin/start.js"], {
        cwd: REPO,
        env: {
          PATH: process.env.PATH,
          TRUSTLOG_DATA_DIR: dataDir,
          TRUSTLOG_PORT: String(port),
          TRUSTLOG_WITNESS_PORT: "off",
          TRUSTLOG_SCIM_PORT: "off",
          TRUSTLOG_LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      child.stderr!.on("data", (d) => (out += d));
      const t0 = Date.now();
      while (!out.includes("log server:")) {
        if (child.exitCode !== null || Date.now() - t0 > 45_000) throw new Error(`start failed:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Migrations applied (from migrations/, not dist/migrations/): the log serves its checkpoint.
      const checkpoint = await fetch(`http://127.0.0.1:${port}/checkpoint`);
      expect(checkpoint.status).toBe(200);
      // The explorer, built from explorer/ in the package root (not dist/explorer/).
      const index = await fetch(`http://127.0.0.1:${port}/`);
      expect(index.status).toBe(200);
      expect(await index.text()).toMatch(/explorer\/main-[A-Z0-9]+\.js/);
    } finally {
      child?.kill("SIGTERM");
      if (child && child.exitCode === null) await new Promise((r) => child!.once("exit", r));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
