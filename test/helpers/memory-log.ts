// The one in-memory log of the tests and benchmarks, real crypto, no mocks.
//
// `LogCore` is what every in-memory log shares: the leaves (anything may be appended, including
// entries that break the rules), their tree grown leaf by leaf (so it serves every size up to the
// current one, and a test may truncate or extend `leaves` directly), the batch-closing index
// leaves, checkpoints signed with the log key (and any cosigners), inclusion and consistency
// proofs, hash tiles and entry bundles, and `serveLog`, the C2SP read API over HTTP (checkpoint,
// tiles, entry bundles, /v1/proof/consistency).
//
// Its index of chain heads is kept one of two ways:
//   - "fold" (default): every event appended is folded in by core/index-entries.ts IndexFolder,
//     without the policy, as the sequencer folds what it accepted; an event appended with
//     `indexed: false` is left out (a dishonest log keeping a fork off its index);
//   - "replay": an oracle core/log-replay.ts LogReplayer is fed every event, and the index leaf
//     commits to its trie, so the policy decides what is in the index (what an auditor expects,
//     whatever breaks the rules).
//
// On it:
//   - `MemoryLog` (here): the client's log, with witnesses, history bundles as
//     server/routes/history.ts serves them, a served size and hidden entries for a dishonest log;
//   - `AuditLog` (test/witness/audit-fixture.ts): the auditing witness's log ("replay" index);
//   - `TestLog` (test/witness/helpers.ts): a plain C2SP log of opaque leaves, no index leaves, for
//     the witness protocol, and startFixtureLog (test/witness/fixture-log.ts) serving it;
//   - the log of test/core/log-replay.test.ts, which closes batches with lying index leaves.

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import type { TileSource } from "../../client/audit.js";
import type { BundleEventJson, HistoryBundleJson } from "../../client/bundle.js";
import type { HistorySource } from "../../client/verify-key.js";
import { concat, toBase64 } from "../../core/bytes.js";
import { chainKey, formatIndexLeaf, isIndexLeaf } from "../../core/chain-index.js";
import { formatCheckpoint } from "../../core/checkpoint.js";
import { cosignatureSigner } from "../../core/cosignature.js";
import { ed25519 } from "../../core/ed25519.js";
import { encodeEntryBundle } from "../../core/entry-bundle.js";
import { type Envelope, type KeyEvent, parseEventTime } from "../../core/event.js";
import { accountInvite, grantIssue, keyAdd, orgCreate, sealEvent } from "../../core/event-build.js";
import { chainEventRef, IndexFolder, subchainOf } from "../../core/index-entries.js";
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
import { encodeTrieProof, Trie } from "../../core/mpt.js";
import { NOTE_TYPE_COSIGNATURE_V1, type NoteSigner, signNote } from "../../core/note.js";
import { generateSignerKey, parseSignerKey } from "../../core/note-keys.js";
import { proveConsistencySync, proveInclusionSync } from "../../core/proof.js";
import { parseTilePath, TILE_HEIGHT, TILE_WIDTH, type TileId } from "../../core/tile-paths.js";

export const ORIGIN = "log.test.example";
export const T0 = 1_800_000_000;

export function seed(n: number): Uint8Array {
  return new Uint8Array(32).fill(n);
}
export function pub(s: Uint8Array): string {
  return toBase64(ed25519().publicKey(s));
}

export interface Witness {
  name: string;
  vkey: string;
  signer: NoteSigner;
}

export function makeWitness(name: string, s: Uint8Array, clock = () => T0): Witness {
  const { vkey } = generateSignerKey(name, s, NOTE_TYPE_COSIGNATURE_V1);
  return { name, vkey, signer: cosignatureSigner(name, s, clock) };
}

/** Every perfect-subtree hash, grown leaf by leaf: serves any size up to the current one. */
export class GrowingTree implements HashReader, SyncHashReader {
  private readonly levels: Uint8Array[][] = [[]];

