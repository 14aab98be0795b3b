// Canned server answers shared by the component and accessibility tests.

/** A progress event as the subscriptions deliver it. */
export function progressEvent(seq: number, stage: string, status: string, progress: number, terminal = false, jobId = 'ref1') {
  return {
    __typename: 'ProgressEvent',
    seq,
    jobId,
    stage,
    status,
    progress,
    message: null,
    costUsd: null,
    previewUrl: null,
    at: '2025-01-01T00:00:00Z',
    terminal,
  };
}

/** One page of Query.runs. */
export const runsData = {
  runs: {
    __typename: 'RunConnection',
    totalCount: 2,
    pageInfo: { __typename: 'PageInfo', hasNextPage: true, endCursor: 'c2' },
    edges: [
      {
        __typename: 'RunEdge',
        cursor: 'c1',
        node: {
          __typename: 'Run',
          id: 'run1',
          status: 'COMPLETED',
          prompt: 'Iced coffee summer promo',
          platform: 'Instagram Post',
          createdAt: '2025-01-02T10:00:00Z',
          totalCostUsd: 0.0712,
          images: [{ __typename: 'Image', id: 'img0', url: '/files/runs/run1/originals/image_0.png', width: 1024, height: 1024 }],
        },
      },
      {
        __typename: 'RunEdge',
        cursor: 'c2',
        node: {
          __typename: 'Run',
          id: 'run2',
          status: 'RUNNING',
          prompt: null,
          platform: null,
          createdAt: '2025-01-01T10:00:00Z',
          totalCostUsd: 0,
          images: [],
        },
      },
    ],
  },
};

function refinement(
  id: string,
  version: number,
  parent: { id: string; version: number },
  status: string,
  extra: Record<string, unknown> = {},
) {
  return {
    __typename: 'Refinement',
    id,
    version,
    depth: parent.version === 1 ? 1 : 2,
    generationIndex: 0,
    url: status === 'COMPLETED' ? `/files/runs/run1/refinements/${id}.png` : null,
    width: 1024,
    height: 1024,
    type: 'PROMPT',
    status,
    prompt: 'Add sunset lighting',
    instructions: null,
    summary: 'Add sunset lighting',
    costUsd: status === 'COMPLETED' ? 0.0211 : null,
    errorMessage: status === 'FAILED' ? 'The provider refused the edit' : null,
    creativityLevel: 2,
    createdAt: '2025-01-02T10:05:00Z',
    startedAt: '2025-01-02T10:05:01Z',
    completedAt: status === 'COMPLETED' || status === 'FAILED' ? '2025-01-02T10:05:09Z' : null,
    parent: { __typename: parent.id.startsWith('img') ? 'Image' : 'Refinement', ...parent },
    ...extra,
  };
}

/** Query.run with one original, a chain v2 → v3 and a failed sibling v4 (versions are unique per original). */
export const runTreeData = {
  run: {
    __typename: 'Run',
    id: 'run1',
    status: 'COMPLETED',
    prompt: 'Iced coffee summer promo',
    platform: 'Instagram Post',
    createdAt: '2025-01-02T10:00:00Z',
    completedAt: '2025-01-02T10:01:00Z',
    errorMessage: null,
    generationCostUsd: 0.05,
    refinementCostUsd: 0.0422,
    totalCostUsd: 0.0922,
    images: [
      {
        __typename: 'Image',
        id: 'img0',
        version: 1,
        generationIndex: 0,
        url: '/files/runs/run1/originals/image_0.png',
        width: 1024,
        height: 1024,
      },
    ],
    refinements: {
      __typename: 'RefinementConnection',
      totalCount: 3,
      pageInfo: { __typename: 'PageInfo', hasNextPage: false, endCursor: 'x' },
      edges: [
        { __typename: 'RefinementEdge', node: refinement('ref-a', 2, { id: 'img0', version: 1 }, 'COMPLETED') },
        { __typename: 'RefinementEdge', node: refinement('ref-b', 3, { id: 'ref-a', version: 2 }, 'COMPLETED') },
        { __typename: 'RefinementEdge', node: refinement('ref-c', 4, { id: 'img0', version: 1 }, 'FAILED') },
      ],
    },
  },
};

/** Query.refinement for the details dialog. */
export const refinementDetailsData = {
  refinement: {
    ...refinement('ref-b', 3, { id: 'ref-a', version: 2 }, 'COMPLETED'),
    mask: [{ __typename: 'MaskRect', x: 0.1, y: 0.2, width: 0.3, height: 0.4 }],
    referenceImageUrl: null,
    parent: {
      __typename: 'Refinement',
      id: 'ref-a',
      version: 2,
      url: '/files/runs/run1/refinements/ref-a.png',
      width: 1024,
      height: 1024,
    },
    stages: [
      {
        __typename: 'StageRun',
        name: 'load_base_image',
        status: 'COMPLETED',
        startedAt: null,
        completedAt: null,
        durationMs: 120,
        costUsd: 0,
        message: null,
      },
      {
        __typename: 'StageRun',
        name: 'prompt_refine',
        status: 'COMPLETED',
        startedAt: null,
        completedAt: null,
        durationMs: 7400,
        costUsd: 0.0211,
        message: 'ok',
      },
    ],
  },
};
