// The "Draw mask" switch and, when it is on, the mask editor in place of the current image. Used by
// the Prompt tab (limit the edit) and the Subject tab (say where the subject is).
import type { Dispatch, ReactNode } from 'react';
import { FieldError } from '../components/FieldError';
import { MaskEditor } from '../mask/MaskEditor';
import type { MaskAction, MaskState } from '../mask/maskReducer';
import { errorId, type FieldErrors } from '../lib/userErrors';
import type { RefineTarget } from '../pages/RefinementCard';

interface MaskFieldProps {
  formId: string;
  target: RefineTarget;
  drawMask: boolean;
  onDrawMask: (on: boolean) => void;
  state: MaskState;
  dispatch: Dispatch<MaskAction>;
  /** What the rectangles mean on this tab. */
  hint: string;
  errors: FieldErrors;
  /** Shown while drawing is off. */
  currentImage: ReactNode;
}

/** The mask switch, then the editor (or the plain current image), then any error about the mask. */
export function MaskField({ formId, target, drawMask, onDrawMask, state, dispatch, hint, errors, currentImage }: MaskFieldProps) {
  return (
    <>
      <div className="field toggle-field">
        <input
          id={`${formId}-draw-mask`}
          type="checkbox"
          role="switch"
          checked={drawMask}
          onChange={(e) => onDrawMask(e.target.checked)}
          data-testid="draw-mask-toggle"
          aria-describedby={`${formId}-mask-hint`}
        />
        <label htmlFor={`${formId}-draw-mask`}>Draw mask</label>
        <p id={`${formId}-mask-hint`} className="hint">
          {hint}
        </p>
      </div>
      {drawMask ? (
        <MaskEditor
          imageUrl={target.url}
          imageAlt={`${target.label} (v${target.version})`}
          width={target.width}
          height={target.height}
          state={state}
          dispatch={dispatch}
          errorId={errors.mask?.length ? errorId(formId, 'mask') : undefined}
        />
      ) : (
        currentImage
      )}
      <FieldError formId={formId} name="mask" errors={errors} />
    </>
  );
}
