// One entry by index, decoded, with its inclusion proof against the latest verified checkpoint.

import { toBase64 } from "../../core/bytes.js";
import { isOrgEventType } from "../../core/event.js";
import { href } from "../route.js";
import type { Session } from "../session.js";
import { keyName, short } from "../ui/format.js";
import { B64, Checks, Pending, Refusal, Verified } from "../ui/marks.js";
import { useTask } from "../ui/use-task.js";
import { checkEntry, type EntryCheck } from "../verify/entry.js";
import { authorisedBy } from "./events.js";

export function EntryView(props: { session: Session; index: number }) {
  const { session: s, index } = props;
  const [task] = useTask(() => checkEntry(s, index), `entry ${index}`);
  return (
    <>
      <h1>Entry #{index}</h1>
      <nav aria-label="neighbouring entries" class="inline">
        {index > 0 && <a href={href({ page: "entry", index: index - 1 })}>← #{index - 1}</a>}{" "}
        <a href={href({ page: "entry", index: index + 1 })}>#{index + 1} →</a>
      </nav>
      {task.state === "running" && <Pending>Verifying entry #{index}…</Pending>}
      {task.state === "failed" && <Refusal error={task.error} what={`entry #${index}`} />}
      {task.state === "done" && <Entry session={s} check={task.value} />}
    </>
  );
}

function Entry(props: { session: Session; check: EntryCheck }) {
  const { session: s, check } = props;
  const cp = check.log.verified.checkpoint;
  const e = check.entry;
  return (
    <section data-testid="entry-verified" aria-labelledby="decoded-h">
      <h2 id="decoded-h">{e.kind === "event" ? e.parsed.envelope.event.type : "The log's index leaf"}</h2>
      {e.kind === "event" ? (
        <EventFacts check={check} />
      ) : (
        <dl class="facts">
          <dt>Log time</dt>
          <dd>{new Date(e.leaf.time).toISOString()}</dd>
          <dt>What it is</dt>
          <dd>
            The log's own leaf, written after each batch: the root of its index of chain heads for every entry
            before #{e.leaf.size}. It lets a client prove an account's history is complete.
          </dd>
          <dt>Index root</dt>
          <dd>
            <B64 value={toBase64(e.leaf.root)} />
          </dd>
        </dl>
      )}
      <Verified what={`entry ${check.index}`} testId="entry-mark">
        <Checks
          items={[
            <>
              The checkpoint of size {cp.size} is signed by the log key{" "}
              <span class="ident">{keyName(s.log.vkey)}</span>
              {s.policy.quorum > 0
                ? ` and cosigned by ${check.log.verified.cosigners.join(", ")} (${s.policy.quorum} required)`
                : " only (no witness policy)"}
              , and extends the last checkpoint this browser trusted.
            </>,
            "The entry is in canonical form; its leaf hash is computed here from its bytes.",
            `It is included at index ${check.index} in that checkpoint (RFC 9162 proof of ${check.inclusion.length} hashes, below).`,
            e.kind === "event"
              ? "Every signature on it verifies over the canonical event."
              : "It says it is at the index it was found at.",
          ]}
        />
        {e.kind === "event" && (
          <p class="note">
            Whether the signers had the authority to sign it depends on the history before it: open the{" "}
            {(() => {
              const ev = e.parsed.envelope.event;
              return isOrgEventType(ev.type) ? (
                <a href={href({ page: "org", org: ev.org })}>org's chain</a>
              ) : (
                <a href={href({ page: "account", org: ev.org, account: ev.subject })}>account's history</a>
              );
            })()}, where every rule is replayed.
          </p>
        )}
        <dl class="facts">
          <dt>Leaf hash</dt>
          <dd>
            <B64 value={check.leafHash} />
          </dd>
          <dt>Checkpoint root</dt>
          <dd>
            <B64 value={toBase64(cp.root)} />
          </dd>
        </dl>
        <h3>Inclusion proof</h3>
        <ol class="hashes">
          {check.inclusion.map((h, i) => (
            <li key={i}>
              <B64 value={h} />
            </li>
          ))}
        </ol>
      </Verified>
      <h3>The leaf (canonical JSON)</h3>
      <pre class="leaf">{JSON.stringify(JSON.parse(check.leaf), null, 2)}</pre>
    </section>
  );
}

function EventFacts(props: { check: EntryCheck }) {
  const e = props.check.entry;
  if (e.kind !== "event") return null;
  const env = e.parsed.envelope;
  const ev = env.event;
  const org = isOrgEventType(ev.type);
  return (
    <dl class="facts">
      <dt>Org</dt>
      <dd>
        <a href={href({ page: "org", org: ev.org })}>{ev.org}</a>
      </dd>
      {!org && (
        <>
          <dt>Account</dt>
          <dd>
            <a href={href({ page: "account", org: ev.org, account: ev.subject })}>{ev.subject}</a>
          </dd>
        </>
      )}
      <dt>Seq</dt>
      <dd>{ev.seq}</dd>
      <dt>Time</dt>
      <dd>
        <time dateTime={ev.time}>{ev.time}</time>
      </dd>
      <dt>Authorised by</dt>
      <dd>{authorisedBy({ index: props.check.index, leafHash: e.leafHash, envelope: env })}</dd>
      <dt>Signatures</dt>
      <dd>
        <ul class="plain">
          {env.sigs.map((sg) => (
            <li key={sg.key}>
              <B64 value={short(sg.key, 16)} full={sg.key} />
            </li>
          ))}
        </ul>
      </dd>
    </dl>
  );
}
