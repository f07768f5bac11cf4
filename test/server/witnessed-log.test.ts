// The log side of witnessing (issue 4, item 5): every checkpoint goes to the configured
// witnesses, their cosignatures are verified, stored and served on /checkpoint, and with a
// publish quorum the log publishes only checkpoints k witnesses cosigned. Real witnesses
// (startWitness, PGlite) and a real log server talk C2SP tlog-witness over loopback HTTP.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { writeNewSignerKey } from "../../server/keys.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { type RunningWitness, startWitness, stopWitness } from "../../witness/main.js";
import { History, testKey } from "../helpers/events.js";
import { tempDir, witnessKey } from "../witness/helpers.js";
import { createStorage, startTestServer, type TestServer, type TestStorage } from "./http-harness.js";
import { LogLayout } from "./log-layout.js";

const ORIGIN = "test.trustlog.example/log";
const disposers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of disposers.reverse()) await d().catch(() => {});
});

async function witnesses(n: number, logVkey: string, ports: number[] = []): Promise<RunningWitness[]> {
  const out: RunningWitness[] = [];
  for (let i = 0; i < n; i++) out.push(await oneWitness(i, logVkey, ports[i] ?? 0));
  return out;
}

async function oneWitness(i: number, logVkey: string, port = 0): Promise<RunningWitness> {
  const dir = tempDir();
  const k = witnessKey(`witness-${i}.test`, 40 + i);
  writeFileSync(join(dir, "witness.key"), `${k.skey}\n`, { mode: 0o600 });
  const config = parseWitnessConfig({
    port,
    keyFile: join(dir, "witness.key"),
    dataDir: "memory://",
    logs: [{ origin: ORIGIN, vkeys: [logVkey] }],
    pullIntervalSeconds: 0,
    gossipIntervalSeconds: 0,
    logLevel: "silent",
  });
  const w = await startWitness(config);
  disposers.push(() => stopWitness(w));
  return w;
}

