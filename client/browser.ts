// The browser entry: everything a web client needs to verify keys, with no Node imports
// (test/browser bundles this file with esbuild and runs it in Chromium).

export { type HistoryBundleJson, verifyBundle } from "./bundle.js";
export { IndexedDbTrustStore } from "./idb-store.js";
export { LogClient } from "./log-client.js";
export { MemoryTrustStore, type TrustStore } from "./trust-store.js";
export {
  activeKeys,
  type VerifyKeyOptions,
  type VerifyKeyResult,
  verifyHistory,
  verifyKey,
} from "./verify-key.js";
export { compileWitnessPolicy } from "./witness-policy.js";
