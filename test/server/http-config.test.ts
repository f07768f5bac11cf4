// The server's configuration and key file: flags win over the environment, bad values are
// refused with CONFIG_INVALID naming the field, keys are written 0600 and never overwritten.

import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSignerKey } from "../../core/note-keys.js";
import { keyFilePath, loadServerConfig, pgliteDir } from "../../server/config.js";
import { loadOrCreateLogKey, writeNewSignerKey } from "../../server/keys.js";

describe("server configuration", () => {
  it("has working defaults", () => {
    const c = loadServerConfig({});
    expect(c).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      origin: "trustlog.example/log",
      dataDir: "./data",
    });
    expect(c.databaseUrl).toBeUndefined();
    expect(keyFilePath(c)).toBe(join("./data", "log.key"));
    expect(pgliteDir(c)).toBe(join("./data", "pglite"));
    expect(c.tileCacheTiles).toBe(8192);
  });

  it("sizes the tile cache from TRUSTLOG_TILE_CACHE_TILES", () => {
    expect(loadServerConfig({ TRUSTLOG_TILE_CACHE_TILES: "65536" }).tileCacheTiles).toBe(65536);
  });

  it("reads TRUSTLOG_* and DATABASE_URL, and flags override them", () => {
    const env = {
      TRUSTLOG_PORT: "9000",
      TRUSTLOG_ORIGIN: "log.example.com/a",
      DATABASE_URL: "postgres://db/x",
      TRUSTLOG_BATCH_SIZE: "50",
      TRUSTLOG_WITNESSES: '[{"name":"w1","vkey":"w1+00000000+AQ==","url":"http://w1.example"}]',
      TRUSTLOG_QUORUM: "1",
    };
    const c = loadServerConfig(env, { port: "9100", batchSize: undefined });
    expect(c).toMatchObject({
      port: 9100,
      origin: "log.example.com/a",
      databaseUrl: "postgres://db/x",
      batchSize: 50,
      quorum: 1,
    });
    expect(c.witnesses).toHaveLength(1);
  });

  it.each([
    [{ TRUSTLOG_PORT: "http" }, "port"],
    [{ TRUSTLOG_PORT: "70000" }, "port"],
    [{ TRUSTLOG_ORIGIN: "has space" }, "origin"],
    [{ TRUSTLOG_ORIGIN: "a+b" }, "origin"],
    [{ TRUSTLOG_LOG_LEVEL: "loud" }, "logLevel"],
    [{ TRUSTLOG_BATCH_SIZE: "0" }, "batchSize"],
    [{ TRUSTLOG_TILE_CACHE_TILES: "0" }, "tileCacheTiles"],
    [{ TRUSTLOG_WITNESSES: "not json" }, "TRUSTLOG_WITNESSES"],
  ])("refuses %o", (env, field) => {
    expect(() => loadServerConfig(env)).toThrow(
      expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringContaining(field) }),
    );
  });
});

describe("log key file", () => {
  const dir = mkdtempSync(join(tmpdir(), "trustlog-keys-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is generated once with mode 0600 in the Go PRIVATE+KEY format, then reused", () => {
    const file = join(dir, "sub", "log.key");
    const a = loadOrCreateLogKey(file, "log.example/x");
    expect(a.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, "utf8").trim();
    expect(text).toMatch(/^PRIVATE\+KEY\+log\.example\/x\+[0-9a-f]{8}\+/);
    expect(parseSignerKey(text).vkey).toBe(a.vkey);
    const b = loadOrCreateLogKey(file, "log.example/x");
    expect(b).toMatchObject({ created: false, vkey: a.vkey });
  });

  it("keygen never overwrites a key", () => {
    const file = join(dir, "k");
    writeNewSignerKey(file, "n");
    expect(() => writeNewSignerKey(file, "n")).toThrow(expect.objectContaining({ code: "KEY_FILE_EXISTS" }));
  });
});
