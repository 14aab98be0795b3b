// The caller's quotas at a glance: each limit with its use, highlighted when nearly used up.
import { useQuery } from 'urql';
import { MeDoc } from '../graphql/operations';
import { formatUsd } from '../lib/format';

type Limit = { used: number; limit: number };

/** "3 / 20", or "3 (no limit)" when the limit is 0. */
export function usageText(limit: Limit, format: (n: number) => string = (n) => String(Math.round(n))): string {
  return limit.limit > 0 ? `${format(limit.used)} / ${format(limit.limit)}` : `${format(limit.used)} (no limit)`;
}

/** Whether a limit is at 90 % or more of its value. */
export function nearlyFull(limit: Limit): boolean {
  return limit.limit > 0 && limit.used >= 0.9 * limit.limit;
}

export function UsagePanel() {
  const [{ data }] = useQuery({ query: MeDoc, requestPolicy: 'cache-and-network' });
  if (!data) return null;
  const me = data.me;
  const rows: [string, Limit, (n: number) => string][] = [
    ['Jobs this minute', me.queuedThisMinute, (n) => String(Math.round(n))],
    ['Jobs queued or running', me.activeJobs, (n) => String(Math.round(n))],
    ['Spent today', me.spentTodayUsd, formatUsd],
    ['Storage', me.storageMb, (n) => `${n.toFixed(n < 10 ? 1 : 0)} MB`],
  ];
  return (
    <section aria-labelledby="usage-title" className="usage-panel card" data-testid="usage-panel">
      <h2 id="usage-title" className="usage-title">
        Your usage
      </h2>
      <dl className="usage-list">
        {rows.map(([label, limit, format]) => (
          <div key={label} className={nearlyFull(limit) ? 'usage-item usage-full' : 'usage-item'}>
            <dt>{label}</dt>
            <dd>{usageText(limit, format)}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
