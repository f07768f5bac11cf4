// Trust state in IndexedDB, for browsers: one object store, one record per log (keyed by the
// log's verifier key). Compare-and-save runs in one readwrite transaction, which IndexedDB
// serialises against every other transaction on the store, across tabs too. A browser that
// clears site data loses this state: the client is then back to trust on first use.

import { emptyTrustState, parseTrustState, type TrustState, type TrustStore } from "./trust-store.js";

const STORE = "trust";

function promised<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export class IndexedDbTrustStore implements TrustStore {
  private db: Promise<IDBDatabase> | undefined;

  constructor(
    readonly name = "trustlog",
    private readonly factory: IDBFactory = globalThis.indexedDB,
  ) {}

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const req = this.factory.open(this.name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return this.db;
  }

  async load(log: string): Promise<TrustState> {
    const db = await this.open();
    const text = await promised(db.transaction(STORE, "readonly").objectStore(STORE).get(log));
    return typeof text === "string" ? parseTrustState(text) : emptyTrustState();
  }

  async compareAndSave(log: string, expectedVersion: number, next: TrustState): Promise<boolean> {
    const db = await this.open();
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
    const text = await promised(store.get(log));
    const current = typeof text === "string" ? parseTrustState(text) : emptyTrustState();
    if (current.version !== expectedVersion) {
      tx.abort();
      await done.catch(() => {});
      return false;
    }
    store.put(JSON.stringify({ ...next, version: expectedVersion + 1 }), log);
    await done;
    return true;
  }
}
