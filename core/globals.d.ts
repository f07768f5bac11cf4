// core/ compiles with neither Node's types nor the DOM library (so that fetch, timers or the file
// system cannot creep in). It needs only UTF-8 text codecs, present in every JavaScript runtime
// trustlog targets (Node, browsers, workers): declared here, and nothing else.

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: Uint8Array): string;
}
