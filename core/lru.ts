// A bounded least-recently-used map: a Map from key to entry, and the entries in a doubly
// linked list from newest to oldest. Shared by the tile cache (core), the server's tile byte
// cache and the native Ed25519 key cache.
//
// A read moves its entry to the front of the list and leaves the Map alone. The earlier version
// marked an entry as recent by deleting and re-inserting its key (Map keeps insertion order):
// each delete leaves a hole in V8's ordered hash table, which is compacted when full, and with
// ~4,000 tiles cached those sets were a quarter of an inclusion proof's CPU time (issue 13).

interface Entry<K, V> {
  key: K;
  value: V;
  /** Toward the newest entry. */
  newer: Entry<K, V> | undefined;
  /** Toward the oldest entry. */
  older: Entry<K, V> | undefined;
}

export class Lru<K, V> {
  private readonly map = new Map<K, Entry<K, V>>();
  private newest: Entry<K, V> | undefined;
  private oldest: Entry<K, V> | undefined;

  constructor(readonly capacity: number) {}

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    this.toFront(e);
    return e.value;
  }

  set(key: K, value: V): void {
    const e = this.map.get(key);
    if (e !== undefined) {
      e.value = value;
      this.toFront(e);
      return;
    }
    const added: Entry<K, V> = { key, value, newer: undefined, older: this.newest };
    if (this.newest) this.newest.newer = added;
    this.newest = added;
    this.oldest ??= added;
    this.map.set(key, added);
    if (this.map.size > this.capacity && this.oldest) this.delete(this.oldest.key);
  }

  delete(key: K): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.unlink(e);
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    this.newest = undefined;
    this.oldest = undefined;
  }

  get size(): number {
    return this.map.size;
  }

  private unlink(e: Entry<K, V>): void {
    if (e.newer) e.newer.older = e.older;
    else this.newest = e.older;
    if (e.older) e.older.newer = e.newer;
    else this.oldest = e.newer;
    e.newer = undefined;
    e.older = undefined;
  }

  private toFront(e: Entry<K, V>): void {
    if (e === this.newest) return;
    this.unlink(e);
    e.older = this.newest;
    if (this.newest) this.newest.newer = e;
    this.newest = e;
    this.oldest ??= e;
  }
}
