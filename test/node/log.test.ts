// Log lines: JSON where something reads them (a pipe, a file, a collector), readable on a
// terminal; TRUSTLOG_LOG_FORMAT decides when set. A child process's stderr is a pipe, so the
// tests that read a process's JSON lines keep working whatever the terminal.

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { logFormat } from "../../node/log.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

describe("log format", () => {
  it("is pretty on a terminal, JSON elsewhere, and TRUSTLOG_LOG_FORMAT overrides both", () => {
    expect(logFormat({}, true)).toBe("pretty");
    expect(logFormat({}, false)).toBe("json");
    expect(logFormat({ TRUSTLOG_LOG_FORMAT: "json" }, true)).toBe("json");
    expect(logFormat({ TRUSTLOG_LOG_FORMAT: "pretty" }, false)).toBe("pretty");
    expect(logFormat({ TRUSTLOG_LOG_FORMAT: "yaml" }, false)).toBe("json");
  });

  it("writes one JSON object per line to a pipe, and a readable line when asked", () => {
    const script =
      'import { createLogger } from "./node/log.ts"; createLogger({ name: "t" }).warn({ n: 1 }, "hello");';
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: REPO,
        env: { ...process.env, ...env },
        encoding: "utf8",
      }).stderr;
    const { TRUSTLOG_LOG_FORMAT: _, ...rest } = process.env;
    const json = JSON.parse(run({ ...(rest as Record<string, string>) }).trim());
    expect(json).toMatchObject({ level: 40, name: "t", n: 1, msg: "hello" });
    expect(run({ TRUSTLOG_LOG_FORMAT: "pretty" })).toMatch(/WARN \(t\): hello/);
  });
});
