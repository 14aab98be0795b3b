// Local previews of chosen files, via object URLs that are revoked when the file changes.
import { useEffect, useState } from 'react';

// The object URL lives as long as the file is shown, so previews do not leak memory.
export function useObjectUrl(file: File | null | undefined): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!file || typeof URL.createObjectURL !== 'function') {
      setUrl(null);
      return;
    }
    const next = URL.createObjectURL(file);
    setUrl(next);
    return () => URL.revokeObjectURL(next);
  }, [file]);
  return url;
}

// A thumbnail of a chosen file, with its name as alt text.
export function FilePreview({ file, className = 'file-preview' }: { file: File; className?: string }) {
  const url = useObjectUrl(file);
  if (!url) return null;
  return <img className={className} src={url} alt={`Preview of ${file.name}`} />;
}

// A chosen reference image: thumbnail, name and a Remove button that also clears the file input.
export function ChosenReference({ file, onRemove, testId }: { file: File; onRemove: () => void; testId?: string }) {
  return (
    <div className="chosen-file" data-testid={testId}>
      <FilePreview file={file} />
      <span className="file-name">{file.name}</span>
      <button type="button" className="button-small" onClick={onRemove} aria-label="Remove reference image">
        Remove
      </button>
    </div>
  );
}

/** MIME types the server accepts for uploads. */
export const IMAGE_ACCEPT = 'image/png,image/jpeg,image/webp';

// The server checks the bytes too; this only keeps obviously wrong files out of drag and drop.
export function isAcceptedImage(file: File): boolean {
  return IMAGE_ACCEPT.split(',').includes(file.type) || /\.(png|jpe?g|webp)$/i.test(file.name);
}
