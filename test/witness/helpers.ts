// Shared scenario helpers for the witness tests: a tiny in-memory log that signs checkpoints
// with a real Ed25519 key, witness keys, and config builders. Real crypto, no mocks.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utf8 } from "../../core/bytes.js";
import { formatCheckpoint } from "../../core/checkpoint.js";
import { leafHash, memoryHashReader } from "../../core/merkle.js";
import { NOTE_TYPE_COSIGNATURE_V1, signNote } from "../../core/note.js";
import { generateSignerKey, parseSignerKey } from "../../core/note-keys.js";
import { proveConsistency } from "../../core/proof.js";
import type { WitnessConfigInput } from "../../witness/config.js";

export function seed(n: number): Uint8Array {
  return new Uint8Array(32).fill(n);
}

/** A log held in memory: append leaves, sign checkpoints, prove consistency. */
export class TestLog {
  readonly leaves: Uint8Array[] = [];
  readonly skey: string;
  readonly vkey: string;

  constructor(
    readonly origin: string,
    keySeed = 1,
    keyName = origin,
  ) {
    const k = generateSignerKey(keyName, seed(keySeed));
    this.skey = k.skey;
    this.vkey = k.vkey;
  }

  /** Appends n leaves whose content depends on `tag` (different tags give forks). */
  append(n: number, tag = "a"): this {
    for (let i = 0; i < n; i++) this.leaves.push(leafHash(utf8(`${tag}-${this.leaves.length}`)));
    return this;
  }

  fork(): TestLog {
    const f = Object.create(TestLog.prototype) as TestLog;
    Object.assign(f, this, { leaves: [...this.leaves], tree: undefined });
    return f;
  }

  get size(): number {
    return this.leaves.length;
  }

  // One memory tree over all leaves, rebuilt only after appends: any node of the tree at a
  // smaller size is a complete subtree, so the same reader serves every size.
  private tree: { leaves: number; reader: ReturnType<typeof memoryHashReader> } | undefined;

  reader(_size = this.size) {
    if (this.tree?.leaves !== this.leaves.length) {
      this.tree = { leaves: this.leaves.length, reader: memoryHashReader(this.leaves) };
    }
    return this.tree.reader;
  }

  async root(size = this.size): Promise<Uint8Array> {
    const { rootHash } = await import("../../core/merkle.js");
    return rootHash(size, this.reader(size));
  }

  async checkpointBody(size = this.size): Promise<string> {
    return formatCheckpoint({ origin: this.origin, size, root: await this.root(size), extensions: [] });
  }

  async note(size = this.size): Promise<string> {
    return signNote(await this.checkpointBody(size), [parseSignerKey(this.skey)]);
  }

  async proof(oldSize: number, newSize = this.size): Promise<Uint8Array[]> {
    if (oldSize === 0 || oldSize === newSize) return [];
    return proveConsistency(oldSize, newSize, this.reader(newSize));
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
