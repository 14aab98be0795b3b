// Form for createRun: prompt, platform, number of images and an optional reference photo.
import { useId, useRef, useState, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { CreateRunDoc } from '../graphql/operations';
import { FieldError, describedBy } from '../components/FieldError';
import { ChosenReference, IMAGE_ACCEPT } from '../components/ImagePreview';
import { PLATFORMS } from '../lib/format';
import { FORM_KEY, groupUserErrors, type FieldErrors } from '../lib/userErrors';
import { navigate, runHref } from '../lib/router';
import { notifyJobsChanged } from '../jobs/jobsChanged';

const FIELDS = ['prompt', 'platform', 'numImages', 'language', 'referenceImage'];

// On success the new run's page takes over, where its progress streams in.
export function CreateRunForm() {
  const formId = useId();
  const [prompt, setPrompt] = useState('');
  const [platform, setPlatform] = useState(PLATFORMS[0]);
  const [numImages, setNumImages] = useState(1);
  const [reference, setReference] = useState<File | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [{ fetching }, createRun] = useMutation(CreateRunDoc);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setErrors({});
    const result = await createRun({
      input: { prompt, platform, numImages, referenceImage: reference ?? undefined },
    });
    if (result.error) {
      setErrors({ [FORM_KEY]: [result.error.message] });
      return;
    }
    const payload = result.data?.createRun;
    if (payload?.userErrors.length) {
      setErrors(groupUserErrors(payload.userErrors, FIELDS));
      return;
    }
    if (payload?.run) {
      notifyJobsChanged();
      navigate(runHref(payload.run.id));
    }
  };

  return (
    <form className="card form" onSubmit={onSubmit} aria-labelledby={`${formId}-title`} noValidate data-testid="create-run-form">
      <h2 id={`${formId}-title`}>Create a run</h2>
      <FieldError formId={formId} name={FORM_KEY} errors={errors} />
      <div className="field">
        <label htmlFor={`${formId}-prompt`}>Prompt</label>
        <textarea
          id={`${formId}-prompt`}
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          rows={3}
          placeholder="A summer iced-coffee promotion with bold headline text"
          {...describedBy(formId, 'prompt', errors)}
        />
        <FieldError formId={formId} name="prompt" errors={errors} />
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor={`${formId}-platform`}>Platform</label>
          <select
            id={`${formId}-platform`}
            value={platform}
            onChange={(e) => setPlatform(e.target.value)}
            {...describedBy(formId, 'platform', errors)}
          >
            {PLATFORMS.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
          <FieldError formId={formId} name="platform" errors={errors} />
        </div>
        <div className="field">
          <label htmlFor={`${formId}-num`}>Number of images</label>
          <select
            id={`${formId}-num`}
            value={numImages}
            onChange={(e) => setNumImages(Number(e.target.value))}
            {...describedBy(formId, 'numImages', errors)}
          >
            {[1, 2, 3, 4].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
          <FieldError formId={formId} name="numImages" errors={errors} />
        </div>
      </div>
      <div className="field">
        <label htmlFor={`${formId}-ref`}>
          Reference image <span className="optional">(optional)</span>
        </label>
        <input
          id={`${formId}-ref`}
          ref={fileRef}
          type="file"
          accept={IMAGE_ACCEPT}
          onChange={(e) => setReference(e.target.files?.[0] ?? null)}
          {...describedBy(formId, 'referenceImage', errors, `${formId}-ref-hint`)}
        />
        <p id={`${formId}-ref-hint`} className="hint">
          A product or subject photo the generation starts from. PNG, JPEG or WebP.
        </p>
        {reference && (
          <ChosenReference
            file={reference}
            onRemove={() => {
              setReference(null);
              if (fileRef.current) fileRef.current.value = '';
            }}
          />
        )}
        <FieldError formId={formId} name="referenceImage" errors={errors} />
      </div>
      <div className="actions">
        <button type="submit" className="button-primary" disabled={fetching} data-testid="create-run-submit">
          {fetching ? 'Creating…' : 'Create run'}
        </button>
      </div>
    </form>
  );
}
