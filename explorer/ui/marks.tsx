// The marks every view uses: "Verified" (a disclosure that opens on what was checked and the
// proof), a refusal (the client library's error code and message, in place of the data), and
// small pieces for keys and hashes. Native <details> keeps them keyboard and screen-reader
// operable without script of our own.

import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { isTrustlogError } from "../../core/errors.js";

export function Verified(props: { what: string; testId?: string; children: ComponentChildren }) {
  return (
    <details class="verified" data-testid={props.testId} data-verified="true">
      <summary>
        <span class="mark" aria-hidden="true">
          ✓
        </span>{" "}
        Verified<span class="sr-only">: {props.what}. Show what was checked</span>
      </summary>
      <div class="proof">{props.children}</div>
    </details>
  );
}

/** A list of what was checked, each item a sentence. */
export function Checks(props: { items: ComponentChildren[] }) {
  return (
    <ul class="checks">
      {props.items.map((item, i) => (
        <li key={i}>{item}</li>
      ))}
    </ul>
  );
}

export interface ShownError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export function shownError(e: unknown): ShownError {
  if (isTrustlogError(e))
    return { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) };
  return { code: "ERROR", message: e instanceof Error ? e.message : String(e) };
}

export function Refusal(props: { error: unknown; what: string }) {
  const e = shownError(props.error);
  const details = e.details ? { ...e.details } : undefined;
  // Evidence is shown by the page that asked for it; here it would only repeat.
  if (details) delete details.evidence;
  return (
    <section class="refusal" role="alert" data-testid="refusal" data-code={e.code}>
      <h2>Refused: {props.what}</h2>
      <p>
        <code class="code">{e.code}</code> {e.message}
      </p>
      {details && Object.keys(details).length > 0 && (
        <details>
          <summary>Details</summary>
          <pre>{JSON.stringify(details, null, 2)}</pre>
        </details>
      )}
      <p class="note">Nothing from this answer is shown: the explorer shows only what it verified.</p>
    </section>
  );
}

/** A base64 key or hash in a monospace face (it wraps); `full` when `value` is shortened. */
export function B64(props: { value: string; full?: string }) {
  return (
    <code class="b64" title={props.full}>
      {props.value}
    </code>
  );
}

export function Pending(props: { children: ComponentChildren }) {
  return (
    <p class="pending" role="status">
      {props.children}
    </p>
  );
}

/** Copies text to the clipboard; says so where a screen reader hears it. */
export function CopyButton(props: { text: string; label: string }) {
  const [done, setDone] = useState("");
  return (
    <span>
      <button
        type="button"
        onClick={() =>
          navigator.clipboard.writeText(props.text).then(
            () => setDone("Copied."),
            () => setDone("Copying failed: select the text and copy it."),
          )
        }
      >
        {props.label}
      </button>{" "}
      <span role="status">{done}</span>
    </span>
  );
}
