// The run's originals as a responsive grid of large tiles; each opens the large view.
import type { RefinementFieldsFragment } from '../gql/graphql';
import type { RunTreeRun } from '../hooks/useRunTree';
import { AuthImage } from '../components/AuthImage';
import { imageHref } from '../lib/router';
import { isActive } from '../lib/format';

type Original = RunTreeRun['images'][number];

interface GalleryProps {
  runId: string;
  images: readonly Original[];
  refinements: readonly RefinementFieldsFragment[];
}

/** The widest a tile is drawn, in CSS px (one column on a phone, about 390 px at 1280). */
export const TILE_WIDTH = 400;

// One tile per original: the picture, its name and how many versions hang under it.
export function Gallery({ runId, images, refinements }: GalleryProps) {
  return (
    <ul className="gallery" data-testid="gallery" aria-label="Originals">
      {images.map((image) => {
        const own = refinements.filter((r) => r.generationIndex === image.generationIndex);
        const active = own.filter((r) => isActive(r.status)).length;
        const label = `Original ${image.generationIndex + 1}`;
        return (
          <li key={image.id} className="gallery-tile card" data-testid="original-tile">
            <a className="gallery-link" href={imageHref(runId, image.generationIndex)}>
              {image.url ? (
                <AuthImage
                  className="gallery-image"
                  src={image.url}
                  displayWidth={TILE_WIDTH}
                  alt=""
                  width={image.width ?? undefined}
                  height={image.height ?? undefined}
                />
              ) : (
                <span className="gallery-image placeholder">Image not available yet</span>
              )}
              <span className="gallery-caption">
                <span className="gallery-title">{label}</span>
                <span className="muted">
                  {own.length} refinement{own.length === 1 ? '' : 's'}
                  {active > 0 ? ` · ${active} in progress` : ''}
                </span>
              </span>
            </a>
          </li>
        );
      })}
    </ul>
  );
}
