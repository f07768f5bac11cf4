// The web explorer (explorer/, docs/explorer.md), served by the log: the app at GET /, its
// content-hashed assets under /explorer/, and /explorer.json, this log's own keys and witness
// policy as a starting configuration. The explorer verifies everything it shows in the browser
// with client/, so serving it adds nothing the log must be trusted for; the strict CSP keeps
// anything but its own files from running in the page that holds the user's trust state.
//
// Where the explorer's source and esbuild are present (a clone, `npm start`, the tests) it is
// built in memory on the first request, so it is never stale; elsewhere (an image built without
// dev dependencies) the files of `npm run build:explorer` are served, from TRUSTLOG_EXPLORER_DIR
// or dist/explorer.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { Hono } from "hono";
import type { ExplorerJson } from "../../core/api-types.js";
import { TrustlogError } from "../../core/errors.js";
import { PACKAGE_ROOT } from "../../node/package-root.js";
import type { LogDescription } from "../app.js";

// The package root, from the sources (a clone) or from dist/ (the compiled package) alike.
const REPO = PACKAGE_ROOT;
const SOURCE = join(REPO, "explorer");
/** Where `npm run build:explorer` writes; a web server's document root. */
export const DEFAULT_EXPLORER_DIR = join(REPO, "dist", "explorer");
/** The folder of hashed assets, beside index.html: a path prefix of its own on the log. */
const ASSETS = "explorer";
const IMMUTABLE = "public, max-age=31536000, immutable";

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
};

export interface ExplorerFiles {
  /** index.html, naming the hashed assets. */
  index: string;
  /** Hashed asset file name -> bytes. */
  assets: Map<string, Uint8Array>;
}

