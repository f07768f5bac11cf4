// The web explorer (explorer/, served by the log at /) in headless Chromium against a real log
// with three real witnesses: the log page, an account page (10 events, delegate and self
// actors) and an entry page render with their verified marks; a proxy that tampers with the
// account's bundle gets a refusal with the client library's code instead of the data; a log
// that forks under the browser's feet gets the loud warning with the evidence. Screenshots go to
// test-artifacts/explorer/. Skipped only when /usr/bin/chromium is absent (CI installs it).

import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Envelope } from "../../core/event.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { admin, delegate, History, self, testKey } from "../helpers/events.js";
import { startTrustlog, type TrustlogProcess } from "../helpers/process.js";
import {
  type LogIdentity,
  newLogIdentity,
  startLog,
  startWitnesses,
  untilCosigned,
  type Witnesses,
} from "../helpers/witnessed-log.js";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts/explorer");
const ORIGIN = "explorer.trustlog.example/log";

const ROOT = testKey("explorer-root");
const BRIDGE = testKey("explorer-bridge");
const LAPTOP = testKey("explorer-laptop");
const PHONE = testKey("explorer-phone");
const TABLET = testKey("explorer-tablet");
const DESKTOP = testKey("explorer-desktop");

/** Submits envelopes as one batch; returns their indices (every one must be accepted). */
async function submit(url: string, events: Envelope[]): Promise<number[]> {
  const res = await fetch(`${url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
  const body = (await res.json()) as { results: { index?: number; error?: unknown }[] };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.results.map((r) => {
    if (r.index === undefined) throw new Error(`refused: ${JSON.stringify(r.error)}`);
    return r.index;
  });
}

/** An HTTP proxy in front of `target.url`, rewriting the answers `rewrite` says it should. */
async function proxy(
  target: { url: string },
  rewrite: (path: string, body: Buffer) => Buffer | undefined = () => undefined,
): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    try {
      const r = await fetch(target.url + req.url, { method: req.method ?? "GET" });
      const headers: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "content-encoding" && k !== "transfer-encoding") headers[k] = v;
      });
      const body = Buffer.from(await r.arrayBuffer());
      res.writeHead(r.status, headers);
      res.end(rewrite(new URL(req.url ?? "/", "http://x").pathname, body) ?? body);
    } catch {
      res.writeHead(502).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe.skipIf(!existsSync(CHROMIUM))("the web explorer in Chromium", () => {
  let dir: string;
  const dbs: TestDatabase[] = [];
  const procs: TrustlogProcess[] = [];
  const servers: Server[] = [];
  let id: LogIdentity;
  let witnesses: Witnesses;
  let log: TrustlogProcess;
  let browser: Browser;
  let firstKeyIndex: number;
  /** Messages the browser logged about blocked content (CSP) or page errors: must stay empty. */
  const problems: string[] = [];

  async function newTab(ctx: BrowserContext, width = 1100, height = 900): Promise<Page> {
    const tab = await ctx.newPage();
    await tab.setViewportSize({ width, height });
    tab.on("console", (m) => {
      if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text()))
        problems.push(m.text());
    });
    tab.on("pageerror", (e) => problems.push(String(e)));
    return tab;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "trustlog-explorer-"));
    mkdirSync(ARTIFACTS, { recursive: true });
    id = newLogIdentity(dir, ORIGIN);
    witnesses = await startWitnesses(dir, [id], { n: 3, domain: "explorer.example" });
    const db = await createTestDatabase("explorer");
    dbs.push(db);
    log = await startLog(id, db.url, witnesses, join(dir, "log"));
    procs.push(log);

    // An org with a provisioning grant; alice has 10 events by her admin's delegate and herself.
    const h = new History({ start: Math.floor(Date.now() / 1000) });
    const add = (e: Envelope) => {
      h.append(e);
      return e;
    };
    const bridge = delegate(BRIDGE, "scim-bridge");
    await submit(log.url, [
      add(h.orgCreate("acme", { admins: [ROOT], name: "Acme Corp" })),
      add(
        h.grantIssue(
          "acme",
          {
            id: "scim-bridge",
            delegate: BRIDGE,
            ops: ["account.invite", "account.suspend", "account.reactivate", "key.revoke"],
            notBefore: h.now - 60,
            notAfter: h.now + 30 * 86400,
            note: "Okta SCIM",
          },
          admin(ROOT),
        ),
      ),
      add(h.invite("acme", "bob", bridge)),
    ]);
    const first = await submit(log.url, [
      add(h.invite("acme", "alice", bridge, { externalId: "00u1abcd" })),
      add(h.keyAdd("acme", "alice", LAPTOP, { id: "laptop" })),
      add(h.keyAdd("acme", "alice", PHONE, { id: "phone", by: self(LAPTOP) })),
      add(h.keyAdd("acme", "alice", LAPTOP, { id: "laptop-x25519", use: "encrypt", by: self(LAPTOP) })),
    ]);
    firstKeyIndex = first[1]!;
    await submit(log.url, [
      add(h.keyRevoke("acme", "alice", "phone", self(LAPTOP), { reason: "phone lost" })),
      add(h.suspend("acme", "alice", bridge, { reason: "SCIM PATCH active=false" })),
      add(h.reactivate("acme", "alice", bridge, { reason: "SCIM PATCH active=true" })),
    ]);
    const last = await submit(log.url, [
      add(h.keyAdd("acme", "alice", TABLET, { id: "tablet", by: self(LAPTOP) })),
      add(h.keyRevoke("acme", "alice", "tablet", bridge, { reason: "device wiped by IT" })),
      add(h.keyAdd("acme", "alice", DESKTOP, { id: "desktop", by: self(LAPTOP) })),
    ]);
    // Each batch ends with the log's index leaf.
    await untilCosigned(log.url, witnesses, 3, last[last.length - 1]! + 2);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    for (const s of servers) s.close();
    for (const p of procs) await p.stop("SIGKILL");
    await witnesses?.stop();
    for (const db of dbs) await db.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shows the log, an account and an entry, each verified, under a strict CSP", async () => {
    const ctx = await browser.newContext();
    try {
      const tab = await newTab(ctx);
      const res = await tab.goto(`${log.url}/`);
      const csp = res!.headers()["content-security-policy"] ?? "";
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");

      // The log page: keys pinned from the log's explorer.json, checkpoint verified with 2 of 3.
      await tab.waitForSelector("[data-testid=checkpoint-verified]", { timeout: 30_000 });
      expect(await tab.textContent("[data-testid=policy]")).toContain("2 of 3");
      const size = Number((await tab.textContent("[data-testid=checkpoint-size]"))!.split(" ")[0]);
      expect(size).toBeGreaterThan(firstKeyIndex);
      await tab.click("[data-testid=checkpoint-mark] summary");
      expect(await tab.textContent("[data-testid=checkpoint-mark]")).toContain("Cosigned by 3 of the 3");
      await tab.screenshot({ path: join(ARTIFACTS, "log.png"), fullPage: true });

      // The account page, in a new tab (a full load, as a user following a link): how long until
      // the verified view appears. The explorer was built by the first request above.
      const acct = await newTab(ctx);
      const started = performance.now();
      await acct.goto(`${log.url}/#/account/acme/alice`);
      await acct.waitForSelector("[data-testid=account-verified]", { timeout: 30_000 });
      const firstView = performance.now() - started;
      process.stdout.write(`explorer: first verified account view after ${firstView.toFixed(0)} ms\n`);
      // The aim is 1 s (about 0.4 s measured here, 0.6 s with both cores busy); the bound leaves
      // room for a loaded CI machine running other test files at once.
      expect(firstView).toBeLessThan(5_000);
      const events = acct.locator("[data-testid=account-events] > li");
      expect(await events.count()).toBe(10);
      expect(await acct.locator("[data-testid=account-events] > li [data-verified=true]").count()).toBe(10);
      const history = (await acct.textContent("[data-testid=account-events]"))!;
      expect(history).toContain("under grant scim-bridge");
      expect(history).toContain("the account itself (key laptop)");
      expect(await acct.textContent("#status-h")).toContain("active");
      const keys = (await acct.textContent("ul.keys"))!;
      expect(keys).toContain("desktop");
      expect(keys).toMatch(/phone.*revoked.*phone lost/);
      // The org's grants come from the org's own bundle, verified too.
      await acct.waitForSelector("[data-testid=org-mark]", { timeout: 30_000 });
      expect(await acct.textContent("ul.grants")).toContain("scim-bridge");
      // The marks open from the keyboard.
      await acct.focus("[data-testid=account-mark] summary");
      await acct.keyboard.press("Enter");
      expect(await acct.getAttribute("[data-testid=account-mark]", "open")).not.toBeNull();
      expect(await acct.textContent("[data-testid=account-mark]")).toContain(
        "nothing was left out at the end",
      );
      await acct.click("[data-testid=account-events] > li:nth-child(2) summary");
      await acct.screenshot({ path: join(ARTIFACTS, "account.png"), fullPage: true });
      // The top of the page, as docs/img/explorer-account.png shows it.
      await acct.evaluate(() => window.scrollTo(0, 0));
      await acct.screenshot({ path: join(ARTIFACTS, "account-top.png") });

      // Readable on a phone: nothing wider than the screen.
      await acct.setViewportSize({ width: 390, height: 844 });
      const overflow = await acct.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await acct.screenshot({ path: join(ARTIFACTS, "account-phone.png") });

      // An entry by index: decoded, with its proof.
      await acct.setViewportSize({ width: 1100, height: 900 });
      await acct.goto(`${log.url}/#/entry/${firstKeyIndex}`);
      await acct.waitForSelector("[data-testid=entry-verified]", { timeout: 30_000 });
      expect(await acct.textContent("#decoded-h")).toBe("key.add");
      await acct.click("[data-testid=entry-mark] summary");
      expect(await acct.textContent("[data-testid=entry-mark]")).toContain(
        `included at index ${firstKeyIndex}`,
      );
      await acct.screenshot({ path: join(ARTIFACTS, "entry.png"), fullPage: true });

      expect(problems).toEqual([]);
    } finally {
      await ctx.close();
    }
  }, 120_000);

  it("refuses a tampered account bundle and shows the code, not the data", async () => {
    let mode: "drop-last" | "flip-byte" = "drop-last";
    const tamper = await proxy(log, (path, body) => {
      if (path !== "/v1/orgs/acme/accounts/alice/proof") return undefined;
      const bundle = JSON.parse(body.toString("utf8")) as { accountEvents: { envelope: string }[] };
      if (mode === "drop-last") bundle.accountEvents.pop();
      else {
        // One byte of the last event's leaf, changed: its time (a signed field) moves a second.
        const e = bundle.accountEvents[bundle.accountEvents.length - 1]!;
        const leaf = Buffer.from(e.envelope, "base64").toString("utf8");
        const t = /"time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:)(\d)(\d)Z"/.exec(leaf)!;
        const flipped = leaf.replace(t[0], `"time":"${t[1]}${t[2]}${(Number(t[3]) + 1) % 10}Z"`);
        e.envelope = Buffer.from(flipped, "utf8").toString("base64");
      }
      return Buffer.from(JSON.stringify(bundle));
    });
    servers.push(tamper.server);
    for (const [m, code] of [
      ["drop-last", "HISTORY_TRUNCATED"],
      ["flip-byte", "INCLUSION_INVALID"],
    ] as const) {
      mode = m;
      const ctx = await browser.newContext();
      try {
        const tab = await newTab(ctx);
        await tab.goto(`${tamper.url}/#/account/acme/alice`);
        await tab.waitForSelector("[data-testid=refusal]", { timeout: 30_000 });
        expect(await tab.getAttribute("[data-testid=refusal]", "data-code")).toBe(code);
        expect(await tab.textContent("[data-testid=refusal]")).toContain(code);
        // Nothing of the history is shown.
        expect(await tab.locator("[data-testid=account-verified]").count()).toBe(0);
        expect(await tab.locator("[data-testid=account-events]").count()).toBe(0);
        expect(await tab.locator("[data-verified=true]").count()).toBe(0);
        await tab.screenshot({ path: join(ARTIFACTS, `tampered-${m}.png`), fullPage: true });
      } finally {
        await ctx.close();
      }
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it("warns loudly, with the evidence, when the log forks from what this browser saw", async () => {
    // A second log with the same key and origin and another history: a split view. It has no
    // witnesses, so the browser is set to verify without a witness policy (and says it is unsafe).
    const db = await createTestDatabase("explorer_fork");
    dbs.push(db);
    const forkDir = join(dir, "fork");
    mkdirSync(forkDir);
    const fork = await startTrustlog([
      "serve",
      "--database-url",
      db.url,
      "--key-file",
      id.keyFile,
      "--origin",
      id.origin,
      "--data-dir",
      forkDir,
      "--log-level",
      "warn",
    ]);
    procs.push(fork);
    const size = Number((await (await fetch(`${log.url}/checkpoint`)).text()).split("\n")[1]);
    const h = new History({ start: Math.floor(Date.now() / 1000) });
    const events = [h.orgCreate("evil", { admins: [ROOT] })];
    h.append(events[0]!);
    for (let i = 0; events.length <= size; i++)
      events.push(h.append(h.invite("evil", `u${i}`, admin(ROOT))).envelope);
    await submit(fork.url, events);

    const target = { url: log.url };
    const front = await proxy(target);
    servers.push(front.server);
    const ctx = await browser.newContext();
    try {
      const tab = await newTab(ctx);
      await tab.goto(`${front.url}/?vkey=${encodeURIComponent(id.vkey)}&quorum=0#/`);
      await tab.waitForSelector("[data-testid=checkpoint-verified]", { timeout: 30_000 });
      expect(await tab.locator("[data-testid=policy-unsafe]").count()).toBe(1);
      target.url = fork.url;
      await tab.click("text=Check again");
      await tab.waitForSelector("[data-testid=fork]", { timeout: 30_000 });
      expect(await tab.getAttribute("[data-testid=fork]", "data-code")).toBe("INCONSISTENT");
      const evidence = await tab.inputValue("#evidence");
      expect(evidence).toContain(`${ORIGIN}\n${size}\n`);
      expect(evidence).toContain("-- checkpoint served now --");
      expect(await tab.locator("[data-testid=checkpoint-verified]").count()).toBe(0);
      await tab.screenshot({ path: join(ARTIFACTS, "fork.png"), fullPage: true });
    } finally {
      await ctx.close();
    }
    expect(problems).toEqual([]);
  }, 120_000);
});
