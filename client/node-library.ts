// The client library for Node: the package's main entry ("trustlog"), named node-* as the
// client's Node-only files are (test/architecture.test.ts). Everything the browser entry
// (client/browser.ts, "trustlog/browser") has, plus what needs Node or is for services: a trust
// store in a file, the auditor, the monitor and the provisioning helper.

export * from "./audit.js";
export * from "./browser.js";
export { FileTrustStore } from "./file-store.js";
export type { Fetch, LogClientOptions, LogInfo, SubmitResult } from "./log-client.js";
export * from "./monitor.js";
export * from "./provisioner.js";
export * from "./trust-store.js";
export * from "./verify-key.js";
export * from "./witness-policy.js";