/** Builds the explorer with esbuild (a dev dependency: imported only when a build is asked for). */
export async function buildExplorer(): Promise<ExplorerFiles> {
  const esbuild = await import("esbuild");
  // Not written (write: false): esbuild names the outputs under it.
  const out = join(DEFAULT_EXPLORER_DIR, ASSETS);
  const result = await esbuild.build({
    entryPoints: [join(SOURCE, "main.tsx")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    jsx: "automatic",
    jsxImportSource: "preact",
    entryNames: "[name]-[hash]",
    outdir: out,
    write: false,
    legalComments: "none",
    logLevel: "silent",
  });
  const assets = new Map<string, Uint8Array>();
  let script: string | undefined;
  let style: string | undefined;
  for (const f of result.outputFiles) {
    const name = basename(f.path);
    assets.set(name, f.contents);
    if (name.endsWith(".js")) script = name;
    if (name.endsWith(".css")) style = name;
  }
  if (!script || !style)
    throw new TrustlogError("INTERNAL", "explorer build produced no script or stylesheet");
  const index = readFileSync(join(SOURCE, "index.html"), "utf8")
    .replace("{{script}}", `${ASSETS}/${script}`)
    .replace("{{style}}", `${ASSETS}/${style}`);
  return { index, assets };
}

/**
 * Writes the explorer as plain files for any web server or CDN: `dir`/index.html and
 * `dir`/explorer/<hashed assets>. Written beside `dir` and renamed into place, so a server
 * reading `dir` never sees half a build.
 */
export async function writeExplorer(dir = DEFAULT_EXPLORER_DIR): Promise<void> {
  const files = await buildExplorer();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, ASSETS), { recursive: true });
  writeFileSync(join(tmp, "index.html"), files.index);
  for (const [name, bytes] of files.assets) writeFileSync(join(tmp, ASSETS, name), bytes);
  mkdirSync(dirname(dir), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

function readPrebuilt(dir: string): ExplorerFiles | undefined {
  if (!existsSync(join(dir, "index.html"))) return undefined;
  const assets = new Map<string, Uint8Array>();
  const assetDir = join(dir, ASSETS);
  if (existsSync(assetDir))
    for (const name of readdirSync(assetDir)) assets.set(name, readFileSync(join(assetDir, name)));
  return { index: readFileSync(join(dir, "index.html"), "utf8"), assets };
}

/** The source build when possible, else the prebuilt files; NOT_FOUND when there are neither. */
async function loadExplorer(prebuiltDir: string): Promise<ExplorerFiles> {
  if (existsSync(join(SOURCE, "main.tsx"))) {
    try {
      return await buildExplorer();
    } catch (e) {
      // No esbuild (installed without dev dependencies): fall back to prebuilt files.
      if ((e as { code?: string }).code !== "ERR_MODULE_NOT_FOUND") throw e;
    }
  }
  const files = readPrebuilt(prebuiltDir);
  if (!files)
    throw new TrustlogError(
      "NOT_FOUND",
      `the explorer is not built here: run npm run build:explorer (or set TRUSTLOG_EXPLORER_DIR)`,
    );
  return files;
}

export interface ExplorerOptions {
  /** Further log origins (https://host[:port]) the explorer may read from (CSP connect-src). */
  connectOrigins?: readonly string[];
  /** Prebuilt files, used when the source cannot be built (default TRUSTLOG_EXPLORER_DIR or dist/explorer). */
  prebuiltDir?: string;
}

/** TRUSTLOG_EXPLORER_CONNECT (space-separated origins) and TRUSTLOG_EXPLORER_DIR. */
export function explorerOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ExplorerOptions {
  const connect = (env.TRUSTLOG_EXPLORER_CONNECT ?? "").split(/\s+/).filter((s) => s !== "");
  return {
    connectOrigins: connect,
    ...(env.TRUSTLOG_EXPLORER_DIR ? { prebuiltDir: env.TRUSTLOG_EXPLORER_DIR } : {}),
  };
}

/** The Content-Security-Policy of every explorer response: its own files only, no inline script. */
export function explorerCsp(connectOrigins: readonly string[] = []): string {
  for (const o of connectOrigins) {
    // An origin, exactly: anything else could widen the policy (a wildcard, a second directive).
    if (
      !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o) &&
      !/^https?:\/\/\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(o)
    )
      throw new TrustlogError(
        "BAD_CONFIG",
        `TRUSTLOG_EXPLORER_CONNECT: ${JSON.stringify(o)} is not an origin`,
      );
  }
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src ${["'self'", ...connectOrigins].join(" ")}`,
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** What /explorer.json holds: a starting configuration (the explorer pins it on first use). */
export function explorerConfig(log: LogDescription): ExplorerJson {
  return {
    origin: log.origin,
    vkey: log.vkey,
    witnesses: log.witnesses.map((w) => w.vkey),
    quorum: log.quorum,
  };
}

export function explorerRoutes(
  deps: { log: LogDescription },
  opts: ExplorerOptions = explorerOptionsFromEnv(),
): Hono {
  const app = new Hono();
  const csp = explorerCsp(opts.connectOrigins);
  const prebuiltDir = opts.prebuiltDir ?? DEFAULT_EXPLORER_DIR;
  let files: Promise<ExplorerFiles> | undefined;
  const load = () => {
    if (!files) {
      const pending = loadExplorer(prebuiltDir);
      files = pending;
      // A failed build is not kept: the next request tries again (after the file is fixed).
      pending.catch(() => {
        if (files === pending) files = undefined;
      });
    }
    return files;
  };

  // Per route, not as middleware: a sub-app's middleware would apply to every route of the log.
  const headers = (cache: string, type?: string) => ({
    "Content-Security-Policy": csp,
    "Cache-Control": cache,
    ...(type ? { "Content-Type": type } : {}),
  });

  app.get("/", async (c) => {
    const { index } = await load();
    return c.html(index, 200, headers("no-cache"));
  });

  app.get("/explorer.json", (c) => c.json(explorerConfig(deps.log), 200, headers("no-cache")));

  app.get(`/${ASSETS}/:file`, async (c) => {
    const name = c.req.param("file");
    const bytes = (await load()).assets.get(name);
    if (!bytes) throw new TrustlogError("NOT_FOUND", `no explorer asset ${name}`);
    // Names carry a hash of the content: a new build is new names.
    return c.body(
      new Uint8Array(bytes),
      200,
      headers(IMMUTABLE, TYPES[extname(name)] ?? "application/octet-stream"),
    );
  });

  return app;
}
