// A trustlog log held in memory and served over HTTP (checkpoint, hash tiles, entry bundles), for
// the auditing witness's tests and benchmark. Entries are real signed key events; each batch is
// closed by an index leaf whose root is the one core's LogReplayer computes (an oracle replayer
// is fed everything appended, and a placeholder index leaf tells it to update its trie), so the
// fixture stays right whatever the index trie holds. Anything may be appended raw, including
// entries that break the rules.

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { sha256 } from "@noble/hashes/sha2.js";
import { Hono } from "hono";
import { concat, toBase64, utf8 } from "../../core/bytes.js";
import { formatIndexLeaf } from "../../core/chain-index.js";
import { formatCheckpoint } from "../../core/checkpoint.js";
import { ed25519 } from "../../core/ed25519.js";
import { encodeEntryBundle } from "../../core/entry-bundle.js";
import type { Envelope } from "../../core/event.js";
import { accountInvite, grantIssue, keyAdd, orgCreate, sealEvent } from "../../core/event-build.js";
import { inviteKeyFromSecret } from "../../core/invite.js";
import { canonicalBytes } from "../../core/jcs.js";
import { LogReplayer } from "../../core/log-replay.js";
import {
  type HashReader,
  leafHash,
  type NodeId,
  nodeHash,
  rootHashSync,
  type SyncHashReader,
} from "../../core/merkle.js";
import { type NoteSigner, signNote } from "../../core/note.js";
import { generateSignerKey, parseSignerKey } from "../../core/note-keys.js";
import { proveConsistencySync } from "../../core/proof.js";
import { parseTilePath, TILE_HEIGHT, TILE_WIDTH } from "../../core/tile-paths.js";

export const T0 = 1_800_000_000;
const seed = (label: string) => sha256(utf8(label));
export const ADMIN = seed("fixture admin");
export const DELEGATE = seed("fixture delegate");
export const pub = (s: Uint8Array) => toBase64(ed25519().publicKey(s));

/** Every perfect-subtree hash, grown leaf by leaf: serves any size up to the current one. */
class GrowingTree implements HashReader, SyncHashReader {
  private readonly levels: Uint8Array[][] = [[]];

  push(h: Uint8Array): void {
    let level = 0;
    this.levels[0]!.push(h);
    let i = this.levels[0]!.length - 1;
    while (i % 2 === 1) {
      const row = this.levels[level]!;
      const parent = nodeHash(row[i - 1]!, row[i]!);
      level++;
      if (!this.levels[level]) this.levels[level] = [];
      this.levels[level]!.push(parent);
      i = this.levels[level]!.length - 1;
    }
  }

  readHashesSync(nodes: readonly NodeId[]): Uint8Array[] {
    return nodes.map(({ level, index }) => {
      const h = this.levels[level]?.[index];
      if (!h) throw new Error(`no node ${level}/${index}`);
      return h;
    });
  }

  async readHashes(nodes: readonly NodeId[]): Promise<Uint8Array[]> {
    return this.readHashesSync(nodes);
  }
}

export class AuditLog {
  readonly leaves: Uint8Array[] = [];
  readonly hashes: Uint8Array[] = [];
  readonly origin: string;
  readonly vkey: string;
  private readonly signer: NoteSigner;
  private readonly oracle = new LogReplayer();
  private open = 0;
  private readonly tree = new GrowingTree();
  /** The size served at /checkpoint (and the most the tiles serve); default everything. */
  published: number | undefined;
  accounts = 0;

  constructor(origin = "audit.example/log", keySeed = "fixture log") {
    this.origin = origin;
    const k = generateSignerKey(origin, seed(keySeed));
    this.vkey = k.vkey;
    this.signer = parseSignerKey(k.skey);
  }

  get size(): number {
    return this.leaves.length;
  }

  private push(leaf: Uint8Array): number {
    const index = this.leaves.length;
    this.leaves.push(leaf);
    this.hashes.push(leafHash(leaf));
    this.tree.push(this.hashes[index]!);
    return index;
  }

  /** Appends an event (also to the oracle, which ignores what breaks the rules). */
  append(e: Envelope): number {
    const leaf = canonicalBytes(e);
    const index = this.push(leaf);
    this.oracle.apply(index, leaf, this.hashes[index]!);
    this.open++;
    return index;
  }

  /** Appends bytes as they are (the oracle does not see them). */
  appendRaw(leaf: Uint8Array): number {
    this.open++;
    return this.push(leaf);
  }

  /** Closes the batch with the index leaf core computes (or `root`, a lying one). */
  seal(opts: { root?: Uint8Array; time?: number } = {}): number {
    const index = this.leaves.length;
    const time = opts.time ?? (T0 + 5) * 1000;
    // The oracle's trie after this batch: a placeholder leaf makes it fold the batch's heads in.
    this.oracle.apply(
      index,
      formatIndexLeaf({ size: index, time, root: new Uint8Array(32) }),
      new Uint8Array(32),
    );
    const leaf = formatIndexLeaf({ size: index, time, root: opts.root ?? this.oracle.trie.root() });
    this.open = 0;
    return this.push(leaf);
  }

