// The verifying path in a real browser: client/browser.ts bundled with esbuild, served with a
// page from loopback, run in headless Chromium against a real log process. Skipped when
// /usr/bin/chromium is absent, except where TRUSTLOG_REQUIRE_BROWSER is set (.ci/run sets it):
// there a missing Chromium fails, so CI cannot go green without the browser.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogClient } from "../../client/log-client.js";
import { accountInvite, keyAdd, orgCreate, sealEvent } from "../../core/event-build.js";
import { inviteKeyFromSecret } from "../../core/invite.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { ADMIN, ALICE_SIGN, INVITE_SECRET, pub } from "../helpers/memory-log.js";
import { runTrustlog, startTrustlog, type TrustlogProcess } from "../helpers/process.js";

const CHROMIUM = "/usr/bin/chromium";
const ORIGIN = "browser.trustlog.example/log";

if (process.env.TRUSTLOG_REQUIRE_BROWSER && !existsSync(CHROMIUM)) {
  it("has Chromium to run in (TRUSTLOG_REQUIRE_BROWSER is set)", () => {
    expect.fail(`${CHROMIUM} is missing: the browser tests cannot run, and CI requires them`);
  });
}

describe.skipIf(!existsSync(CHROMIUM))("verifyKey in Chromium", () => {
  let db: TestDatabase;
  let dir: string;
  let log: TrustlogProcess;
  let vkey: string;
  let page: Server;
  let pageUrl: string;

  beforeAll(async () => {
    db = await createTestDatabase("browser");
    dir = mkdtempSync(join(tmpdir(), "trustlog-browser-"));
    vkey = (await runTrustlog(["keygen", "--name", ORIGIN, "--out", join(dir, "log.key")])).stdout.trim();
    log = await startTrustlog([
      "serve",
      "--database-url",
      db.url,
      "--key-file",
      join(dir, "log.key"),
      "--origin",
      ORIGIN,
      "--data-dir",
      dir,
      "--log-level",
      "warn",
    ]);
    const bundle = await build({
      entryPoints: [join(import.meta.dirname, "../../client/browser.ts")],
      bundle: true,
      format: "esm",
      platform: "browser",
      write: false,
    });
    const js = bundle.outputFiles[0]!.text;
    // The page and the log share one origin (the page server forwards /log/*), so the test does
    // not depend on the log sending CORS headers.
    page = createServer((req, res) => {
      if (req.url?.startsWith("/log/")) {
        fetch(log.url + req.url.slice(4)).then(
          async (r) => {
            res.writeHead(r.status, {
              "content-type": r.headers.get("content-type") ?? "application/octet-stream",
            });
            res.end(Buffer.from(await r.arrayBuffer()));
          },
          () => {
            res.writeHead(502);
            res.end();
          },
        );
      } else if (req.url === "/client.js") {
        res.writeHead(200, { "content-type": "text/javascript" });
        res.end(js);
      } else {
        res.writeHead(200, { "content-type": "text/html" });
        res.end(
          '<!doctype html><script type="module">import * as t from "/client.js"; window.trustlog = t; window.ready = true;</script>',
        );
      }
    });
    await new Promise<void>((r) => page.listen(0, "127.0.0.1", () => r()));
    pageUrl = `http://127.0.0.1:${(page.address() as { port: number }).port}/`;
  }, 120_000);

  afterAll(async () => {
    page?.close();
    await log?.stop("SIGKILL");
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("returns alice's key, with the trust state in IndexedDB", async () => {
    const client = new LogClient(log.url);
    const now = Math.floor(Date.now() / 1000);
    await client.submit(
      sealEvent(
        orgCreate({
          org: "acme",
          time: now,
          actor: { role: "admin", key: pub(ADMIN) },
          name: "Acme",
          admins: [pub(ADMIN)],
          threshold: 1,
        }),
        [ADMIN],
      ),
    );
    const invite = await client.submit(
      sealEvent(
        accountInvite({
          org: "acme",
          subject: "alice",
          time: now,
          actor: { role: "admin", key: pub(ADMIN) },
          inviteSecret: INVITE_SECRET,
        }),
        [ADMIN],
      ),
    );
    await client.submit(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "alice",
          seq: 1,
          prev: invite.result.leafHash,
          time: now,
          actor: { role: "self", key: pub(ALICE_SIGN) },
          key: { id: "sign-1", alg: "ed25519", use: "sign", pub: pub(ALICE_SIGN) },
        }),
        [ALICE_SIGN, inviteKeyFromSecret(INVITE_SECRET).seed],
      ),
    );
    const browser = await chromium.launch({
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
    try {
      const tab = await browser.newPage();
      await tab.goto(pageUrl);
      await tab.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const result = await tab.evaluate(
        async ({ url, vkey }) => {
          // biome-ignore lint/suspicious/noExplicitAny: the bundle's exports, set by the page
          const t = (window as any).trustlog;
          const store = new t.IndexedDbTrustStore("trustlog-test");
          const r = await t.verifyKey({
            log: { url, vkey },
            witnesses: [],
            quorum: 0,
            org: "acme",
            account: "alice",
            store,
          });
          const state = await store.load(vkey);
          return {
            keys: r.keys.map((k: { pub: string }) => k.pub),
            size: r.checkpoint.size,
            trusted: state.checkpoint?.size,
          };
        },
        { url: `${pageUrl}log`, vkey },
      );
      // Three events, each submitted alone: each its own batch, ended by the log's index leaf.
      const size = 2 * 3;
      expect(result).toEqual({ keys: [pub(ALICE_SIGN)], size, trusted: size });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
