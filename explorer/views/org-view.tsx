// An org's admins and grants, from the org's own bundle (its whole chain, verified like an
// account's history). A big org's chain is long, so lists are bounded and counted.

import type { OrgState } from "../../core/state.js";
import { href } from "../route.js";
import type { Session } from "../session.js";
import { short } from "../ui/format.js";
import { B64, Checks, Pending, Refusal, Verified } from "../ui/marks.js";
import { useTask } from "../ui/use-task.js";
import { checkOrg, type GrantView, grantsOf } from "../verify/history.js";
import { EventList } from "./events.js";

const SHOWN = 50;

export function OrgView(props: { session: Session; org: string }) {
  return (
    <>
      <h1>
        Org <span class="ident">{props.org}</span>
      </h1>
      <OrgPanel session={props.session} org={props.org} withEvents />
    </>
  );
}

/**
 * `admins`: the org as verified from an account's bundle (its authority sub-chain is complete
 * there), shown at once while the org's own bundle loads.
 */
export function OrgPanel(props: { session: Session; org: string; admins?: OrgState; withEvents?: boolean }) {
  const { session: s, org } = props;
  const [task] = useTask(() => checkOrg(s, org), `org ${org}`);
  const state = task.state === "done" ? task.value.history.org : props.admins;
  return (
    <section aria-labelledby="org-h" data-testid="org-panel">
      <h2 id="org-h">
        The org <a href={href({ page: "org", org })}>{org}</a>
        {state ? `: ${state.name}` : ""}
      </h2>
      {state && (
        <>
          <h3>
            Admins ({state.admins.length}; {state.threshold} must sign org changes)
          </h3>
          <ul class="plain" aria-label="admins">
            {state.admins.slice(0, SHOWN).map((a) => (
              <li key={a}>
                <B64 value={a} />
              </li>
            ))}
          </ul>
          {state.admins.length > SHOWN && <p>and {state.admins.length - SHOWN} more.</p>}
        </>
      )}
      <h3>Grants</h3>
      {task.state === "running" && <Pending>Verifying the org's whole chain…</Pending>}
      {task.state === "failed" && <Refusal error={task.error} what={`the chain of org ${org}`} />}
      {task.state === "done" && (
        <>
          <Grants grants={grantsOf(task.value.history)} />
          <Verified what={`the chain of org ${org}`} testId="org-mark">
            <Checks
              items={[
                `All ${task.value.history.orgEvents.length} events of the org's chain, from its creation, are included in the checkpoint of size ${task.value.history.checkpoint.size}, chained, and accepted by a replay of the policy.`,
                `The log's index (entry #${task.value.history.index.size}) proves the chain ends there.`,
                `Checked in ${Math.round(task.value.ms)} ms.`,
              ]}
            />
          </Verified>
          {props.withEvents && (
            <>
              <h3>Events ({task.value.history.orgEvents.length})</h3>
              <EventList
                events={task.value.history.orgEvents.slice(-SHOWN).reverse()}
                check={task.value}
                label={`latest events of ${org}`}
              />
              {task.value.history.orgEvents.length > SHOWN && (
                <p>The latest {SHOWN} are shown, newest first.</p>
              )}
            </>
          )}
        </>
      )}
    </section>
  );
}

function Grants(props: { grants: GrantView[] }) {
  const g = props.grants;
  if (g.length === 0) return <p>None: only admins act for this org.</p>;
  const live = g.filter((x) => x.status === "active").length;
  // Active grants first: they are what can act now.
  const order = { active: 0, "not yet valid": 1, expired: 2, revoked: 3 };
  const shown = [...g].sort((a, b) => order[a.status] - order[b.status] || b.issue.index - a.issue.index);
  return (
    <>
      <p>
        {g.length} grant{g.length > 1 ? "s" : ""}, {live} active
        {g.length > SHOWN ? `; the first ${SHOWN} are shown, active ones first` : ""}.
      </p>
      <ul class="grants" aria-label="grants">
        {shown.slice(0, SHOWN).map((x) => (
          <li key={x.id} class={`grant grant-${x.status.replace(/ /g, "-")}`}>
            <span class="ident">{x.id}</span> · <span class="status">{x.status}</span> · delegate{" "}
            <B64 value={short(x.body.delegate)} full={x.body.delegate} />
            <br />
            may {x.body.ops.join(", ")} for{" "}
            {x.body.accounts.includes("*")
              ? "every account"
              : `accounts ${x.body.accounts.map((p) => `${p}…`).join(", ")}`}
            , from {x.body.notBefore} until {x.body.notAfter}
            {x.body.note ? ` (“${x.body.note}”)` : ""}. Issued at{" "}
            <a href={href({ page: "entry", index: x.issue.index })}>#{x.issue.index}</a>
            {x.revoke && (
              <>
                , revoked at{" "}
                <a href={href({ page: "entry", index: x.revoke.event.index })}>#{x.revoke.event.index}</a>:{" "}
                {x.revoke.body.reason}
              </>
            )}
            .
          </li>
        ))}
      </ul>
    </>
  );
}
