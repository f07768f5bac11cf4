// Trust state in a JSON file (Node only): one file holds the state of every log, keyed by the
// log's verifier key. Writes go to a temporary file that is synced and renamed over the old
// one, so a crash leaves either the old state or the new, never half of one. Concurrent
// processes sharing a file are not locked against each other; compare-and-save still refuses to
// overwrite a version it did not read.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { TrustlogError } from "../core/errors.js";
import { emptyTrustState, parseTrustState, type TrustState, type TrustStore } from "./trust-store.js";

export class FileTrustStore implements TrustStore {
  constructor(readonly path: string) {}

  private readAll(): Record<string, unknown> {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw e;
    }
    try {
      const v = JSON.parse(text) as unknown;
      if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // fall through
    }
    throw new TrustlogError("TRUST_STATE_CORRUPT", `${this.path} is not a trust state file`);
  }

  async load(log: string): Promise<TrustState> {
    const v = this.readAll()[log];
    return v === undefined ? emptyTrustState() : parseTrustState(JSON.stringify(v));
  }

  async compareAndSave(log: string, expectedVersion: number, next: TrustState): Promise<boolean> {
    // Synchronous read-check-write: no other caller in this process can interleave.
    const all = this.readAll();
    const current = all[log] === undefined ? emptyTrustState() : parseTrustState(JSON.stringify(all[log]));
    if (current.version !== expectedVersion) return false;
    all[log] = { ...next, version: expectedVersion + 1 };
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify(all, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    return true;
  }
}
