// A page-wide signal that the caller's jobs changed (one was queued or cancelled), so the jobs
// panel reloads at once instead of at its next poll.
import { useEffect } from 'react';

const EVENT = 'churns:jobs-changed';

/** Tell the jobs panel to reload. */
export function notifyJobsChanged(): void {
  window.dispatchEvent(new Event(EVENT));
}

/** Run `listener` whenever notifyJobsChanged is called. */
export function useJobsChanged(listener: () => void): void {
  useEffect(() => {
    window.addEventListener(EVENT, listener);
    return () => window.removeEventListener(EVENT, listener);
  }, [listener]);
}
