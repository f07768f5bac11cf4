// The account page: the account's verified status and keys, its history, and the org around it
// (admins from the account's own bundle, which carries the org's whole authority sub-chain;
// grants from the org's bundle, fetched after the account is shown since it can be large).

import { activeKeys } from "../../client/verify-key.js";
import { toBase64 } from "../../core/bytes.js";
import type { AccountState } from "../../core/state.js";
import { href } from "../route.js";
import type { Session } from "../session.js";
import { keyName, short } from "../ui/format.js";
import { B64, Checks, Pending, Refusal, Verified } from "../ui/marks.js";
import { useTask } from "../ui/use-task.js";
import { checkAccount, type HistoryCheck } from "../verify/history.js";
import { EventList } from "./events.js";
import { OrgPanel } from "./org-view.js";

export function AccountView(props: { session: Session; org: string; account: string }) {
  const { session: s, org, account } = props;
  const [task] = useTask(() => checkAccount(s, org, account), `account ${org} ${account}`);
  return (
    <>
      <h1>
        Account <span class="ident">{account}</span>{" "}
        <span class="sub">
          in <a href={href({ page: "org", org })}>{org}</a>
        </span>
      </h1>
      {task.state === "running" && <Pending>Verifying the history of {account}…</Pending>}
      {task.state === "failed" && <Refusal error={task.error} what={`the history of ${account} in ${org}`} />}
      {task.state === "done" && (
        <>
          <AccountSummary session={s} check={task.value} />
          <section aria-labelledby="history-h">
            <h2 id="history-h">History ({task.value.history.accountEvents.length} events)</h2>
            <EventList
              events={task.value.history.accountEvents}
              check={task.value}
              account={task.value.history.account!}
              label={`events of ${account}`}
              testId="account-events"
            />
          </section>
          <section aria-labelledby="judged-h">
            <h2 id="judged-h">Org events these were judged by ({task.value.history.orgEvents.length})</h2>
            <p>
              The org's authority events (creation, admins) and the grants this account's events act under:
              complete, as the log's index proves.
            </p>
            <EventList events={task.value.history.orgEvents} check={task.value} label={`events of ${org}`} />
          </section>
          <OrgPanel session={s} org={org} admins={task.value.history.org} />
        </>
      )}
    </>
  );
}

function AccountSummary(props: { session: Session; check: HistoryCheck }) {
  const { session: s, check } = props;
  const h = check.history;
  const account = h.account as AccountState;
  const keys = [...account.keys.values()].sort((a, b) => a.addedIndex - b.addedIndex);
  const active = new Set(activeKeys(account).map((k) => k.id));
  const cp = h.checkpoint;
  const last = h.accountEvents[h.accountEvents.length - 1]!;
  return (
    <section aria-labelledby="status-h" data-testid="account-verified">
      <h2 id="status-h">
        Status: <span class={`status status-${account.status}`}>{account.status}</span>
      </h2>
      <Verified what={`the history of ${account.id}`} testId="account-mark">
        <p>
          Checked in this browser in {Math.round(check.ms)} ms with trustlog's client library (verifyHistory),
          trusting only the pinned keys:
        </p>
        <Checks
          items={[
            <>
              The checkpoint (size {cp.size}) is signed by the log key{" "}
              <span class="ident">{keyName(s.log.vkey)}</span>
              {s.policy.quorum > 0 ? (
                <>
                  {" "}
                  and cosigned by {h.cosigners.join(", ")} ({s.policy.quorum} of {s.policy.witnesses.length}{" "}
                  required, within {s.config.maxAgeSeconds} s).
                </>
              ) : (
                <strong> only: no witness policy.</strong>
              )}
            </>,
            `Each of the ${h.accountEvents.length + h.orgEvents.length} events is included in that checkpoint and in canonical form.`,
            `The account's chain runs from seq 0 to ${last.envelope.event.seq} with no gap, each event pointing at the one before.`,
            <>
              The log's index (entry #{h.index.size}, the checkpoint's last leaf) proves that this chain ends
              at seq {last.envelope.event.seq} (entry #{last.index}): nothing was left out at the end. It also
              proves the org's authority events and the grants used here complete.
            </>,
            "Every event's time is within the allowed skew of the time the log logged it.",
            "Every signature verifies, and replaying the events in log order with the same policy the log runs accepts each of them.",
            <>
              The checkpoint extends the last one this browser trusted, no chain is shorter than one seen
              before, and the org's creation is{" "}
              {check.genesisFirstUse ? (
                <strong>pinned now (first time this browser sees this org)</strong>
              ) : (
                "the one pinned earlier"
              )}
              : <B64 value={short(h.org.genesis, 16)} full={h.org.genesis} />.
            </>,
          ]}
        />
        <details>
          <summary>The lookup proof (index leaf #{check.bundle.lookup.index} and trie proofs)</summary>
          <pre>{JSON.stringify(check.bundle.lookup, null, 2)}</pre>
        </details>
      </Verified>
      <h3>Keys</h3>
      {keys.length === 0 ? (
        <p>No keys yet (an invited account gets its first key from its own device).</p>
      ) : (
        <ul class="keys" aria-label="keys">
          {keys.map((k) => (
            <li key={k.id} class={active.has(k.id) ? "key" : "key revoked"}>
              <span class="ident">{k.id}</span> · {k.use} ({k.alg}) ·{" "}
              {k.revokedIndex !== undefined ? (
                <span class="warn-text">
                  revoked at <a href={href({ page: "entry", index: k.revokedIndex })}>#{k.revokedIndex}</a>
                  {k.revokeReason ? `: ${k.revokeReason}` : ""}
                </span>
              ) : account.status === "active" ? (
                "active"
              ) : (
                `not usable while the account is ${account.status}`
              )}{" "}
              · added at <a href={href({ page: "entry", index: k.addedIndex })}>#{k.addedIndex}</a>
              <br />
              <B64 value={k.pub} />
            </li>
          ))}
        </ul>
      )}
      {account.externalId && (
        <p>
          External id: <span class="ident">{account.externalId}</span>
        </p>
      )}
      <p class="note">
        Checkpoint root <B64 value={short(toBase64(cp.root), 16)} full={toBase64(cp.root)} />, size {cp.size}.
      </p>
    </section>
  );
}
