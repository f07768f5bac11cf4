// An RFC 6962 tree built leaf by leaf, keeping only the perfect subtrees along its right edge
// (at most 64 hashes). Whoever replays a log pushes every leaf hash and compares the root with
// the signed checkpoint, so the entries judged are exactly the tree's leaves, whatever served
// them: the auditing witness (witness/auditor.ts, which persists the edge with each replay
// snapshot), the client's audit (client/audit.ts) and fsck (server/storage/fsck.ts).

import { TrustlogError } from "./errors.js";
import { EMPTY_ROOT, foldRight, nodeHash } from "./merkle.js";

export class CompactRange {
  private constructor(
    private size_: number,
    private readonly hashes: Uint8Array[],
    private readonly sizes: number[],
  ) {}

  static empty(): CompactRange {
    return new CompactRange(0, [], []);
  }

  /**
   * The range of a tree of `size` leaves from its right-edge subtree hashes, largest first (what
   * `edge()` gave). Throws BAD_ARGUMENT when their number or length does not fit `size`.
   */
  static fromHashes(size: number, hashes: readonly Uint8Array[]): CompactRange {
    const sizes: number[] = [];
    for (let rest = size; rest > 0; ) {
      const top = 2 ** Math.floor(Math.log2(rest));
      sizes.push(top);
      rest -= top;
    }
    if (sizes.length !== hashes.length || hashes.some((h) => h.length !== 32)) {
      throw new TrustlogError(
        "BAD_ARGUMENT",
        `a tree of ${size} leaves has ${sizes.length} edge hashes of 32 bytes, not ${hashes.length}`,
      );
    }
    return new CompactRange(
      size,
      hashes.map((h) => h.slice()),
      sizes,
    );
  }

  get size(): number {
    return this.size_;
  }

  push(leafHash: Uint8Array): void {
    let hash = leafHash;
    let size = 1;
    while (this.sizes.length > 0 && this.sizes[this.sizes.length - 1] === size) {
      hash = nodeHash(this.hashes.pop()!, hash);
      this.sizes.pop();
      size *= 2;
    }
    this.hashes.push(hash);
    this.sizes.push(size);
    this.size_++;
  }

  root(): Uint8Array {
    return this.hashes.length === 0 ? EMPTY_ROOT.slice() : foldRight(this.hashes);
  }

  edge(): Uint8Array[] {
    return this.hashes.map((h) => h.slice());
  }

  clone(): CompactRange {
    return new CompactRange(this.size_, this.edge(), [...this.sizes]);
  }
}
