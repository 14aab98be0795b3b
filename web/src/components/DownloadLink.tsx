// A download link for an API file; with a token the file is fetched with it and saved from a blob.
import { useAuthedSrc } from './AuthImage';

// Rendered as a button-styled link; disabled-looking until the blob is ready.
export function DownloadLink({ url, filename, label }: { url: string; filename: string; label: string }) {
  const href = useAuthedSrc(url);
  return (
    <a
      className="button-secondary button-link"
      href={href}
      download={filename}
      aria-disabled={href ? undefined : 'true'}
      data-testid="download-link"
    >
      {label}
    </a>
  );
}
