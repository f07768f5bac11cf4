// The keys the explorer verifies with: shown, editable, saved in this browser. Saving is the
// only way to replace saved keys (a link or a changed explorer.json only warns).

import { useState } from "preact/hooks";
import {
  type ExplorerConfig,
  forgetConfig,
  type LoadedConfig,
  pageBase,
  parseConfig,
  saveConfig,
} from "../config.js";
import { Refusal } from "../ui/marks.js";

function shareLink(c: ExplorerConfig): string {
  const q = new URLSearchParams();
  q.set("log", c.url);
  q.set("vkey", c.vkey);
  if (c.origin) q.set("origin", c.origin);
  for (const w of c.witnesses) q.append("witness", w);
  q.set("quorum", String(c.quorum));
  return `${location.origin}${location.pathname}?${q}`;
}

export function SettingsView(props: { loaded: LoadedConfig | undefined; error?: unknown }) {
  const c = props.loaded?.config;
  const [url, setUrl] = useState(c?.url ?? pageBase(location));
  const [vkey, setVkey] = useState(c?.vkey ?? "");
  const [origin, setOrigin] = useState(c?.origin ?? "");
  const [witnesses, setWitnesses] = useState(c?.witnesses.join("\n") ?? "");
  const [quorum, setQuorum] = useState(String(c?.quorum ?? 0));
  const [maxAge, setMaxAge] = useState(String(c?.maxAgeSeconds ?? 3600));
  const [error, setError] = useState<unknown>(undefined);
  return (
    <>
      <h1>Settings</h1>
      {!c && (
        <p>
          Tell the explorer which log to read and which keys to trust. The log's operator publishes its key
          and its witnesses' keys; get them from a source you trust, not only from the log.
        </p>
      )}
      {props.error !== undefined && <Refusal error={props.error} what="the explorer's configuration" />}
      {props.loaded && (
        <p>
          In use: keys from{" "}
          <strong>
            {props.loaded.source === "saved"
              ? "this browser's saved settings"
              : props.loaded.source === "link"
                ? "the link you opened (this visit only)"
                : "the log's explorer.json (now saved)"}
          </strong>
          .
        </p>
      )}
      <form
        class="settings"
        onSubmit={(e) => {
          e.preventDefault();
          try {
            const next = parseConfig(
              {
                url,
                vkey: vkey.trim(),
                origin: origin.trim(),
                witnesses: witnesses
                  .split("\n")
                  .map((w) => w.trim())
                  .filter((w) => w !== ""),
                quorum: Number(quorum),
                maxAgeSeconds: Number(maxAge),
              },
              pageBase(location),
            );
            saveConfig(next);
            location.href = `${location.origin}${location.pathname}#/`;
            location.reload();
          } catch (err) {
            setError(err);
          }
        }}
      >
        <label for="s-url">Log API URL</label>
        <input id="s-url" type="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} required />
        <label for="s-vkey">Log key (note verifier key)</label>
        <input
          id="s-vkey"
          value={vkey}
          onInput={(e) => setVkey(e.currentTarget.value)}
          required
          spellcheck={false}
        />
        <label for="s-origin">Checkpoint origin, if not the key's name</label>
        <input
          id="s-origin"
          value={origin}
          onInput={(e) => setOrigin(e.currentTarget.value)}
          spellcheck={false}
        />
        <label for="s-witnesses">Witness keys (cosignature/v1), one a line</label>
        <textarea
          id="s-witnesses"
          rows={4}
          value={witnesses}
          onInput={(e) => setWitnesses(e.currentTarget.value)}
          spellcheck={false}
        />
        <label for="s-quorum">How many of them must cosign (0: no witness policy, unsafe)</label>
        <input
          id="s-quorum"
          type="number"
          min={0}
          value={quorum}
          onInput={(e) => setQuorum(e.currentTarget.value)}
        />
        <label for="s-maxage">Maximum age of the cosignatures, seconds</label>
        <input
          id="s-maxage"
          type="number"
          min={1}
          value={maxAge}
          onInput={(e) => setMaxAge(e.currentTarget.value)}
        />
        <div class="buttons">
          <button type="submit">Save and verify with these keys</button>
          {c && (
            <button
              type="button"
              onClick={() => {
                forgetConfig();
                location.reload();
              }}
            >
              Forget saved keys
            </button>
          )}
        </div>
      </form>
      {error !== undefined && <Refusal error={error} what="these settings" />}
      {c && (
        <p>
          A link that opens the explorer with these keys: <code class="b64">{shareLink(c)}</code>
        </p>
      )}
    </>
  );
}
