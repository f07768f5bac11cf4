// The page frame: navigation, the witness-policy banner (a run without witnesses is unsafe and
// says so on every page), and the view for the URL fragment. Focus moves to the new view on
// navigation so keyboard and screen-reader users land on it.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { LoadedConfig } from "./config.js";
import { href, parseRoute, type Route } from "./route.js";
import { openSession } from "./session.js";
import { keyName } from "./ui/format.js";
import { AccountView } from "./views/account-view.js";
import { EntryView } from "./views/entry-view.js";
import { LogView } from "./views/log-view.js";
import { OrgView } from "./views/org-view.js";
import { SettingsView } from "./views/settings-view.js";

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function PolicyBanner(props: { loaded: LoadedConfig }) {
  const { loaded } = props;
  const p = loaded.policy;
  return (
    <div class="banners">
      {p.quorum === 0 ? (
        <p class="banner danger" role="alert" data-testid="policy-unsafe">
          <strong>No witness policy: unsafe.</strong> Checkpoints are checked against the log's key only, so
          the log could show this browser a history nobody else sees. Add witness keys in{" "}
          <a href={href({ page: "settings" })}>Settings</a>.
        </p>
      ) : (
        <p class="banner ok" data-testid="policy">
          Witness policy: {p.quorum} of {p.witnesses.length} ({p.witnesses.map((w) => w.name).join(", ")})
          must cosign · log key {keyName(loaded.config.vkey)}
        </p>
      )}
      {loaded.firstUse && (
        <p class="banner warn">
          These keys came from the log's own explorer.json and are now pinned in this browser. Compare them
          with keys published elsewhere: <a href={href({ page: "settings" })}>Settings</a>.
        </p>
      )}
      {loaded.warnings.map((w) => (
        <p key={w} class="banner warn" role="alert">
          {w}
        </p>
      ))}
    </div>
  );
}

export function App(props: { loaded: LoadedConfig | undefined; error?: unknown }) {
  const route = useRoute();
  const session = useMemo(() => props.loaded && openSession(props.loaded), [props.loaded]);
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) first.current = false;
    else main.current?.focus();
  }, [route]);
  let view = null;
  if (!session || route.page === "settings")
    view = (
      <SettingsView loaded={props.loaded} {...(props.error !== undefined ? { error: props.error } : {})} />
    );
  else if (route.page === "log") view = <LogView session={session} />;
  else if (route.page === "account")
    view = (
      <AccountView
        key={`${route.org}/${route.account}`}
        session={session}
        org={route.org}
        account={route.account}
      />
    );
  else if (route.page === "org") view = <OrgView key={route.org} session={session} org={route.org} />;
  else if (route.page === "entry")
    view = <EntryView key={route.index} session={session} index={route.index} />;
  else
    view = (
      <>
        <h1>Not a page</h1>
        <p>
          Nothing is at <code>#/{route.path}</code>. <a href={href({ page: "log" })}>Go to the log.</a>
        </p>
      </>
    );
  return (
    <>
      <button type="button" class="skip" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <a class="brand" href={href({ page: "log" })}>
          trustlog explorer
        </a>
        <nav aria-label="main">
          <a href={href({ page: "log" })} aria-current={route.page === "log" ? "page" : undefined}>
            Log
          </a>
          <a href={href({ page: "settings" })} aria-current={route.page === "settings" ? "page" : undefined}>
            Settings
          </a>
        </nav>
      </header>
      {props.loaded && <PolicyBanner loaded={props.loaded} />}
      <main id="main" ref={main} tabIndex={-1}>
        {view}
      </main>
      <footer>
        Everything marked <span class="mark">✓</span> Verified was checked in this browser by trustlog's
        client library against the keys above; anything that fails a check is refused, not shown.
      </footer>
    </>
  );
}
