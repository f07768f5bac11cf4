// Shared scenario helpers for the witness tests: a tiny in-memory log that signs checkpoints
// with a real Ed25519 key, witness keys, and config builders. Real crypto, no mocks.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utf8 } from "../../core/bytes.js";
import { formatCheckpoint } from "../../core/checkpoint.js";
import { NOTE_TYPE_COSIGNATURE_V1 } from "../../core/note.js";
import { generateSignerKey } from "../../core/note-keys.js";
import type { WitnessConfigInput } from "../../witness/config.js";
import { LogCore } from "../helpers/memory-log.js";

export function seed(n: number): Uint8Array {
  return new Uint8Array(32).fill(n);
}

/**
 * A plain C2SP log held in memory (test/helpers/memory-log.ts LogCore): opaque leaves and no
 * index leaves, since the witness protocol knows nothing of trustlog's entries; append leaves,
 * sign checkpoints, prove consistency. Asynchronous, as the witness's readers are.
 */
export class TestLog extends LogCore {
  constructor(
    origin: string,
    private readonly keySeed = 1,
    private readonly keyName = origin,
  ) {
    super({ origin, keySeed: seed(keySeed), keyName });
  }

  /** Appends n leaves whose content depends on `tag` (different tags give forks). */
  append(n: number, tag = "a"): this {
    for (let i = 0; i < n; i++) this.appendRaw(utf8(`${tag}-${this.leaves.length}`));
    return this;
  }

  /** A copy with the same key and leaves, to grow differently. */
  fork(): TestLog {
    const f = new TestLog(this.origin, this.keySeed, this.keyName);
    f.leaves.push(...this.leaves);
    return f;
  }

  get size(): number {
    return this.leaves.length;
  }

  async root(size = this.size): Promise<Uint8Array> {
    return this.rootAt(size);
  }

  async checkpointBody(size = this.size): Promise<string> {
    return formatCheckpoint({ origin: this.origin, size, root: this.rootAt(size), extensions: [] });
  }

  async note(size = this.size): Promise<string> {
    return this.signCheckpoint(size);
  }

  async proof(oldSize: number, newSize = this.size): Promise<Uint8Array[]> {
    return this.consistencyProof(oldSize, newSize);
  }
}

export function witnessKey(name: string, keySeed: number): { skey: string; vkey: string } {
  return generateSignerKey(name, seed(keySeed), NOTE_TYPE_COSIGNATURE_V1);
}

export function tempDir(prefix = "trustlog-witness-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a key file and returns a config input for startWitness / the CLI. */
export function witnessConfig(opts: {
  dir: string;
  key: { skey: string };
  logs: { origin: string; vkeys: string[]; url?: string }[];
  peers?: { url: string; vkey: string }[];
  databaseUrl?: string;
  port?: number;
}): WitnessConfigInput {
  const keyFile = join(opts.dir, "witness.key");
  writeFileSync(keyFile, `${opts.key.skey}\n`, { mode: 0o600 });
  return {
    host: "127.0.0.1",
    port: opts.port ?? 0,
    keyFile,
    dataDir: join(opts.dir, "pglite"),
    // Without a PostgreSQL URL the witness runs on PGlite, which it refuses unless allowed.
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : { allowPglite: true }),
    logs: opts.logs,
    peers: opts.peers ?? [],
    pullIntervalSeconds: 0,
    gossipIntervalSeconds: 0,
    logLevel: "silent",
  };
}
