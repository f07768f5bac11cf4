// A log survives a restart: same key, same checkpoint, the sequence continues where it stopped
// (after the last index leaf, with the index of chain heads rebuilt from the stored state) and
// resubmissions from before the restart are still recognised.

import { statSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { checkLookup } from "../../core/chain-index.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { checkConsistency } from "../../core/proof.js";
import { admin, History, testKey } from "../helpers/events.js";
import { BACKENDS, batch, createStorage, startTestServer, type TestStorage } from "./http-harness.js";
import { LogLayout } from "./log-layout.js";

describe.each(BACKENDS)("restart on %s", (backend) => {
  const disposers: TestStorage[] = [];
  afterAll(async () => {
    for (const s of disposers) await s.dispose();
  });

  it("keeps the key, the checkpoint, the entries and deduplication across a restart", async () => {
    const storage = await createStorage(backend);
    disposers.push(storage);
    const h = new History();
    const root = testKey("root");
    const layout = new LogLayout();

    const a = await startTestServer(storage, { clock: () => h.now });
    const vkey = a.server.key.vkey;
    expect(a.server.key.created).toBe(true);
    expect(statSync(storage.config.keyFile!).mode & 0o777).toBe(0o600);
    const create = h.orgCreate("acme", { admins: [root] });
    const invite = h.invite("acme", "alice", admin(root));
    const r1 = await a.post(batch([create, invite]));
    expect(r1.status).toBe(200);
    h.append(create);
    h.append(invite);
    expect(r1.json.results.map((r: { index: number }) => r.index)).toEqual(layout.batch(2));
    const before = await (await a.request("/checkpoint")).text();
    await a.stop();

    const b = await startTestServer(storage, { clock: () => h.now });
    try {
      expect(b.server.key.created).toBe(false);
      expect(b.server.key.vkey).toBe(vkey);
      expect(await (await b.request("/checkpoint")).text()).toBe(before);

      const again = await b.post(invite);
      expect(again.status).toBe(200);
      expect(again.json.results[0]).toMatchObject({ index: layout.index(1), duplicate: true });

      const add = h.keyAdd("acme", "alice", testKey("alice-key"));
      const r2 = await b.post(add);
      expect(r2.status).toBe(200);
      // Right after the index leaf that closed the last batch before the restart.
      expect(r2.json.results[0].index).toBe(layout.batch(1)[0]);
      h.append(add);

      const verifier = parseVerifierKey(vkey);
      const oldCp = parseCheckpoint(openNote(before, [verifier]).body);
      const newCp = parseCheckpoint(openNote(r2.json.checkpoint, [verifier]).body);
      expect(newCp.size).toBe(layout.size);
      // The restarted log's index leaf holds alice's new head (and the org's, from before).
      const lookup = await b.getJson("/v1/orgs/acme/accounts/alice/lookup");
      expect(lookup.status).toBe(200);
      const served = parseCheckpoint(openNote(lookup.json.checkpoint, [verifier]).body);
      expect(served).toEqual(newCp);
      checkLookup(served, lookup.json.lookup, [
        { kind: "org", org: "acme", claimed: layout.chainHead(h.head("acme")) },
        {
          kind: "account",
          org: "acme",
          account: "alice",
          claimed: layout.chainHead(h.head("acme", "alice")),
        },
      ]);
      const proof = await b.getJson(`/v1/proof/consistency?from=${oldCp.size}&to=${newCp.size}`);
      checkConsistency(oldCp.size, newCp.size, oldCp.root, newCp.root, proof.json.hashes.map(fromBase64));
      const entry = await b.getJson("/v1/entries/1");
      expect(entry.json.leafHash).toBe(toBase64(h.entries[1]!.leafHash));
    } finally {
      await b.stop();
    }
  });
});
