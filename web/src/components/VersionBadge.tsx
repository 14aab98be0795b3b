// Version badges: the text (v1, v2…) carries the meaning; a shape per version and an Okabe–Ito
// colour are redundant cues, so the badge reads the same without colour vision.

/** Okabe–Ito, the colour-blind-safe palette; one per version, cycling. */
export const OKABE_ITO = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#999999'] as const;

/** Shapes per version, cycling; v1 (the original) is always the star. */
export const SHAPES = ['circle', 'square', 'diamond', 'triangle', 'hexagon', 'pentagon'] as const;

/** The shape name of a version's badge. */
export type Shape = (typeof SHAPES)[number] | 'star';

// Originals get a star; refinements cycle through the other shapes by version so neighbours in a
// chain always differ.
export function badgeStyle(version: number): { shape: Shape; color: string } {
  if (version <= 1) return { shape: 'star', color: '#000000' };
  const i = version - 2;
  return { shape: SHAPES[i % SHAPES.length], color: OKABE_ITO[i % OKABE_ITO.length] };
}

const PATHS: Record<Shape, string> = {
  circle: 'M8 2a6 6 0 1 0 0 12A6 6 0 1 0 8 2z',
  square: 'M2.5 2.5h11v11h-11z',
  diamond: 'M8 1l7 7-7 7-7-7z',
  triangle: 'M8 1.5l6.5 12h-13z',
  hexagon: 'M4.5 2h7l3.5 6-3.5 6h-7L1 8z',
  pentagon: 'M8 1.5l6.5 4.7-2.5 7.8H4l-2.5-7.8z',
  star: 'M8 1l2.1 4.5 4.9.6-3.6 3.4.9 4.9L8 12l-4.3 2.4.9-4.9L1 6.1l4.9-.6z',
};

// The shape icon alone, decorative because the badge text says the same thing.
export function ShapeIcon({ shape, color }: { shape: Shape; color: string }) {
  return (
    <svg
      className="shape-icon"
      viewBox="0 0 16 16"
      width="14"
      height="14"
      aria-hidden="true"
      focusable="false"
      data-shape={shape}
    >
      <path d={PATHS[shape]} fill={color} stroke="#1b1f24" strokeWidth="1.2" strokeLinejoin="round" />
    </svg>
  );
}

// The badge shown on every image card.
export function VersionBadge({ version }: { version: number }) {
  const { shape, color } = badgeStyle(version);
  return (
    <span className="version-badge" data-testid="version-badge" data-version={version} data-shape={shape}>
      <ShapeIcon shape={shape} color={color} />
      <span>v{version}</span>
    </span>
  );
}