  get size(): number {
    return this.levels[0]!.length;
  }

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

export interface LogCoreOptions {
  origin: string;
  /** The log key's seed (32 bytes). */
  keySeed: Uint8Array;
  /** The key's name, default the origin. */
  keyName?: string;
  /** How the index of chain heads is kept (see the header), default "fold". */
  index?: "fold" | "replay";
}

export class LogCore {
  /** The entries, in order. Tests may push or truncate directly (the tree follows). */
  readonly leaves: Uint8Array[] = [];
  /** The envelope of each event leaf; undefined for index leaves and raw leaves. */
  readonly envelopes: (Envelope | undefined)[] = [];
  readonly origin: string;
  readonly logSigner: NoteSigner;
  readonly skey: string;
  readonly vkey: string;
  private grown = new GrowingTree();
  private readonly indexMode: "fold" | "replay";
  // "fold": the folder, the trie after the last index leaf and the heads since.
  private readonly folder = new IndexFolder();
  private trie = Trie.empty();
  private pendingHeads: (readonly [Uint8Array, Uint8Array])[] = [];
  /** The trie after each index leaf, by the size that leaf ends ("fold" only). */
  protected readonly tries = new Map<number, Trie>();
  // "replay": the oracle.
  private readonly oracle = new LogReplayer();

  constructor(opts: LogCoreOptions) {
    this.origin = opts.origin;
    const { skey, vkey } = generateSignerKey(opts.keyName ?? opts.origin, opts.keySeed);
    this.skey = skey;
    this.vkey = vkey;
    this.logSigner = parseSignerKey(skey);
    this.indexMode = opts.index ?? "fold";
  }

  /** The tree over `leaves` as they are now. */
  reader(_size?: number): HashReader & SyncHashReader {
    if (this.grown.size > this.leaves.length) this.grown = new GrowingTree();
    for (let i = this.grown.size; i < this.leaves.length; i++) this.grown.push(leafHash(this.leaves[i]!));
    return this.grown;
  }

  /** Leaf hash of entry `i` (a chain's `prev`). */
  hash(i: number): Uint8Array {
    return this.reader().readHashesSync([{ level: 0, index: i }])[0]!;
  }

  /** Appends bytes as they are, with no index bookkeeping. */
  appendRaw(leaf: Uint8Array): number {
    return this.pushLeaf(leaf);
  }

  private pushLeaf(leaf: Uint8Array): number {
    this.leaves.push(leaf);
    if (this.envelopes.length > this.leaves.length) this.envelopes.length = this.leaves.length;
    while (this.envelopes.length < this.leaves.length) this.envelopes.push(undefined);
    return this.leaves.length - 1;
  }

  /**
   * Appends an event's leaf and folds it into the index (in "fold" mode unless `indexed` is
   * false; in "replay" mode the oracle judges it).
   */
  protected appendEvent(leaf: Uint8Array, event: KeyEvent, envelope?: Envelope, indexed = true): number {
    const index = this.pushLeaf(leaf);
    this.envelopes[index] = envelope;
    if (this.indexMode === "replay") this.oracle.apply(index, leaf, this.hash(index));
    else if (indexed)
      this.pendingHeads.push(...this.folder.entries(chainEventRef(event), index, this.hash(index)));
    return index;
  }

  /**
   * Closes the batch with an index leaf at `time` (ms) committing to the index; `size` and
   * `root` override what it says (a lying log).
   */
  protected appendIndexLeaf(time: number, lie: { size?: number; root?: Uint8Array } = {}): number {
    const index = this.leaves.length;
    let root: Uint8Array;
    if (this.indexMode === "replay") {
      // The oracle's trie after this batch: a placeholder leaf makes it fold the batch's heads in.
      this.oracle.apply(
        index,
        formatIndexLeaf({ size: index, time, root: new Uint8Array(32) }),
        new Uint8Array(32),
      );
      root = this.oracle.trie.root();
    } else {
      this.trie = this.trie.setMany(this.pendingHeads);
      this.pendingHeads = [];
      this.tries.set(index + 1, this.trie);
      root = this.trie.root();
    }
    return this.pushLeaf(formatIndexLeaf({ size: lie.size ?? index, time, root: lie.root ?? root }));
  }

  /**
   * Puts `entries` (sorted trie keys and values, say a million other chains) into the index
   * before anything is logged: a benchmark's stand-in for a large log ("fold" only).
   */
  seedIndex(entries: Iterable<readonly [Uint8Array, Uint8Array]>): void {
    if (this.leaves.length > 0) throw new Error("seed the index before appending");
    this.trie = Trie.fromSorted(entries);
  }

