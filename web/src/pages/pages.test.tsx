import { describe, expect, it } from 'vitest';
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Provider } from 'urql';
import axe from 'axe-core';
import { App } from '../App';
import { RunPage, applyLiveEvent } from './RunPage';
import { feed, mockClient } from '../test/mockClient';
import { progressEvent, refinementDetailsData, runTreeData, runsData } from '../test/fixtures';

// Serious and critical axe findings; colour contrast needs real layout, which jsdom lacks.
async function seriousViolations(root: Element = document.body) {
  const result = await axe.run(root, { rules: { 'color-contrast': { enabled: false } } });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('Runs page', () => {
  it('lists runs with status and cost, offers paging, and has no serious axe violations', async () => {
    window.location.hash = '#/';
    const mock = mockClient({ Runs: () => ({ data: runsData }) });
    render(
      <Provider value={mock.client}>
        <App />
      </Provider>,
    );
    const cards = await screen.findAllByTestId('run-card');
    expect(cards).toHaveLength(2);
    expect(within(cards[0]).getByText('$0.0712')).toBeTruthy();
    expect(within(cards[0]).getByText('Completed')).toBeTruthy();
    expect(within(cards[1]).getByRole('link', { name: 'Untitled run' }).getAttribute('href')).toBe('#/runs/run2');
    expect(screen.getByTestId('load-more')).toBeTruthy();
    expect(screen.getByRole('heading', { level: 1, name: 'Runs' })).toBeTruthy();
    expect(screen.getByRole('banner')).toBeTruthy();
    expect(screen.getByRole('main')).toBeTruthy();
    expect(screen.getByRole('navigation', { name: 'Main' })).toBeTruthy();
    expect(screen.getByLabelText('Platform')).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });
});

it('loads the next page after the end cursor and moves focus to its first run', async () => {
  window.location.hash = '#/';
  const page2 = {
    runs: {
      ...runsData.runs,
      pageInfo: { __typename: 'PageInfo', hasNextPage: false, endCursor: 'c3' },
      edges: [
        { ...runsData.runs.edges[0], cursor: 'c3', node: { ...runsData.runs.edges[0].node, id: 'run3', prompt: 'Older run' } },
      ],
    },
  };
  const mock = mockClient({
    Runs: (op) => ({ data: (op.variables as { after: string | null }).after === 'c2' ? page2 : runsData }),
  });
  render(
    <Provider value={mock.client}>
      <App />
    </Provider>,
  );
  fireEvent.click(await screen.findByTestId('load-more'));
  await waitFor(() => expect(screen.getAllByTestId('run-card')).toHaveLength(3));
  expect(mock.named('Runs').some((op) => (op.variables as { after: string | null }).after === 'c2')).toBe(true);
  expect(document.activeElement?.textContent).toBe('Older run');
  expect(screen.queryByTestId('load-more')).toBeNull();
});

function renderRunPage(imageIndex: number | null = 0) {
  const live = feed();
  const mock = mockClient({
    RunTree: () => ({ data: runTreeData }),
    RunProgress: () => live.source,
    RefinementDetails: () => ({ data: refinementDetailsData }),
  });
  render(
    <Provider value={mock.client}>
      <main>
        <RunPage runId="run1" imageIndex={imageIndex ?? undefined} />
      </main>
    </Provider>,
  );
  return { mock, live };
}

describe('Run results page', () => {
  it('renders the version tree with badges, statuses and the running total', async () => {
    renderRunPage();
    const cards = await screen.findAllByTestId('refinement-card');
    expect(cards.map((c) => [c.dataset.version, c.dataset.status])).toEqual([
      ['2', 'COMPLETED'],
      ['3', 'COMPLETED'],
      ['4', 'FAILED'],
    ]);
    const rows = cards.map((c) => c.closest('li')!);
    expect(rows.map((r) => r.dataset.depth)).toEqual(['1', '2', '1']);
    // The first badge is the large view's heading (v1 shown by default), then the version strip.
    expect(screen.getAllByTestId('version-badge').map((b) => b.textContent)).toEqual(['v1', 'v1', 'v2', 'v3', 'v4']);
    // Versions are unique per original; the lineage reads next to them.
    expect(screen.getAllByTestId('lineage').map((l) => l.textContent?.trim())).toEqual(['· from v1', '· from v2', '· from v1']);
    const shapes = screen.getAllByTestId('version-badge').map((b) => b.dataset.shape);
    expect(new Set(shapes.slice(1, 4)).size).toBe(3);
    expect(screen.getByTestId('total-cost').textContent).toBe('$0.0922');
    expect(screen.getByText('The provider refused the edit')).toBeTruthy();
    // Completed refinements can be refined from their card, the shown version from the toolbar.
    expect(screen.getAllByTestId('refine-button')).toHaveLength(2);
    expect(screen.getByTestId('viewer-refine')).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it('refetches the tree network-only on every runProgress event', async () => {
    const { mock, live } = renderRunPage();
    await screen.findAllByTestId('refinement-card');
    const before = mock.named('RunTree').length;
    act(() => live.push({ runProgress: progressEvent(1, 'load_base_image', 'RUNNING', 0.3, false, 'ref-a') }));
    await waitFor(() => expect(mock.named('RunTree').length).toBeGreaterThan(before));
    expect(mock.named('RunTree').at(-1)!.context.requestPolicy).toBe('network-only');
  });

  it('opens the refine modal with no serious axe violations, and the mask editor too', async () => {
    renderRunPage();
    const buttons = await screen.findAllByTestId('refine-button');
    fireEvent.click(buttons[0]);
    expect(screen.getByTestId('modal')).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
    fireEvent.click(screen.getByTestId('tab-prompt'));
    fireEvent.click(screen.getByTestId('draw-mask-toggle'));
    fireEvent.keyDown(screen.getByTestId('mask-overlay'), { key: 'Enter' });
    expect(screen.getByTestId('mask-live').textContent).toContain('Added');
    expect(await seriousViolations()).toEqual([]);
  });

  it('opens the details dialog with a compare slider, mask and stages', async () => {
    renderRunPage();
    const cards = await screen.findAllByTestId('refinement-card');
    fireEvent.click(within(cards[1]).getByTestId('details-button'));
    const slider = await screen.findByRole('slider', { name: 'Compare v2 (before) and v3 (after)' });
    fireEvent.keyDown(slider, { key: 'ArrowLeft', shiftKey: true });
    fireEvent.keyDown(slider, { key: 'ArrowLeft', shiftKey: true });
    expect(slider.getAttribute('aria-valuetext')).toBe('30% before, 70% after');
    expect(screen.getByAltText('Before: v2')).toBeTruthy();
    expect(screen.getByAltText('After: v3')).toBeTruthy();
    expect(screen.getByTestId('details-mask').textContent).toContain('left 10%, top 20%, 30% wide, 40% high');
    expect(within(screen.getByTestId('stages-table')).getByText('Prompt refine')).toBeTruthy();
    // The table scrolls sideways on phones, so its frame takes focus for the arrow keys.
    const frame = screen.getByRole('region', { name: 'Stages (scrolls sideways)' });
    expect(frame.tabIndex).toBe(0);
    expect(await seriousViolations()).toEqual([]);
  });
});

describe('Import form', () => {
  it('drops "choose at least one image" as soon as a file is added', async () => {
    window.location.hash = '#/';
    const mock = mockClient({ Runs: () => ({ data: runsData }) });
    render(
      <Provider value={mock.client}>
        <App />
      </Provider>,
    );
    const form = await screen.findByTestId('import-run-form');
    fireEvent.click(within(form).getByTestId('import-submit'));
    expect((await within(form).findByTestId('field-error-images')).textContent).toBe('Choose at least one image to import.');
    const input = form.querySelector<HTMLInputElement>('input[type="file"]')!;
    fireEvent.change(input, { target: { files: [new File([new Uint8Array([137, 80, 78, 71])], 'a.png', { type: 'image/png' })] } });
    await waitFor(() => expect(within(form).queryByTestId('field-error-images')).toBeNull());
  });
});

describe('Gallery and large view', () => {
  it('shows the originals as tiles linking to their large view', async () => {
    renderRunPage(null);
    const tiles = await screen.findAllByTestId('original-tile');
    expect(tiles).toHaveLength(1);
    expect(within(tiles[0]).getByRole('link').getAttribute('href')).toBe('#/runs/run1/images/0');
    expect(within(tiles[0]).getByText('3 refinements')).toBeTruthy();
    expect(screen.queryByTestId('refinement-card')).toBeNull();
    expect(screen.getByTestId('generation-cost').textContent).toBe('$0.05');
    expect(await seriousViolations()).toEqual([]);
  });

  it('shows the chosen version large and compares it with its parent by dragging on the image', async () => {
    renderRunPage(0);
    const cards = await screen.findAllByTestId('refinement-card');
    fireEvent.click(within(cards[1]).getByTestId('show-version'));
    expect(cards[1].getAttribute('aria-current')).toBe('true');
    expect(screen.getByTestId('viewer-image').getAttribute('alt')).toBe('v3: Add sunset lighting');
    expect(screen.getByTestId('download-link').getAttribute('download')).toBe('original-1-v3.png');
    fireEvent.click(screen.getByTestId('compare-toggle'));
    const stage = screen.getByTestId('compare-stage');
    stage.getBoundingClientRect = () => ({ left: 100, width: 400, top: 0, height: 400, right: 500, bottom: 400, x: 100, y: 0, toJSON: () => ({}) });
    fireEvent.pointerDown(stage, { pointerId: 1, button: 0, clientX: 200 });
    const slider = screen.getByRole('slider');
    expect(slider.getAttribute('aria-valuenow')).toBe('25');
    fireEvent.pointerMove(stage, { pointerId: 1, clientX: 400 });
    expect(slider.getAttribute('aria-valuenow')).toBe('75');
    fireEvent.pointerUp(stage, { pointerId: 1, clientX: 400 });
    fireEvent.pointerMove(stage, { pointerId: 1, clientX: 120 });
    expect(slider.getAttribute('aria-valuenow')).toBe('75');
    fireEvent.keyDown(slider, { key: 'End' });
    expect(slider.getAttribute('aria-valuenow')).toBe('100');
    expect(await seriousViolations()).toEqual([]);
  });
});

describe('live progress map', () => {
  it('tracks the latest event per job and drops failed or cancelled jobs', () => {
    let m = applyLiveEvent({}, progressEvent(1, 'load_base_image', 'RUNNING', 0.2, false, 'j') as never);
    expect(m).toEqual({ j: { progress: 0.2, stage: 'Load base image' } });
    m = applyLiveEvent(m, progressEvent(2, 'job', 'CANCELLED', 0.2, true, 'j') as never);
    expect(m).toEqual({});
  });

  it('never shows a generation going from 100 % back to 0 % before Completed', () => {
    let m = applyLiveEvent({}, progressEvent(1, 'image_generation', 'RUNNING', 0.9, false, 'run') as never);
    m = applyLiveEvent(m, progressEvent(2, 'save_outputs', 'RUNNING', 0.1, false, 'run') as never);
    expect(m.run.progress).toBe(0.9);
    m = applyLiveEvent(m, progressEvent(3, 'job', 'COMPLETED', 0, true, 'run') as never);
    expect(m.run).toEqual({ progress: 1, stage: 'Save outputs' });
  });
});
