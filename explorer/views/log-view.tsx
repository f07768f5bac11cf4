// The log page: what the log is (origin, key), its latest checkpoint with who cosigned it and
// when, whether it extends the last checkpoint this browser trusted (a loud warning with the
// evidence when it does not), and its growth as this browser saw it.

import { useState } from "preact/hooks";
import { toBase64 } from "../../core/bytes.js";
import { type GrowthPoint, recordGrowth } from "../growth.js";
import { href } from "../route.js";
import type { Session } from "../session.js";
import { ago, keyName, utc } from "../ui/format.js";
import { B64, Checks, CopyButton, Pending, Refusal, Verified } from "../ui/marks.js";
import { useTask } from "../ui/use-task.js";
import { checkLatest, evidenceText, ForkError, type LogCheck } from "../verify/log.js";

export function LogView(props: { session: Session }) {
  const s = props.session;
  const [task, retry] = useTask(async () => {
    const check = await checkLatest(s);
    return { check, growth: recordGrowth(s.log.vkey, check.verified.checkpoint.size) };
  }, `log ${s.log.vkey}`);
  const origin = s.log.origin ?? keyName(s.log.vkey);
  return (
    <>
      <h1>
        Log <span class="ident">{origin}</span>
      </h1>
      <dl class="facts">
        <dt>API</dt>
        <dd>
          <code>{s.config.url}</code>
        </dd>
        <dt>Log key</dt>
        <dd>
          <B64 value={s.log.vkey} />
        </dd>
      </dl>
      <section aria-labelledby="checkpoint-h">
        <h2 id="checkpoint-h">Latest checkpoint</h2>
        {task.state === "running" && <Pending>Verifying the latest checkpoint…</Pending>}
        {task.state === "failed" &&
          (task.error instanceof ForkError ? (
            <ForkWarning error={task.error} />
          ) : (
            <Refusal error={task.error} what="the latest checkpoint" />
          ))}
        {task.state === "done" && <Checkpoint session={s} check={task.value.check} />}
        <button type="button" onClick={retry}>
          Check again
        </button>
      </section>
      {task.state === "done" && <Growth points={task.value.growth} />}
      <Navigate size={task.state === "done" ? task.value.check.verified.checkpoint.size : undefined} />
    </>
  );
}

function Checkpoint(props: { session: Session; check: LogCheck }) {
  const s = props.session;
  const { verified, previous, proof } = props.check;
  const cp = verified.checkpoint;
  const now = Date.now() / 1000;
  const consistency = !previous
    ? "This is the first checkpoint this browser has seen for this log: it is trusted from now on (trust on first use)."
    : previous.size === cp.size
      ? `The same checkpoint this browser trusted before (size ${cp.size}).`
      : `Extends the checkpoint of size ${previous.size} this browser trusted before (consistency proof of ${proof.length} hashes).`;
  return (
    <div data-testid="checkpoint-verified">
      <dl class="facts">
        <dt>Size</dt>
        <dd data-testid="checkpoint-size">{cp.size} entries</dd>
        <dt>Root hash</dt>
        <dd>
          <B64 value={toBase64(cp.root)} />
        </dd>
        <dt>Consistency</dt>
        <dd>{consistency}</dd>
        <dt>Cosigned by</dt>
        <dd>
          {s.policy.witnesses.length === 0 ? (
            "no witness policy: cosignatures are not checked"
          ) : (
            <ul class="plain">
              {s.policy.witnesses.map((w) => {
                const t = verified.cosignedAt[w.name];
                return (
                  <li key={w.name}>
                    <span class="ident">{w.name}</span>:{" "}
                    {t === undefined ? (
                      <span class="warn-text">no valid cosignature</span>
                    ) : (
                      <>
                        <time dateTime={utc(t)}>{utc(t)}</time> ({ago(t, now)})
                      </>
                    )}
                  </li>
                );
              })}
            </ul>
          )}
        </dd>
      </dl>
      <Verified what={`checkpoint of size ${cp.size}`} testId="checkpoint-mark">
        <Checks
          items={[
            <>
              Signed by the pinned log key <span class="ident">{keyName(s.log.vkey)}</span> (C2SP signed note,
              Ed25519), for the origin <span class="ident">{cp.origin}</span>.
            </>,
            s.policy.quorum === 0 ? (
              <strong>No witness policy: nothing but the log vouches for this checkpoint.</strong>
            ) : (
              <>
                Cosigned by {verified.cosigners.length} of the {s.policy.witnesses.length} pinned witnesses
                (cosignature/v1); {s.policy.quorum} required, each within {s.config.maxAgeSeconds} s.
              </>
            ),
            consistency,
          ]}
        />
        <h3>The checkpoint note</h3>
        <pre>{verified.text}</pre>
        {proof.length > 0 && (
          <>
            <h3>Consistency proof from size {previous?.size}</h3>
            <ol class="hashes">
              {proof.map((h, i) => (
                <li key={i}>
                  <B64 value={h} />
                </li>
              ))}
            </ol>
          </>
        )}
      </Verified>
    </div>
  );
}

