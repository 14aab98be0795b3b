// The refinement dialog: three kinds of refinement as tabs, a shared creativity control, then
// live progress of the queued job in the same dialog.
import { useId, useLayoutEffect, useReducer, useRef, useState, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { RefineImageDoc } from '../graphql/operations';
import type { RefineImageInput, RefinementType } from '../gql/graphql';
import { notifyJobsChanged } from '../jobs/jobsChanged';
import { Dialog } from '../components/Dialog';
import { FieldError, describedBy } from '../components/FieldError';
import { ChosenReference, IMAGE_ACCEPT } from '../components/ImagePreview';
import { TabList, tabIds, type TabSpec } from '../components/Tabs';
import { EMPTY_MASK, maskReducer } from '../mask/maskReducer';
import { FORM_KEY, errorId, firstInvalid, groupUserErrors, type FieldErrors } from '../lib/userErrors';
import type { RefineTarget } from '../pages/RefinementCard';
import { MaskField } from './MaskField';
import { RefinementProgress } from './RefinementProgress';
import { AuthImage } from '../components/AuthImage';

const TABS: readonly TabSpec<RefinementType>[] = [
  { key: 'SUBJECT', label: 'Subject repair', testId: 'tab-subject' },
  { key: 'TEXT', label: 'Text repair', testId: 'tab-text' },
  { key: 'PROMPT', label: 'Prompt / Mask', testId: 'tab-prompt' },
];

/** Fields of RefineImageInput that have their own place in the form. */
export const REFINE_FIELDS = ['prompt', 'instructions', 'mask', 'referenceImage', 'creativityLevel'] as const;

/** Labels of the creativity levels, in order 1..3. */
export const CREATIVITY_LEVELS = [
  { value: 1, label: '1 minimal' },
  { value: 2, label: '2 balanced' },
  { value: 3, label: '3 free' },
] as const;

/** What the form holds, per tab, so switching tabs keeps what was typed. */
export interface RefineFormValues {
  type: RefinementType;
  subjectInstructions: string;
  subjectReference: File | null;
  subjectDrawMask: boolean;
  subjectMask: { x: number; y: number; width: number; height: number }[];
  textInstructions: string;
  prompt: string;
  drawMask: boolean;
  mask: { x: number; y: number; width: number; height: number }[];
  creativityLevel: number;
}

// Only the active tab's fields are sent: a prompt typed on another tab must not leak into a
// subject repair. Each of the Subject and Prompt tabs has its own mask, left out (= whole image,
// subject found automatically) unless drawing is on there and it has rectangles.
const rectsOf = (rects: RefineFormValues['mask']) => rects.map(({ x, y, width, height }) => ({ x, y, width, height }));

export function buildRefineInput(parentId: string, v: RefineFormValues): RefineImageInput {
  const input: RefineImageInput = { parentId, type: v.type, creativityLevel: v.creativityLevel };
  if (v.type === 'SUBJECT') {
    if (v.subjectInstructions.trim()) input.instructions = v.subjectInstructions.trim();
    if (v.subjectReference) input.referenceImage = v.subjectReference;
    if (v.subjectDrawMask && v.subjectMask.length > 0) input.mask = rectsOf(v.subjectMask);
  } else if (v.type === 'TEXT') {
    input.instructions = v.textInstructions.trim();
  } else {
    input.prompt = v.prompt.trim();
    if (v.drawMask && v.mask.length > 0) input.mask = rectsOf(v.mask);
  }
  return input;
}

interface RefineModalProps {
  target: RefineTarget;
  onClose: () => void;
  /** The refinement was accepted (QUEUED): the page shows its card. */
  onQueued: (id: string) => void;
  /** It reached COMPLETED: the page closes the dialog and focuses the new card. */
  onCompleted: (id: string) => void;
}

// Opened from any Refine button; the target is the Image or Refinement to refine.
export function RefineModal({ target, onClose, onQueued, onCompleted }: RefineModalProps) {
  const formId = useId();
  const [type, setType] = useState<RefinementType>('SUBJECT');
  const [subjectInstructions, setSubjectInstructions] = useState('');
  const [subjectReference, setSubjectReference] = useState<File | null>(null);
  const [subjectDrawMask, setSubjectDrawMask] = useState(false);
  const [subjectMask, dispatchSubjectMask] = useReducer(maskReducer, EMPTY_MASK);
  const [textInstructions, setTextInstructions] = useState('');
  const [prompt, setPrompt] = useState('');
  const [drawMask, setDrawMask] = useState(false);
  const [mask, dispatchMask] = useReducer(maskReducer, EMPTY_MASK);
  const [creativityLevel, setCreativityLevel] = useState(2);
  const [submittedErrors, setErrors] = useState<FieldErrors>({});
  const [errorTab, setErrorTab] = useState<RefinementType>('SUBJECT');
  // Tabs share field names (instructions): another tab's errors must not appear under this tab's field.
  const errors = errorTab === type ? submittedErrors : {};
  const [queued, setQueued] = useState<{ id: string; version: number } | null>(null);
  const [{ fetching }, refine] = useMutation(RefineImageDoc);
  const selectedTabRef = useRef<HTMLButtonElement>(null);
  const restoreFocus = useRef(true);
  const referenceInput = useRef<HTMLInputElement>(null);
  const formRef = useRef<HTMLFormElement>(null);

  // After the server refused the input, focus goes to the first field it named (not the submit button), in the
  // same commit that shows the errors: a passive effect runs later, when the user may already have moved on.
  useLayoutEffect(() => {
    if (Object.keys(submittedErrors).length > 0) firstInvalid(formRef.current)?.focus();
  }, [submittedErrors]);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (fetching) return;
    setErrors({});
    setErrorTab(type);
    const input = buildRefineInput(target.id, {
      type,
      subjectInstructions,
      subjectReference,
      subjectDrawMask,
      subjectMask: subjectMask.rects,
      textInstructions,
      prompt,
      drawMask,
      mask: mask.rects,
      creativityLevel,
    });
    const result = await refine({ input });
    if (result.error) {
      setErrors({ [FORM_KEY]: [result.error.message] });
      return;
    }
    const payload = result.data?.refineImage;
    if (payload?.userErrors.length) {
      setErrors(groupUserErrors(payload.userErrors, REFINE_FIELDS, { mask: 'Rectangle' }));
      return;
    }
    if (payload?.refinement) {
      setQueued({ id: payload.refinement.id, version: payload.refinement.version });
      onQueued(payload.refinement.id);
      notifyJobsChanged();
    }
  };

  const ids = (key: RefinementType) => tabIds(formId, key);
  const currentImage = (
    <figure className="current-image">
      <AuthImage
        src={target.url}
        displayWidth={600}
        alt={`Current image: ${target.label} (v${target.version})`}
        width={target.width ?? undefined}
        height={target.height ?? undefined}
      />
      <figcaption>
        Current image: {target.label} (v{target.version})
      </figcaption>
    </figure>
  );

  const errorProps = (name: string, ...others: (string | undefined)[]) => describedBy(formId, name, errors, ...others);

  return (
    <Dialog
      title={target.version === 1 ? `Refine ${target.label.toLowerCase()} (v1)` : `Refine ${target.label}`}
      onClose={onClose}
      testId="modal"
      initialFocus={queued ? undefined : selectedTabRef}
      restoreFocus={restoreFocus}
      className="refine-dialog"
      confirmClose={
        !queued &&
        !!(subjectInstructions.trim() || subjectReference || textInstructions.trim() || prompt.trim() || mask.rects.length > 0)
      }
    >
      {queued ? (
        <RefinementProgress
          refinementId={queued.id}
          version={queued.version}
          onClose={onClose}
          onCompleted={(id) => {
            restoreFocus.current = false;
            onCompleted(id);
          }}
        />
      ) : (
        <form ref={formRef} onSubmit={onSubmit} noValidate data-testid="refine-form">
          <FieldError formId={formId} name={FORM_KEY} errors={errors} />
          <TabList
            idPrefix={formId}
            label="Kind of refinement"
            tabs={TABS}
            selected={type}
            onSelect={setType}
            selectedRef={selectedTabRef}
          />

          <div
            role="tabpanel"
            id={ids('SUBJECT').panel}
            aria-labelledby={ids('SUBJECT').tab}
            hidden={type !== 'SUBJECT'}
            className="tabpanel"
          >
            {type === 'SUBJECT' && (
              <>
                <div className="field">
                  <label htmlFor={`${formId}-subject-instructions`}>What to repair in the subject</label>
                  <textarea
                    id={`${formId}-subject-instructions`}
                    rows={3}
                    value={subjectInstructions}
                    onChange={(e) => setSubjectInstructions(e.target.value)}
                    placeholder="Make the bottle label match the reference"
                    {...errorProps('instructions', `${formId}-subject-hint`)}
                  />
                  <p id={`${formId}-subject-hint`} className="hint">
                    Give instructions, a reference image, or both.
                  </p>
                  <FieldError formId={formId} name="instructions" errors={errors} />
                </div>
                <div className="field">
                  <label htmlFor={`${formId}-reference`}>
                    Reference image <span className="optional">(optional)</span>
                  </label>
                  <input
                    ref={referenceInput}
                    id={`${formId}-reference`}
                    type="file"
                    accept={IMAGE_ACCEPT}
                    onChange={(e) => setSubjectReference(e.target.files?.[0] ?? null)}
                    {...errorProps('referenceImage')}
                  />
                  {subjectReference && (
                    <ChosenReference
                      file={subjectReference}
                      testId="reference-preview"
                      onRemove={() => {
                        setSubjectReference(null);
                        if (referenceInput.current) referenceInput.current.value = '';
                      }}
                    />
                  )}
                  <FieldError formId={formId} name="referenceImage" errors={errors} />
                </div>
                <MaskField
                  formId={formId}
                  target={target}
                  drawMask={subjectDrawMask}
                  onDrawMask={setSubjectDrawMask}
                  state={subjectMask}
                  dispatch={dispatchSubjectMask}
                  hint="Mark where the subject is; without a mask it is found in the image."
                  errors={errors}
                  currentImage={currentImage}
                />
              </>
            )}
          </div>

          <div
            role="tabpanel"
            id={ids('TEXT').panel}
            aria-labelledby={ids('TEXT').tab}
            hidden={type !== 'TEXT'}
            className="tabpanel"
          >
            {type === 'TEXT' && (
              <>
                {currentImage}
                <div className="field">
                  <label htmlFor={`${formId}-text-instructions`}>What to fix in the text</label>
                  <textarea
                    id={`${formId}-text-instructions`}
                    rows={3}
                    value={textInstructions}
                    onChange={(e) => setTextInstructions(e.target.value)}
                    placeholder='The headline should read "Summer Sale"'
                    {...errorProps('instructions')}
                  />
                  <FieldError formId={formId} name="instructions" errors={errors} />
                </div>
              </>
            )}
          </div>

          <div
            role="tabpanel"
            id={ids('PROMPT').panel}
            aria-labelledby={ids('PROMPT').tab}
            hidden={type !== 'PROMPT'}
            className="tabpanel"
          >
            {type === 'PROMPT' && (
              <>
                <div className="field">
                  <label htmlFor={`${formId}-prompt`}>What to change</label>
                  <textarea
                    id={`${formId}-prompt`}
                    rows={3}
                    value={prompt}
                    onChange={(e) => setPrompt(e.target.value)}
                    placeholder="Add warm sunset lighting"
                    {...errorProps('prompt')}
                  />
                  <FieldError formId={formId} name="prompt" errors={errors} />
                </div>
                <MaskField
                  formId={formId}
                  target={target}
                  drawMask={drawMask}
                  onDrawMask={setDrawMask}
                  state={mask}
                  dispatch={dispatchMask}
                  hint="Limit the edit to rectangles you draw; without a mask the whole image may change."
                  errors={errors}
                  currentImage={currentImage}
                />
              </>
            )}
          </div>

          <fieldset
            className="creativity"
            aria-describedby={errors.creativityLevel?.length ? errorId(formId, 'creativityLevel') : undefined}
          >
            <legend>Creativity</legend>
            <div className="radio-row">
              {CREATIVITY_LEVELS.map((level) => (
                <label key={level.value} className="radio-option">
                  <input
                    type="radio"
                    name={`${formId}-creativity`}
                    value={level.value}
                    checked={creativityLevel === level.value}
                    onChange={() => setCreativityLevel(level.value)}
                    data-testid={`creativity-${level.value}`}
                  />
                  {level.label}
                </label>
              ))}
            </div>
            <FieldError formId={formId} name="creativityLevel" errors={errors} />
          </fieldset>

          <div className="actions">
            <button type="button" className="button-secondary" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="button-primary" data-testid="submit-button" aria-disabled={fetching || undefined}>
              {fetching ? 'Submitting…' : 'Start refinement'}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
