// Runs an async check for a view and keeps its outcome; a newer run (or leaving the view)
// makes an older one's outcome irrelevant, so it is dropped rather than shown late.

import { useEffect, useState } from "preact/hooks";

export type Task<T> =
  | { state: "running" }
  | { state: "done"; value: T }
  | { state: "failed"; error: unknown };

export function useTask<T>(run: () => Promise<T>, key: string): [Task<T>, () => void] {
  const [task, setTask] = useState<Task<T>>({ state: "running" });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setTask({ state: "running" });
    run().then(
      (value) => live && setTask({ state: "done", value }),
      (error: unknown) => live && setTask({ state: "failed", error }),
    );
    return () => {
      live = false;
    };
  }, [key, round]);
  return [task, () => setRound((r) => r + 1)];
}