  /** The index trie committed to by the index leaf ending at `size` ("fold" only). */
  trieAt(size: number): Trie {
    return this.tries.get(size) ?? Trie.empty();
  }

  rootAt(size: number): Uint8Array {
    return rootHashSync(size, this.reader());
  }

  /** The checkpoint of `size`, signed by the log and `cosigners`. */
  signCheckpoint(size: number, cosigners: readonly NoteSigner[] = []): string {
    const body = formatCheckpoint({ origin: this.origin, size, root: this.rootAt(size), extensions: [] });
    return signNote(body, [this.logSigner, ...cosigners]);
  }

  inclusionProof(index: number, size: number): Uint8Array[] {
    return proveInclusionSync(index, size, this.reader());
  }

  /** Consistency proof from `from` to `to` (empty when from is 0 or to). */
  consistencyProof(from: number, to: number): Uint8Array[] {
    if (from === 0 || from === to) return [];
    return proveConsistencySync(from, to, this.reader());
  }

  hashTile(t: TileId): Uint8Array {
    const level = t.level * TILE_HEIGHT;
    const nodes = Array.from({ length: t.width }, (_, i) => ({ level, index: t.index * TILE_WIDTH + i }));
    return concat(...this.reader().readHashesSync(nodes));
  }

  entryBundleTile(index: number, width: number): Uint8Array {
    return encodeEntryBundle(this.leaves.slice(index * TILE_WIDTH, index * TILE_WIDTH + width));
  }
}

/** What `serveLog` shows at a moment: a log, the size of its checkpoint, the size its tiles reach. */
export interface ServedView {
  log: LogCore;
  /** The size of /checkpoint. */
  size: number;
  /** Tiles exist up to this size (default `size`). */
  tiles?: number;
}

export interface ServedLog {
  url: string;
  /** Paths requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serves a log's C2SP read API on loopback: /checkpoint (signed by the log alone), hash tiles,
 * entry bundles when `entries`, /v1/proof/consistency when `consistency`. `view` is read on
 * every request, so a test may swap what is shown (a fork) or grow the log.
 */
export async function serveLog(
  view: () => ServedView,
  opts: { entries?: boolean; consistency?: boolean; delayMs?: number } = {},
): Promise<ServedLog> {
  const app = new Hono();
  const requests: string[] = [];
  app.use(async (c, next) => {
    requests.push(new URL(c.req.url).pathname);
    // A slow log (or network), so that a test can stop a client in the middle of a round.
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    await next();
  });
  app.get("/checkpoint", (c) => {
    const v = view();
    return c.text(v.log.signCheckpoint(v.size));
  });
  app.get("/tile/*", (c) => {
    let t: ReturnType<typeof parseTilePath>;
    try {
      t = parseTilePath(c.req.path.slice(1));
    } catch {
      return c.notFound();
    }
    if (t.kind === "entries" && !opts.entries) return c.notFound();
    const v = view();
    const size = v.tiles ?? v.size;
    const level = t.kind === "hash" ? t.level : 0;
    const below = Math.floor(size / TILE_WIDTH ** level);
    if (t.width > below - t.index * TILE_WIDTH) return c.notFound();
    const body = t.kind === "hash" ? v.log.hashTile(t) : v.log.entryBundleTile(t.index, t.width);
    return new Response(body as Uint8Array<ArrayBuffer>, {
      headers: { "Content-Type": "application/octet-stream" },
    });
  });
  if (opts.consistency)
    app.get("/v1/proof/consistency", (c) => {
      const from = Number(c.req.query("from"));
      const to = Number(c.req.query("to"));
      const v = view();
      if (!(from <= to && to <= v.size)) return c.json({ error: { code: "BAD_RANGE" } }, 400);
      return c.json({ from, to, hashes: v.log.consistencyProof(from, to).map(toBase64) });
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

/**
 * An honest (or, when a test says so, dishonest) trustlog log: it appends whatever envelopes it
 * is given WITHOUT the policy, closes each batch (the events appended since the last read) with
 * an index leaf as the real sequencer does, signs checkpoints with a log key, has witnesses
 * cosign them, and serves history bundles exactly as server/routes/history.ts does. Tests use it
 * to build histories a real server would refuse.
 */
export class MemoryLog extends LogCore implements HistorySource, TileSource {
  private lastIndexTime = 0;
  private batchTime = 0;
  /** The time (ms) the next index leaf records; default: the batch's latest event time. */
  indexTime: number | undefined;
  readonly witnesses: Witness[];
  /** Which witnesses cosign served checkpoints (by default all). */
  cosigners: Witness[];
  /** The size the log serves bundles at (by default everything). */
  servedSize: number | undefined;
  /** Indices the log leaves out of bundles (a dishonest log). */
  readonly hidden = new Set<number>();

  constructor(opts: { logSeed?: Uint8Array; witnesses?: number } = {}) {
    super({ origin: ORIGIN, keySeed: opts.logSeed ?? seed(200) });
    this.witnesses = Array.from({ length: opts.witnesses ?? 3 }, (_, i) =>
      makeWitness(`witness-${i}.example`, seed(210 + i)),
    );
    this.cosigners = this.witnesses;
  }

  /**
   * Appends an event. `indexed: false` leaves it out of the index of chain heads (a dishonest
   * log keeping a fork off its index, so that auditors recomputing the index see the real head).
   */
  append(envelope: Envelope, opts: { indexed?: boolean } = {}): { index: number; leafHash: Uint8Array } {
    const index = this.appendEvent(
      canonicalBytes(envelope),
      envelope.event,
      envelope,
      opts.indexed !== false,
    );
    this.batchTime = Math.max(this.batchTime, parseEventTime(envelope.event.time)! * 1000);
    return { index, leafHash: this.hash(index) };
  }

  /** Closes the current batch with its index leaf, as the sequencer does after each batch. */
  seal(): void {
    const last = this.leaves[this.leaves.length - 1];
    if (last === undefined || isIndexLeaf(last)) return;
    const time = Math.max(this.indexTime ?? this.batchTime, this.lastIndexTime);
    this.lastIndexTime = time;
    this.batchTime = 0;
    this.appendIndexLeaf(time);
  }

  get size(): number {
    if (this.servedSize !== undefined) return this.servedSize;
    this.seal();
    return this.leaves.length;
  }

  checkpointNote(size = this.size, cosigners = this.cosigners): string {
    return this.signCheckpoint(
      size,
      cosigners.map((w) => w.signer),
    );
  }

  private events(size: number, match: (e: Envelope) => boolean): BundleEventJson[] {
    const out: BundleEventJson[] = [];
    for (let i = 0; i < size; i++) {
      const e = this.envelopes[i];
      if (this.hidden.has(i) || e === undefined || !match(e)) continue;
      out.push({
        index: i,
        envelope: toBase64(this.leaves[i]!),
        inclusion: this.inclusionProof(i, size).map(toBase64),
      });
    }
    return out;
  }

  private bundle(org: string, account: string | undefined, from?: number): HistoryBundleJson {
    const size = this.size;
    const isOrg = (e: Envelope) => e.event.org === org && e.event.subject === org;
    const trie = this.trieAt(size);
    const isAccount = (e: Envelope) => e.event.org === org && e.event.subject === account && !isOrg(e);
    // An account's bundle carries the org's authority and the grants its events act under.
    const used = new Set<string>();
    if (account !== undefined)
      for (const e of this.events(size, isAccount)) {
        const actor = this.envelopes[e.index]!.event.actor;
        if (actor.role === "delegate") used.add(actor.grant);
      }
    const wanted = (e: Envelope) => {
      if (!isOrg(e)) return false;
      if (account === undefined) return true;
      const where = subchainOf(e.event);
      return where?.kind === "authority" || (where?.kind === "grant" && used.has(where.grant));
    };
    const orgEvents = this.events(size, wanted);
    const b: HistoryBundleJson = {
      version: account === undefined ? 1 : 2,
      checkpoint: this.checkpointNote(size),
      org,
      orgEvents,
      lookup: {
        index: size - 1,
        leaf: toBase64(this.leaves[size - 1]!),
        inclusion: this.inclusionProof(size - 1, size).map(toBase64),
        org: toBase64(encodeTrieProof(trie.prove(chainKey("org", org)))),
      },
      covers: [],
    };
    if (account !== undefined) {
      b.account = account;
      b.accountEvents = this.events(size, isAccount);
      b.lookup.account = toBase64(encodeTrieProof(trie.prove(chainKey("account", org, account))));
      b.lookup.authority = toBase64(encodeTrieProof(trie.prove(chainKey("authority", org))));
      b.lookup.grants = [...used].sort().map((id) => ({
        id,
        proof: toBase64(encodeTrieProof(trie.prove(chainKey("grant", org, id)))),
      }));
    }
    const covers = new Set<number>();
    for (const e of [...orgEvents, ...(b.accountEvents ?? [])]) {
      for (let i = e.index + 1; i < size; i++) {
        if (isIndexLeaf(this.leaves[i]!)) {
          covers.add(i);
          break;
        }
      }
    }
    b.covers = [...covers]
      .sort((x, y) => x - y)
      .map((i) => ({
        index: i,
        envelope: toBase64(this.leaves[i]!),
        inclusion: this.inclusionProof(i, size).map(toBase64),
      }));
    if (from !== undefined && from > 0 && from <= size) {
      b.consistency = { from, hashes: proveConsistencySync(from, size, this.reader()).map(toBase64) };
    }
    return b;
  }

  async orgProof(org: string, from?: number): Promise<HistoryBundleJson> {
    return this.bundle(org, undefined, from);
  }
  async accountProof(org: string, account: string, from?: number): Promise<HistoryBundleJson> {
    return this.bundle(org, account, from);
  }
  // The C2SP read API (client/audit.ts TileSource).
  async checkpoint(): Promise<string> {
    return this.checkpointNote();
  }
  async tile(t: TileId): Promise<Uint8Array> {
    void this.size; // seals the open batch, as the served tree does
    return this.hashTile(t);
  }
  async entryBundle(index: number, width: number): Promise<Uint8Array> {
    return this.entryBundleTile(index, width);
  }
  async consistency(from: number, to: number): Promise<Uint8Array[]> {
    return proveConsistencySync(from, to, this.reader());
  }
}

export const ADMIN = seed(1);
export const DELEGATE = seed(2);
export const ALICE_SIGN = seed(3);
export const INVITE_SECRET = new Uint8Array(32).fill(4);

/**
 * The common history: acme is created by one admin, who grants a SCIM bridge the delegable ops
 * for every account; the bridge invites alice, who adds her signing key with the invite secret.
 */
export function standardHistory(log: MemoryLog): { org: number; grant: number; invite: number; key: number } {
  const org = log.append(
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
  ).index;
  const grant = log.append(
    sealEvent(
      grantIssue({
        org: "acme",
        seq: 1,
        prev: log.hash(org),
        time: T0 + 10,
        actor: { role: "admin", key: pub(ADMIN) },
        id: "scim-1",
        delegate: pub(DELEGATE),
        ops: ["account.invite", "account.suspend", "account.reactivate", "account.delete", "key.revoke"],
        accounts: ["*"],
        notBefore: T0,
        notAfter: T0 + 86_400,
        note: "SCIM bridge",
      }),
      [ADMIN],
    ),
  ).index;
  const invite = log.append(
    sealEvent(
      accountInvite({
        org: "acme",
        subject: "alice",
        time: T0 + 20,
        actor: { role: "delegate", key: pub(DELEGATE), grant: "scim-1" },
        inviteSecret: INVITE_SECRET,
      }),
      [DELEGATE],
    ),
  ).index;
  const key = log.append(
    sealEvent(
      keyAdd({
        org: "acme",
        subject: "alice",
        seq: 1,
        prev: log.hash(invite),
        time: T0 + 30,
        actor: { role: "self", key: pub(ALICE_SIGN) },
        key: { id: "sign-1", alg: "ed25519", use: "sign", pub: pub(ALICE_SIGN) },
      }),
      [ALICE_SIGN, inviteKeyFromSecret(INVITE_SECRET).seed],
    ),
  ).index;
  return { org, grant, invite, key };
}
