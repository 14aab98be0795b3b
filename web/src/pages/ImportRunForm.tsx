// Import existing images as a finished run: drop files or pick them, optionally say what they
// were for, then go straight to the run to refine them.
import { useId, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { useMutation } from 'urql';
import { ImportRunDoc } from '../graphql/operations';
import { FieldError, describedBy } from '../components/FieldError';
import { FilePreview, IMAGE_ACCEPT, isAcceptedImage } from '../components/ImagePreview';
import { FORM_KEY, groupUserErrors, type FieldErrors } from '../lib/userErrors';
import { navigate, runHref } from '../lib/router';

const FIELDS = ['images', 'prompt', 'metadata'];

// Files from drag and drop and from the picker end up in one list the user can prune.
export function ImportRunForm() {
  const formId = useId();
  const [files, setFiles] = useState<File[]>([]);
  const [prompt, setPrompt] = useState('');
  const [dragging, setDragging] = useState(false);
  const [notice, setNotice] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const inputRef = useRef<HTMLInputElement>(null);
  const [{ fetching }, importRun] = useMutation(ImportRunDoc);

  const addFiles = (list: FileList | File[] | null | undefined) => {
    const chosen = Array.from(list ?? []);
    const accepted = chosen.filter(isAcceptedImage);
    const skipped = chosen.length - accepted.length;
    if (accepted.length) {
      setFiles((prev) => [...prev, ...accepted]);
      // "Choose at least one image" is answered now; errors about other fields stay.
      setErrors(({ images: _answered, ...rest }) => rest);
    }
    setNotice(
      [
        accepted.length ? `${accepted.length} image${accepted.length === 1 ? '' : 's'} added.` : '',
        skipped ? `${skipped} file${skipped === 1 ? ' was' : 's were'} skipped: only PNG, JPEG or WebP.` : '',
      ]
        .filter(Boolean)
        .join(' '),
    );
  };

  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    addFiles(event.dataTransfer?.files);
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (files.length === 0) {
      setErrors({ images: ['Choose at least one image to import.'] });
      return;
    }
    setErrors({});
    const result = await importRun({ input: { images: files, prompt: prompt.trim() || null } });
    if (result.error) {
      setErrors({ [FORM_KEY]: [result.error.message] });
      return;
    }
    const payload = result.data?.importRun;
    if (payload?.userErrors.length) {
      setErrors(groupUserErrors(payload.userErrors, FIELDS, { images: 'Image' }));
      return;
    }
    if (payload?.run) navigate(runHref(payload.run.id));
  };

  return (
    <form className="card form" onSubmit={onSubmit} aria-labelledby={`${formId}-title`} noValidate data-testid="import-run-form">
      <h2 id={`${formId}-title`}>Import images</h2>
      <FieldError formId={formId} name={FORM_KEY} errors={errors} />
      <div
        className={`dropzone${dragging ? ' is-dragging' : ''}`}
        data-testid="import-dropzone"
        onDragEnter={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragOver={(e) => {
          e.preventDefault();
          if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
        }}
        onDragLeave={(e) => {
          if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
        }}
        onDrop={onDrop}
      >
        <p className="dropzone-text" aria-hidden="true">
          Drop PNG, JPEG or WebP images here, or
        </p>
        <label htmlFor={`${formId}-files`} className="field-label">
          Choose images
        </label>
        <input
          ref={inputRef}
          id={`${formId}-files`}
          type="file"
          multiple
          accept={IMAGE_ACCEPT}
          onChange={(e) => {
            addFiles(e.target.files);
            e.target.value = '';
          }}
          {...describedBy(formId, 'images', errors, `${formId}-files-hint`)}
        />
        <p id={`${formId}-files-hint`} className="hint">
          You can also drag files onto this box. Each image becomes an original (v1) of the new run.
        </p>
      </div>
      <p className="hint" aria-live="polite" data-testid="import-notice">
        {notice}
      </p>
      <FieldError formId={formId} name="images" errors={errors} />
      {files.length > 0 && (
        <ul className="file-list" aria-label="Images to import">
          {files.map((file, i) => (
            <li key={`${file.name}-${i}`}>
              <FilePreview file={file} />
              <span className="file-name">{file.name}</span>
              <button
                type="button"
                className="button-small"
                onClick={() => {
                  setFiles((prev) => prev.filter((_, j) => j !== i));
                  setNotice(`${file.name} removed.`);
                }}
                aria-label={`Remove ${file.name}`}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="field">
        <label htmlFor={`${formId}-prompt`}>
          What the images were made for <span className="optional">(optional)</span>
        </label>
        <input
          id={`${formId}-prompt`}
          type="text"
          value={prompt}
          onChange={(e) => setPrompt(e.target.value)}
          {...describedBy(formId, 'prompt', errors)}
        />
        <FieldError formId={formId} name="prompt" errors={errors} />
      </div>
      <div className="actions">
        <button type="submit" className="button-primary" disabled={fetching} data-testid="import-submit">
          {fetching ? 'Importing…' : `Import ${files.length || ''} image${files.length === 1 ? '' : 's'}`.replace('  ', ' ')}
        </button>
      </div>
    </form>
  );
}
