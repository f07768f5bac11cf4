// The explorer's entry point (built by server/routes/explorer.ts with esbuild).

import "./style.css";
import { render } from "preact";
import { App } from "./app.js";
import { type LoadedConfig, loadConfig } from "./config.js";

async function start(): Promise<void> {
  let loaded: LoadedConfig | undefined;
  let error: unknown;
  try {
    loaded = await loadConfig(location);
  } catch (e) {
    error = e;
  }
  const root = document.getElementById("app");
  if (root) render(<App loaded={loaded} {...(error !== undefined ? { error } : {})} />, root);
}

void start();