  hash(i: number): Uint8Array {
    return this.hashes[i]!;
  }

  /** A reader of the tree at any size up to the current one. */
  reader(_size = this.size): HashReader & SyncHashReader {
    return this.tree;
  }

  note(size = this.published ?? this.size): string {
    const r = this.reader(size);
    const root = rootHashSync(size, r);
    return signNote(formatCheckpoint({ origin: this.origin, size, root, extensions: [] }), [this.signer]);
  }

  proof(from: number, to = this.published ?? this.size): Uint8Array[] {
    if (from === 0 || from === to) return [];
    return proveConsistencySync(from, to, this.reader(to));
  }

  /** The org "acme" and a SCIM grant (one batch). */
  genesis(): void {
    const org = this.append(
      sealEvent(
        orgCreate({
          org: "acme",
          time: T0,
          actor: { role: "admin", key: pub(ADMIN) },
          name: "Acme",
          admins: [pub(ADMIN)],
          threshold: 1,
        }),
        [ADMIN],
      ),
    );
    this.append(
      sealEvent(
        grantIssue({
          org: "acme",
          seq: 1,
          prev: this.hash(org),
          time: T0 + 1,
          actor: { role: "admin", key: pub(ADMIN) },
          id: "scim",
          delegate: pub(DELEGATE),
          ops: ["account.invite", "account.suspend"],
          accounts: ["*"],
          notBefore: T0,
          notAfter: T0 + 10 * 86_400,
          note: "fixture",
        }),
        [ADMIN],
      ),
    );
    this.seal();
  }

  /**
   * Invites `n` more accounts and adds their first keys, sealing every `batch` events (and the
   * rest at the end, unless `sealLast` is false).
   */
  grow(n: number, batch = 100, sealLast = true): void {
    for (let i = 0; i < n; i++) {
      const a = this.accounts++;
      const secret = seed(`secret ${a}`);
      const subject = `user${a}`;
      const invite = this.append(
        sealEvent(
          accountInvite({
            org: "acme",
            subject,
            time: T0 + 2,
            actor: { role: "delegate", key: pub(DELEGATE), grant: "scim" },
            inviteSecret: secret,
          }),
          [DELEGATE],
        ),
      );
      this.append(this.firstKey(a, this.hash(invite)));
      if (this.open >= batch) this.seal();
    }
    if (this.open > 0 && sealLast) this.seal();
  }

  /** Account `a`'s first key.add (seq 1 after its invite), signed as the rules want. */
  firstKey(a: number, prev: Uint8Array, keyLabel = `key ${a}`): Envelope {
    const secret = seed(`secret ${a}`);
    const key = seed(keyLabel);
    return sealEvent(
      keyAdd({
        org: "acme",
        subject: `user${a}`,
        seq: 1,
        prev,
        time: T0 + 3,
        actor: { role: "self", key: pub(key) },
        key: { id: "k1", alg: "ed25519", use: "sign", pub: pub(key) },
      }),
      [key, inviteKeyFromSecret(secret).seed],
    );
  }

  /** Index of account `a`'s invite (accounts are grown in order after the genesis batch). */
  inviteIndex(a: number): number {
    for (let i = 0; i < this.leaves.length; i++) {
      const text = new TextDecoder().decode(this.leaves[i]!);
      if (text.includes(`"subject":"user${a}"`) && text.includes('"type":"account.invite"')) return i;
    }
    throw new Error(`no invite of user${a}`);
  }

  /** Serves /checkpoint, hash tiles and entry bundles, up to `published`. */
  async serve(
    opts: { delayMs?: number } = {},
  ): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
    const app = new Hono();
    const requests: string[] = [];
    app.use(async (c, next) => {
      requests.push(new URL(c.req.url).pathname);
      // A slow log (or network), so that a test can stop the auditor in the middle of a round.
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      await next();
    });
    app.get("/checkpoint", (c) => c.text(this.note()));
    app.get("/tile/*", (c) => {
      let t: ReturnType<typeof parseTilePath>;
      try {
        t = parseTilePath(c.req.path.slice(1));
      } catch {
        return c.notFound();
      }
      const size = this.published ?? this.size;
      const level = t.kind === "hash" ? t.level : 0;
      const below = Math.floor(size / TILE_WIDTH ** level);
      if (t.width > below - t.index * TILE_WIDTH) return c.notFound();
      let body: Uint8Array;
      if (t.kind === "hash") {
        const r = this.tree;
        const h = level * TILE_HEIGHT;
        const nodes = Array.from({ length: t.width }, (_, i) => ({
          level: h,
          index: t.index * TILE_WIDTH + i,
        }));
        body = concat(...r.readHashesSync(nodes));
      } else {
        body = encodeEntryBundle(this.leaves.slice(t.index * TILE_WIDTH, t.index * TILE_WIDTH + t.width));
      }
      return new Response(body as Uint8Array<ArrayBuffer>, {
        headers: { "Content-Type": "application/octet-stream" },
      });
    });
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    });
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      requests,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
    };
  }
}
