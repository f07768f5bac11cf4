// The example configurations under deploy/ are what operators copy: they must be accepted by the
// same code that reads real configurations, with keys that parse.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseVerifierKey } from "../core/note-keys.js";
import { loadServerConfig } from "../server/config.js";
import { loadWitnessConfig } from "../witness/config.js";

const deploy = (p: string) => fileURLToPath(new URL(`../deploy/${p}`, import.meta.url));

describe("deploy examples", () => {
  it("the witness example configuration loads and its keys parse", () => {
    const config = loadWitnessConfig(deploy("examples/witness.json"), {});
    expect(config.logs).toHaveLength(1);
    for (const l of config.logs) for (const v of l.vkeys) expect(parseVerifierKey(v).type).toBe(0x01);
    for (const p of config.peers) expect(parseVerifierKey(p.vkey).type).toBe(0x04);
  });

  it("the log server example environment loads and its witness keys parse", () => {
    const env: Record<string, string> = {};
    for (const line of readFileSync(deploy("examples/log.env"), "utf8").split("\n")) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line);
      if (m) env[m[1]!] = m[2]!;
    }
    const config = loadServerConfig(env);
    expect(config.origin).toBe("log.example.com/keys");
    expect(config.witnesses).toHaveLength(1);
    for (const w of config.witnesses) expect(parseVerifierKey(w.vkey).name).toBe(w.name);
  });

  it("the Kubernetes witness list names real cosignature keys", () => {
    const yaml = readFileSync(deploy("k8s/log.yaml"), "utf8");
    const json = yaml.slice(yaml.indexOf("witnesses.json: |") + "witnesses.json: |".length);
    const list = JSON.parse(json) as { name: string; vkey: string }[];
    expect(list).toHaveLength(3);
    for (const w of list) expect(parseVerifierKey(w.vkey).name).toBe(w.name);
  });
});
