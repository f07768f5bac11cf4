// Tests run with the native Ed25519 back end, as the server, witness and CLI do: test histories
// sign and verify tens of thousands of events. Under Node, "#ed25519" resolves to it with no call
// to install it (docs/architecture.md "Package"); this stops the run if that ever changes.
// test/core/ed25519.test.ts proves both back ends give identical answers, and the tests of the
// noble path (browser, core) name it explicitly.
import { ed25519 } from "../core/ed25519.js";

if (ed25519().name !== "node:crypto") {
  throw new Error(`tests expect the native Ed25519 back end under Node, got ${ed25519().name}`);
}
