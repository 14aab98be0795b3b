// The first entry of the version strip: the original (v1), selectable like every refinement.
import type { RunTreeRun } from '../hooks/useRunTree';
import { AuthImage } from '../components/AuthImage';
import { VersionBadge } from '../components/VersionBadge';

type Original = RunTreeRun['images'][number];

/** Strip thumbnails are drawn at most 120 CSS px wide (88 on the strip, 80 on phones). */
export const STRIP_WIDTH = 120;

// A button, pressed while the large view shows the original.
export function VersionStripOriginal({ image, selected, onSelect }: { image: Original; selected: boolean; onSelect: (id: string) => void }) {
  return (
    <button
      type="button"
      className="strip-original card"
      aria-pressed={selected}
      data-testid="strip-original"
      onClick={() => onSelect(image.id)}
    >
      {image.url ? (
        <AuthImage className="refinement-thumb" src={image.url} displayWidth={STRIP_WIDTH} alt="" width={image.width ?? undefined} height={image.height ?? undefined} />
      ) : (
        <span className="refinement-thumb placeholder" />
      )}
      <span className="card-title-row">
        <VersionBadge version={1} />
        <span>Original</span>
      </span>
    </button>
  );
}
