import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Provider } from 'urql';
import { JobsPanel } from './JobsPanel';
import { notifyJobsChanged } from './jobsChanged';
import { feed, mockClient } from '../test/mockClient';
import { progressEvent } from '../test/fixtures';

const jobs = {
  activeJobs: {
    __typename: 'ActiveJobs',
    runs: [{ __typename: 'Run', id: 'run9', status: 'RUNNING', prompt: 'Iced coffee', createdAt: '2025-01-02T10:00:00Z' }],
    refinements: [
      {
        __typename: 'Refinement',
        id: 'ref-q',
        status: 'QUEUED',
        version: 4,
        type: 'PROMPT',
        generationIndex: 1,
        createdAt: '2025-01-02T10:05:00Z',
        run: { __typename: 'Run', id: 'run1', prompt: 'Summer promo' },
      },
    ],
  },
};
const none = { activeJobs: { __typename: 'ActiveJobs', runs: [], refinements: [] } };

/** The panel over a client whose active jobs are what `data` returns now, with silent progress feeds. */
function renderPanel(data: () => Record<string, unknown>) {
  const mock = mockClient({
    ActiveJobs: () => ({ data: data() }),
    RefinementProgress: () => feed().source,
    RunProgress: () => feed().source,
  });
  render(
    <Provider value={mock.client}>
      <JobsPanel />
    </Provider>,
  );
  return mock;
}

describe('Jobs panel', () => {
  it('lists queued and running jobs with live progress, links and Cancel', async () => {
    const live = feed();
    let cancelled = false;
    const mock = mockClient({
      ActiveJobs: () => ({ data: cancelled ? none : jobs }),
      RefinementProgress: () => live.source,
      RunProgress: () => feed().source,
      CancelRefinement: () => {
        cancelled = true;
        return {
          data: {
            cancelRefinement: {
              __typename: 'CancelRefinementPayload',
              refinement: { __typename: 'Refinement', id: 'ref-q', status: 'CANCELLED' },
              userErrors: [],
            },
          },
        };
      },
    });
    render(
      <Provider value={mock.client}>
        <JobsPanel />
      </Provider>,
    );
    const rows = await screen.findAllByTestId('job-row');
    expect(rows.map((r) => r.dataset.jobId)).toEqual(['run9', 'ref-q']);
    expect(within(rows[1]).getByRole('link', { name: 'v4 · Prompt edit of original 2' }).getAttribute('href')).toBe(
      '#/runs/run1/images/1',
    );
    live.push({ refinementProgress: progressEvent(2, 'prompt_refine', 'RUNNING', 0.4, false, 'ref-q') });
    await waitFor(() => expect(within(rows[1]).getByTestId('job-progress').getAttribute('aria-valuenow')).toBe('40'));
    fireEvent.click(within(rows[1]).getByRole('button', { name: 'Cancel v4 · Prompt edit of original 2' }));
    await waitFor(() => expect(mock.named('CancelRefinement')).toHaveLength(1));
    expect(mock.named('CancelRefinement')[0].variables).toEqual({ id: 'ref-q' });
    await waitFor(() => expect(screen.queryByTestId('jobs-panel')).toBeNull());
  });

  it('renders nothing without jobs and reloads when a job is queued elsewhere on the page', async () => {
    let data: typeof jobs | typeof none = none;
    const mock = renderPanel(() => data);
    await waitFor(() => expect(mock.named('ActiveJobs').length).toBeGreaterThan(0));
    expect(screen.queryByTestId('jobs-panel')).toBeNull();
    data = jobs;
    notifyJobsChanged();
    expect(await screen.findByTestId('jobs-panel')).toBeTruthy();
  });

  it('folds a long list to its summary line and opens it again with its toggle', async () => {
    const many = {
      activeJobs: {
        ...jobs.activeJobs,
        refinements: [5, 6].map((version) => ({ ...jobs.activeJobs.refinements[0], id: `ref-${version}`, version })),
      },
    };
    renderPanel(() => many);
    const toggle = await screen.findByRole('button', { name: 'Show all 3 jobs' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    const list = document.getElementById(toggle.getAttribute('aria-controls')!)!;
    expect(list.hidden).toBe(true);
    expect(within(screen.getByTestId('jobs-panel')).getByRole('heading').textContent).toContain('1 running, 2 queued');
    fireEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(toggle.textContent).toBe('Hide jobs');
    expect(list.hidden).toBe(false);
    expect(screen.getAllByRole('button', { name: /^Cancel / })).toHaveLength(3);
  });

  it('shows one or two jobs unfolded with a toggle only when there are two', async () => {
    renderPanel(() => jobs);
    const toggle = await screen.findByRole('button', { name: 'Hide jobs' });
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(screen.getAllByTestId('job-row')).toHaveLength(2);
    fireEvent.click(toggle);
    expect(screen.queryAllByRole('button', { name: /^Cancel / })).toHaveLength(0);
  });
});
