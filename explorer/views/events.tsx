// A verified history as a list: each event with who authorised it, when, where in the log, and
// a "Verified" mark that opens on its proof. Every event shown passed the whole of verifyHistory
// (signature, inclusion, chain, lookup proof, policy), so the mark is per event but the checks
// were made on the history as a whole: that is what makes the chain and policy checks possible.

import type { VerifiedEvent } from "../../client/bundle.js";
import { toBase64 } from "../../core/bytes.js";
import type { AccountState } from "../../core/state.js";
import { href } from "../route.js";
import { short } from "../ui/format.js";
import { B64, Checks, Verified } from "../ui/marks.js";
import type { HistoryCheck } from "../verify/history.js";

/** Who authorised an event, in words. */
export function authorisedBy(e: VerifiedEvent, account?: AccountState) {
  const actor = e.envelope.event.actor;
  const cosigners = e.envelope.sigs.length - 1;
  if (actor.role === "delegate")
    return (
      <>
        delegate <B64 value={short(actor.key)} full={actor.key} /> under grant{" "}
        <span class="ident">{actor.grant}</span>
      </>
    );
  if (actor.role === "admin")
    return (
      <>
        admin <B64 value={short(actor.key)} full={actor.key} />
        {cosigners > 0 && ` (and ${cosigners} more signature${cosigners > 1 ? "s" : ""})`}
      </>
    );
  const own = account && [...account.keys.values()].find((k) => k.pub === actor.key);
  return (
    <>
      the account itself
      {own ? (
        <>
          {" "}
          (key <span class="ident">{own.id}</span>)
        </>
      ) : null}
    </>
  );
}

export function EventList(props: {
  events: VerifiedEvent[];
  check: HistoryCheck;
  account?: AccountState;
  label: string;
  testId?: string;
}) {
  const { check } = props;
  const cp = check.history.checkpoint;
  return (
    <ol class="events" aria-label={props.label} data-testid={props.testId}>
      {props.events.map((e, i) => {
        const ev = e.envelope.event;
        const cover = check.covers.get(e.index);
        const proof = check.inclusion.get(e.index) ?? [];
        const prev = i > 0 ? props.events[i - 1] : undefined;
        return (
          <li key={e.index} class="event" data-index={e.index}>
            <div class="event-head">
              <span class="type">{ev.type}</span>
              <a href={href({ page: "entry", index: e.index })}>entry #{e.index}</a>
              <time dateTime={ev.time}>{ev.time}</time>
            </div>
            <p class="by">By {authorisedBy(e, props.account)}</p>
            <Verified what={`${ev.type} at entry ${e.index}`}>
              <Checks
                items={[
                  <>
                    Signature{e.envelope.sigs.length > 1 ? "s" : ""} by{" "}
                    {e.envelope.sigs.map((sg) => (
                      <span key={sg.key}>
                        <B64 value={short(sg.key)} full={sg.key} />{" "}
                      </span>
                    ))}
                    valid over the canonical event, and the signers had the authority the rules require at
                    this point of the log (core policy, replayed from the org's creation).
                  </>,
                  <>
                    Included at index {e.index} in the checkpoint of size {cp.size} (root{" "}
                    <B64 value={short(toBase64(cp.root))} />
                    ), with the {proof.length}-hash proof below.
                  </>,
                  <>
                    Chain: seq {ev.seq} of {ev.subject}
                    {ev.prev
                      ? prev && ev.subject === prev.envelope.event.subject
                        ? `, pointing at the previous event (entry #${prev.index})`
                        : ", pointing at its predecessor"
                      : ", the first of its chain"}
                    .
                  </>,
                  cover ? (
                    <>
                      Logged by entry #{cover.index}, the log's index leaf, at{" "}
                      {new Date(cover.leaf.time).toISOString()}: the event's time is within the allowed skew.
                    </>
                  ) : (
                    "Covered by the log's index leaf."
                  ),
                ]}
              />
              <dl class="facts">
                <dt>Leaf hash</dt>
                <dd>
                  <B64 value={toBase64(e.leafHash)} />
                </dd>
                {ev.prev && (
                  <>
                    <dt>prev</dt>
                    <dd>
                      <B64 value={ev.prev} />
                    </dd>
                  </>
                )}
              </dl>
              <h4>Inclusion proof</h4>
              <ol class="hashes">
                {proof.map((h, j) => (
                  <li key={j}>
                    <B64 value={h} />
                  </li>
                ))}
              </ol>
              <h4>Body</h4>
              <pre>{JSON.stringify(ev.body, null, 2)}</pre>
            </Verified>
          </li>
        );
      })}
    </ol>
  );
}
