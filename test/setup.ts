// Tests run with the native Ed25519 back end, as the server, witness and CLI do: test histories
// sign and verify tens of thousands of events. test/core/ed25519.test.ts proves both back ends
// give identical answers, and the tests of the noble path (browser, core) name it explicitly.
import { useNativeEd25519 } from "../node/ed25519-native.js";

useNativeEd25519();
