// Pages are addressed by the URL fragment (#/account/acme/alice), so the explorer works as plain
// files from any web server or CDN: no server has to know its routes.

export type Route =
  | { page: "log" }
  | { page: "account"; org: string; account: string }
  | { page: "org"; org: string }
  | { page: "entry"; index: number }
  | { page: "settings" }
  | { page: "unknown"; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, "");
  const parts = path.split("/").map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [page, a, b] = parts;
  if (path === "") return { page: "log" };
  if (page === "settings" && parts.length === 1) return { page: "settings" };
  if (page === "account" && a && b && parts.length === 3) return { page: "account", org: a, account: b };
  if (page === "org" && a && parts.length === 2) return { page: "org", org: a };
  if (page === "entry" && a && /^(0|[1-9]\d{0,15})$/.test(a) && parts.length === 2)
    return { page: "entry", index: Number(a) };
  return { page: "unknown", path };
}

export function href(r: Route): string {
  const e = encodeURIComponent;
  switch (r.page) {
    case "log":
      return "#/";
    case "account":
      return `#/account/${e(r.org)}/${e(r.account)}`;
    case "org":
      return `#/org/${e(r.org)}`;
    case "entry":
      return `#/entry/${r.index}`;
    case "settings":
      return "#/settings";
    case "unknown":
      return `#/${r.path}`;
  }
}
