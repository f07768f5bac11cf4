// The pure core library as one module: the package entry "trustlog/core" (docs/core-api.md).
// Browser-safe: no Node built-ins; Ed25519 by conditional import (core/ed25519.ts).

export * from "./bytes.js";
export * from "./checkpoint.js";
export * from "./compact-range.js";
export * from "./cosignature.js";
export * from "./ed25519.js";
export * from "./entry-bundle.js";
export * from "./error-codes.js";
export * from "./errors.js";
export * from "./event.js";
export * from "./event-build.js";
export * from "./event-time.js";
export * from "./index-entries.js";
export * from "./invite.js";
export * from "./jcs.js";
export * from "./log-replay.js";
export * from "./lru.js";
export * from "./memory-state.js";
export * from "./merkle.js";
export * from "./mpt.js";
export * from "./note.js";
export * from "./note-keys.js";
export * from "./policy.js";
export * from "./proof.js";
export * from "./state.js";
export * from "./subchain.js";
export * from "./tile-append.js";
export * from "./tile-paths.js";
export * from "./tile-reader.js";
export * from "./witness-protocol.js";