function ForkWarning(props: { error: ForkError }) {
  const ev = props.error.evidence;
  const text = evidenceText(ev);
  return (
    <section class="fork" role="alert" data-testid="fork" data-code={ev.code}>
      <h2>
        Warning: this log contradicts what it showed this browser before (<code>{ev.code}</code>)
      </h2>
      <p>{ev.message}</p>
      <p>
        A log that shows two histories that cannot both be true is misbehaving, or this browser is being shown
        a fork. Keep this evidence and send it to the log's witnesses or your security team; it holds both
        signed checkpoints.
      </p>
      <label for="evidence">Evidence</label>
      <textarea id="evidence" readOnly rows={14} value={text} />
      <CopyButton text={text} label="Copy the evidence" />
    </section>
  );
}

function Growth(props: { points: GrowthPoint[] }) {
  const pts = props.points;
  const first = pts[0];
  const last = pts[pts.length - 1];
  if (!first || !last) return null;
  const summary =
    pts.length === 1
      ? `One checkpoint seen so far: size ${last.size}.`
      : `From size ${first.size} (${new Date(first.at).toISOString()}) to size ${last.size} (${new Date(last.at).toISOString()}), over ${pts.length} checkpoints this browser verified.`;
  const w = 600;
  const h = 120;
  const t0 = first.at;
  const t1 = Math.max(last.at, t0 + 1);
  const maxSize = Math.max(last.size, 1);
  const minSize = Math.min(first.size, last.size);
  const span = Math.max(maxSize - minSize, 1);
  const line = pts
    .map(
      (p) =>
        `${(((p.at - t0) / (t1 - t0)) * (w - 8) + 4).toFixed(1)},${(h - 4 - ((p.size - minSize) / span) * (h - 8)).toFixed(1)}`,
    )
    .join(" ");
  return (
    <section aria-labelledby="growth-h">
      <h2 id="growth-h">Growth, as this browser saw it</h2>
      <p>{summary}</p>
      {pts.length > 1 && (
        <svg class="growth" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={summary}>
          <polyline points={line} />
        </svg>
      )}
    </section>
  );
}

function Navigate(props: { size: number | undefined }) {
  const [org, setOrg] = useState("");
  const [account, setAccount] = useState("");
  const [index, setIndex] = useState("");
  const size = props.size;
  return (
    <section aria-labelledby="find-h">
      <h2 id="find-h">Look something up</h2>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (org && account) location.hash = href({ page: "account", org, account });
          else if (org) location.hash = href({ page: "org", org });
        }}
      >
        <label>
          Org <input value={org} onInput={(e) => setOrg(e.currentTarget.value)} required autoComplete="off" />
        </label>
        <label>
          Account{" "}
          <input value={account} onInput={(e) => setAccount(e.currentTarget.value)} autoComplete="off" />
        </label>
        <button type="submit">Verify</button>
      </form>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (/^\d+$/.test(index)) location.hash = href({ page: "entry", index: Number(index) });
        }}
      >
        <label>
          Entry index{" "}
          <input
            value={index}
            onInput={(e) => setIndex(e.currentTarget.value)}
            inputMode="numeric"
            pattern="[0-9]+"
            required
          />
        </label>
        <button type="submit">Open</button>
      </form>
      {size !== undefined && size > 0 && (
        <p>
          Latest entries:{" "}
          {Array.from({ length: Math.min(size, 6) }, (_, i) => size - 1 - i).map((i) => (
            <span key={i}>
              <a href={href({ page: "entry", index: i })}>#{i}</a>{" "}
            </span>
          ))}
        </p>
      )}
    </section>
  );
}
