// Which log the explorer reads and which keys it verifies against. The keys are what make the
// explorer's "verified" mean anything, so where they come from is shown and they are pinned:
// the first configuration used is remembered (localStorage), and a later explorer.json or link
// that says otherwise does not replace it silently. Only the settings form changes what is saved.

import {
  type CompiledWitnessPolicy,
  compileWitnessPolicy,
  DEFAULT_MAX_AGE_SECONDS,
} from "../client/witness-policy.js";
import { TrustlogError } from "../core/errors.js";
import { NOTE_TYPE_ED25519 } from "../core/note.js";
import { parseVerifierKey } from "../core/note-keys.js";

export interface ExplorerConfig {
  /** Base URL of the log's API. */
  url: string;
  /** The log's note verifier key. */
  vkey: string;
  /** The checkpoint origin, when it differs from the key name. */
  origin?: string;
  /** cosignature/v1 vkeys of the witnesses required, `quorum` of them. */
  witnesses: string[];
  quorum: number;
  maxAgeSeconds: number;
}

/** Where the configuration in use came from. */
export type ConfigSource = "saved" | "link" | "explorer.json";

export interface LoadedConfig {
  config: ExplorerConfig;
  source: ConfigSource;
  policy: CompiledWitnessPolicy;
  /** True when the explorer.json served was taken as is and pinned now (trust on first use). */
  firstUse: boolean;
  /** Reasons to look twice (a link or explorer.json that disagrees with the saved keys). */
  warnings: string[];
}

const SAVED = "trustlog-explorer:config";

function bad(message: string): TrustlogError {
  return new TrustlogError("BAD_CONFIG", message);
}

/** Checks and normalises a configuration (BAD_CONFIG, or BAD_POLICY from the witness policy). */
export function parseConfig(v: unknown, defaultUrl: string): ExplorerConfig {
  if (typeof v !== "object" || v === null) throw bad("the configuration is not an object");
  const o = v as Record<string, unknown>;
  const url = o.url === undefined || o.url === "" ? defaultUrl : o.url;
  if (typeof url !== "string" || !/^https?:\/\/[^\s]+$/.test(url)) throw bad("url is not an http(s) URL");
  if (typeof o.vkey !== "string" || o.vkey === "") throw bad("the log's vkey is missing");
  let name: string;
  try {
    const k = parseVerifierKey(o.vkey);
    if (k.type !== NOTE_TYPE_ED25519) throw bad("the log's vkey is not an Ed25519 note key");
    name = k.name;
  } catch (e) {
    throw e instanceof TrustlogError && e.code === "BAD_CONFIG"
      ? e
      : bad(`the log's vkey: ${(e as Error).message}`);
  }
  const witnesses = o.witnesses ?? [];
  if (!Array.isArray(witnesses) || witnesses.some((w) => typeof w !== "string"))
    throw bad("witnesses is not a list of vkeys");
  const quorum = o.quorum ?? witnesses.length;
  if (typeof quorum !== "number") throw bad("quorum is not a number");
  const maxAgeSeconds = o.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  if (typeof maxAgeSeconds !== "number" || !Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds <= 0)
    throw bad("maxAgeSeconds is not a positive integer");
  const config: ExplorerConfig = {
    url: url.replace(/\/+$/, ""),
    vkey: o.vkey,
    witnesses: witnesses as string[],
    quorum,
    maxAgeSeconds,
  };
  if (typeof o.origin === "string" && o.origin !== "" && o.origin !== name) config.origin = o.origin;
  compileWitnessPolicy(config);
  return config;
}

/** Same keys, same log: what decides whether two configurations verify alike. */
export function sameTrust(a: ExplorerConfig, b: ExplorerConfig): boolean {
  return (
    a.url === b.url &&
    a.vkey === b.vkey &&
    (a.origin ?? "") === (b.origin ?? "") &&
    a.quorum === b.quorum &&
    [...a.witnesses].sort().join("\n") === [...b.witnesses].sort().join("\n")
  );
}

export function savedConfig(defaultUrl: string): ExplorerConfig | undefined {
  const text = localStorage.getItem(SAVED);
  if (text === null) return undefined;
  try {
    return parseConfig(JSON.parse(text), defaultUrl);
  } catch {
    // A saved value this version cannot read is as good as none; the settings form shows it.
    return undefined;
  }
}

export function saveConfig(c: ExplorerConfig): void {
  localStorage.setItem(SAVED, JSON.stringify(c));
}

export function forgetConfig(): void {
  localStorage.removeItem(SAVED);
}

/** The log serves the explorer at its own root, so by default the log is where the page is. */
export function pageBase(location: Location): string {
  return new URL(".", location.href).href.replace(/\/+$/, "");
}

/** A configuration from the page's query string (?log=&vkey=&origin=&witness=…&quorum=), if any. */
export function linkConfig(search: string, defaultUrl: string): ExplorerConfig | undefined {
  const q = new URLSearchParams(search);
  if (!q.has("vkey")) return undefined;
  return parseConfig(
    {
      url: q.get("log") ?? undefined,
      vkey: q.get("vkey"),
      origin: q.get("origin") ?? undefined,
      witnesses: q.getAll("witness"),
      quorum: q.has("quorum") ? Number(q.get("quorum")) : undefined,
      maxAgeSeconds: q.has("maxAge") ? Number(q.get("maxAge")) : undefined,
    },
    defaultUrl,
  );
}

/** explorer.json next to the app, if the site serves one. */
async function servedConfig(defaultUrl: string): Promise<ExplorerConfig | undefined> {
  let res: Response;
  try {
    res = await fetch("explorer.json", { cache: "no-cache" });
  } catch {
    return undefined;
  }
  if (!res.ok) return undefined;
  return parseConfig(await res.json(), defaultUrl);
}

function loaded(
  config: ExplorerConfig,
  source: ConfigSource,
  warnings: string[],
  firstUse = false,
): LoadedConfig {
  return { config, source, policy: compileWitnessPolicy(config), firstUse, warnings };
}

/**
 * The configuration to verify with: a link's (this visit only), else the saved one, else the
 * served explorer.json (then saved: pinned on first use). Undefined when there is none.
 */
export async function loadConfig(location: Location): Promise<LoadedConfig | undefined> {
  const defaultUrl = pageBase(location);
  const saved = savedConfig(defaultUrl);
  const link = linkConfig(location.search, defaultUrl);
  if (link) {
    const warnings =
      saved && !sameTrust(saved, link)
        ? ["This link names other keys than your saved settings: they are used for this visit only."]
        : [];
    return loaded(link, "link", warnings);
  }
  let served: ExplorerConfig | undefined;
  try {
    served = await servedConfig(defaultUrl);
  } catch (e) {
    if (!saved) throw e;
  }
  if (saved) {
    const warnings =
      served && !sameTrust(saved, served)
        ? [
            "The explorer.json served now names other keys than the ones saved in this browser. " +
              "The explorer still verifies with the saved keys; change them in Settings only if " +
              "the log's operator announced the change out of band.",
          ]
        : [];
    return loaded(saved, "saved", warnings);
  }
  if (!served) return undefined;
  saveConfig(served);
  return loaded(served, "explorer.json", [], true);
}