function witnessConfig(ws: { url: string; vkey: string }[]) {
  return ws.map((w) => ({ name: parseVerifierKey(w.vkey).name, vkey: w.vkey, url: w.url }));
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens /checkpoint with the log key and every witness key; returns size and cosigner names. */
async function served(s: TestServer, logVkey: string, ws: { vkey: string }[]) {
  const res = await s.request("/checkpoint");
  if (res.status !== 200) return { status: res.status, size: -1, cosigners: [] as string[] };
  const text = await res.text();
  const verifiers = [parseVerifierKey(logVkey), ...ws.map((w) => parseVerifierKey(w.vkey))];
  const opened = openNote(text, verifiers);
  const cosigners = opened.verified.map((v) => v.name).filter((n) => n !== ORIGIN);
  return { status: 200, size: parseCheckpoint(opened.body).size, cosigners: cosigners.sort(), text };
}

async function logWith(storage: TestStorage, config: Record<string, unknown>) {
  const s = await startTestServer(storage, { clock: () => h.now, config });
  disposers.push(() => s.stop());
  return s;
}

const h = new History();
const root = testKey("witnessed-root");

describe("a log with three witnesses", () => {
  it("serves checkpoints carrying three valid cosignatures, kept across a restart", async () => {
    const storage = await createStorage("postgres");
    disposers.push(() => storage.dispose());
    const { vkey: logVkey } = writeNewSignerKey(storage.config.keyFile!, ORIGIN);
    const ws = await witnesses(3, logVkey);
    let s = await logWith(storage, { witnesses: witnessConfig(ws), quorum: 2, witnessRefreshSeconds: 0 });

    const post = await s.post(h.append(h.orgCreate("acme", { admins: [root] })).envelope);
    expect(post.status).toBe(200);
    // One event, then its batch's index leaf.
    const { size } = new LogLayout(1);
    const cp = await until(`three cosignatures at size ${size}`, async () => {
      const v = await served(s, logVkey, ws);
      return v.size === size && v.cosigners.length === 3 ? v : undefined;
    });
    expect(cp.cosigners).toEqual(["witness-0.test", "witness-1.test", "witness-2.test"]);
    // Each witness recorded exactly that checkpoint.
    for (const w of ws) expect((await w.store.get(ORIGIN))?.size).toBe(size);

    // The log publishes what clients pin: its key, the witnesses and the quorum.
    const log = await s.getJson("/v1/log");
    expect(log.json.quorum).toBe(2);
    expect(log.json.witnesses.map((w: { vkey: string }) => w.vkey)).toEqual(ws.map((w) => w.vkey));

    // Restart: the stored cosignatures are served again before any witness answers anew.
    await s.stop();
    s = await logWith(storage, { witnesses: [], quorum: 0 });
    const again = await served(s, logVkey, ws);
    expect(again.size).toBe(size);
    expect(again.cosigners).toHaveLength(3);
  });

  it("keeps witnesses that were down in step: a later checkpoint is cosigned from their size", async () => {
    const storage = await createStorage("pglite");
    disposers.push(() => storage.dispose());
    const { vkey: logVkey } = writeNewSignerKey(storage.config.keyFile!, ORIGIN);
    const [w0] = await witnesses(1, logVkey);
    const h2 = new History();
    const s = await startTestServer(storage, {
      clock: () => h2.now,
      config: { witnesses: witnessConfig([w0!]), witnessRefreshSeconds: 0 },
    });
    disposers.push(() => s.stop());
    const layout = new LogLayout();
    expect((await s.post(h2.append(h2.orgCreate("acme", { admins: [root] })).envelope)).status).toBe(200);
    layout.batch(1);
    const first = layout.size;
    await until(`cosigned size ${first}`, async () =>
      (await w0!.store.get(ORIGIN))?.size === first ? true : undefined,
    );
    for (let i = 0; i < 5; i++) {
      const r = await s.post(h2.append(h2.invite("acme", `u${i}`, { admin: root })).envelope);
      expect(r.status).toBe(200);
      // One request, one batch: the invite and an index leaf.
      expect(r.json.results[0].index).toBe(layout.batch(1)[0]);
    }
    // The witness only ever moves forward along consistency proofs from what it cosigned.
    const last = layout.size;
    const v = await until(`cosigned size ${last}`, async () => {
      const x = await served(s, logVkey, [w0!]);
      return x.size === last && x.cosigners.length === 1 ? x : undefined;
    });
    expect(v.cosigners).toEqual(["witness-0.test"]);
  });
});

describe("a log that publishes only witnessed checkpoints", () => {
  it("serves nothing newer than what k witnesses cosigned, and answers writes with it", async () => {
    const storage = await createStorage("pglite");
    disposers.push(() => storage.dispose());
    const { vkey: logVkey } = writeNewSignerKey(storage.config.keyFile!, ORIGIN);
    // Two witnesses; the second is down at first (its port is reserved, then freed).
    const [w0] = await witnesses(1, logVkey);
    const probe = await oneWitness(1, logVkey);
    const w1Port = probe.port;
    const w1 = { url: probe.url, vkey: probe.vkey };
    await stopWitness(probe);
    const h3 = new History();
    const s = await startTestServer(storage, {
      clock: () => h3.now,
      config: {
        witnesses: witnessConfig([w0!, w1]),
        quorum: 2,
        publishQuorum: 2,
        quorumWaitMs: 500,
        witnessRefreshSeconds: 1,
      },
    });
    disposers.push(() => s.stop());

    // One cosignature is not enough: nothing is published, and a write is answered (it is
    // durable) with the log-signed checkpoint alone once the wait runs out.
    const first = await s.post(h3.append(h3.orgCreate("acme", { admins: [root] })).envelope);
    expect(first.status).toBe(200);
    const firstCp = openNote(first.json.checkpoint, [parseVerifierKey(logVkey)]);
    // One event, then its batch's index leaf.
    const layout = new LogLayout(1);
    expect(parseCheckpoint(firstCp.body).size).toBe(layout.size);
    expect((await s.request("/checkpoint")).status).toBe(404);

    // The second witness comes up on its port; the idle refresh brings it the checkpoint.
    const w1Running = await oneWitness(1, logVkey, w1Port);
    expect(w1Running.vkey).toBe(w1.vkey);
    const v = await until("a published checkpoint", async () => {
      const x = await served(s, logVkey, [w0!, w1]);
      return x.status === 200 ? x : undefined;
    });
    expect(v.size).toBe(layout.size);
    expect(v.cosigners).toEqual(["witness-0.test", "witness-1.test"]);

    // Now writes are answered with a cosigned checkpoint that covers them.
    const second = await s.post(h3.append(h3.invite("acme", "bob", { admin: root })).envelope);
    expect(second.status).toBe(200);
    const opened = openNote(second.json.checkpoint, [
      parseVerifierKey(logVkey),
      ...[w0!, w1].map((w) => parseVerifierKey(w.vkey)),
    ]);
    expect(opened.verified).toHaveLength(3);
    expect(second.json.results[0].index).toBe(layout.batch(1)[0]);
    expect(parseCheckpoint(opened.body).size).toBe(layout.size);
  });
});
