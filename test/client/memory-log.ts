// An honest (or, when a test says so, dishonest) log held in memory: it appends whatever
// envelopes it is given WITHOUT the policy, closes each batch (the events appended since the
// last read) with an index leaf as the real sequencer does, signs checkpoints with a log key,
// has witnesses cosign them, and serves history bundles exactly as server/routes/history.ts
// does. Tests use it to build histories a real server would refuse.

import type { TileSource } from "../../client/audit.js";
import type { BundleEventJson, HistoryBundleJson } from "../../client/bundle.js";
import type { HistorySource } from "../../client/verify-key.js";
import { toBase64 } from "../../core/bytes.js";
import { chainKey, formatIndexLeaf, isIndexLeaf } from "../../core/chain-index.js";
import { formatCheckpoint } from "../../core/checkpoint.js";
import { cosignatureSigner } from "../../core/cosignature.js";
import { ed25519 } from "../../core/ed25519.js";
import { encodeEntryBundle } from "../../core/entry-bundle.js";
import { type Envelope, parseEventTime } from "../../core/event.js";
import { accountInvite, grantIssue, keyAdd, orgCreate, sealEvent } from "../../core/event-build.js";
import { chainEventRef, IndexFolder, subchainOf } from "../../core/index-entries.js";
import { inviteKeyFromSecret } from "../../core/invite.js";
import { canonicalBytes } from "../../core/jcs.js";
import { leafHash, memoryHashReader, rootHashSync, subtreeHashesSync } from "../../core/merkle.js";
import { encodeTrieProof, Trie } from "../../core/mpt.js";
import { NOTE_TYPE_COSIGNATURE_V1, type NoteSigner, signNote } from "../../core/note.js";
import { generateSignerKey, parseSignerKey } from "../../core/note-keys.js";
import { proveConsistencySync, proveInclusionSync } from "../../core/proof.js";
import type { TileId } from "../../core/tile-paths.js";

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

export class MemoryLog implements HistorySource, TileSource {
  readonly leaves: Uint8Array[] = [];
  /** The envelope of each leaf; undefined for index leaves. */
  readonly envelopes: (Envelope | undefined)[] = [];
  /** The trie after each index leaf, by that leaf's index. */
  private readonly tries = new Map<number, Trie>();
  /** The index's chain heads and sub-chains, folded event by event (no policy). */
  private readonly folder = new IndexFolder();
  private trie = Trie.empty();
  private pendingHeads: (readonly [Uint8Array, Uint8Array])[] = [];
  private lastIndexTime = 0;
  /** The time (ms) the next index leaf records; default: the batch's latest event time. */
  indexTime: number | undefined;
  readonly logSigner: NoteSigner;
  readonly vkey: string;
  readonly witnesses: Witness[];
  /** Which witnesses cosign served checkpoints (by default all). */
  cosigners: Witness[];
  /** The size the log serves bundles at (by default everything). */
  servedSize: number | undefined;
  /** Indices the log leaves out of bundles (a dishonest log). */
  readonly hidden = new Set<number>();

  constructor(opts: { logSeed?: Uint8Array; witnesses?: number } = {}) {
    const { skey, vkey } = generateSignerKey(ORIGIN, opts.logSeed ?? seed(200));
    this.logSigner = parseSignerKey(skey);
    this.vkey = vkey;
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
    const leaf = canonicalBytes(envelope);
    const index = this.leaves.length;
    this.leaves.push(leaf);
    this.envelopes.push(envelope);
    if (opts.indexed !== false)
      this.pendingHeads.push(...this.folder.entries(chainEventRef(envelope.event), index, leafHash(leaf)));
    this.batchTime = Math.max(this.batchTime, parseEventTime(envelope.event.time)! * 1000);
    return { index, leafHash: leafHash(leaf) };
  }

  private batchTime = 0;

  /**
   * Puts `entries` (sorted trie keys and values, say a million other chains) into the index
   * before anything is logged: a benchmark's stand-in for a large log.
   */
  seedIndex(entries: Iterable<readonly [Uint8Array, Uint8Array]>): void {
    if (this.leaves.length > 0) throw new Error("seed the index before appending");
    this.trie = Trie.fromSorted(entries);
  }

  /** Appends a raw leaf (a dishonest log's index leaf, say) with no bookkeeping. */
  appendRaw(leaf: Uint8Array): number {
    this.leaves.push(leaf);
    this.envelopes.push(undefined);
    return this.leaves.length - 1;
  }

  /** Closes the current batch with its index leaf, as the sequencer does after each batch. */
  seal(): void {
    const last = this.leaves[this.leaves.length - 1];
    if (last === undefined || isIndexLeaf(last)) return;
    this.trie = this.trie.setMany(this.pendingHeads);
    this.pendingHeads = [];
    const time = Math.max(this.indexTime ?? this.batchTime, this.lastIndexTime);
    this.lastIndexTime = time;
    this.batchTime = 0;
    const index = this.leaves.length;
    this.leaves.push(formatIndexLeaf({ size: index, time, root: this.trie.root() }));
    this.envelopes.push(undefined);
    this.tries.set(index + 1, this.trie);
  }

  /** Leaf hash of entry `i` (a chain's `prev`). */
  hash(i: number): Uint8Array {
    return leafHash(this.leaves[i]!);
  }

  get size(): number {
    if (this.servedSize !== undefined) return this.servedSize;
    this.seal();
    return this.leaves.length;
  }

  private tree(size: number) {
    return memoryHashReader(this.leaves.slice(0, size).map(leafHash));
  }

  checkpointNote(size = this.size, cosigners = this.cosigners): string {
    const root = rootHashSync(size, this.tree(size));
    const body = formatCheckpoint({ origin: ORIGIN, size, root, extensions: [] });
    return signNote(body, [this.logSigner, ...cosigners.map((w) => w.signer)]);
  }

  private events(size: number, match: (e: Envelope) => boolean): BundleEventJson[] {
    const tree = this.tree(size);
    const out: BundleEventJson[] = [];
    for (let i = 0; i < size; i++) {
      const e = this.envelopes[i];
      if (this.hidden.has(i) || e === undefined || !match(e)) continue;
      out.push({
        index: i,
        envelope: toBase64(this.leaves[i]!),
        inclusion: proveInclusionSync(i, size, tree).map(toBase64),
      });
    }
    return out;
  }

  private bundle(org: string, account: string | undefined, from?: number): HistoryBundleJson {
    const size = this.size;
    const isOrg = (e: Envelope) => e.event.org === org && e.event.subject === org;
    const tree = this.tree(size);
    const trie = this.tries.get(size) ?? Trie.empty();
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
        inclusion: proveInclusionSync(size - 1, size, tree).map(toBase64),
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
        inclusion: proveInclusionSync(i, size, tree).map(toBase64),
      }));
    if (from !== undefined && from > 0 && from <= size) {
      b.consistency = { from, hashes: proveConsistencySync(from, size, this.tree(size)).map(toBase64) };
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
    const tree = this.tree(this.size);
    const per = 256 ** t.level;
    const out = new Uint8Array(t.width * 32);
    for (let i = 0; i < t.width; i++) {
      const lo = (t.index * 256 + i) * per;
      out.set(subtreeHashesSync([[lo, lo + per]], tree)[0]!, i * 32);
    }
    return out;
  }
  async entryBundle(index: number, width: number): Promise<Uint8Array> {
    return encodeEntryBundle(this.leaves.slice(index * 256, index * 256 + width));
  }
  async consistency(from: number, to: number): Promise<Uint8Array[]> {
    return proveConsistencySync(from, to, this.tree(to));
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
