// <img> for the API's /files URLs. When a token is set the browser cannot add the Authorization
// header to an image request, so the file is fetched with it and shown from a blob URL.
import { useEffect, useState, type ImgHTMLAttributes } from 'react';
import { useAuth } from '../auth/AuthProvider';
import { bearer, needsAuth } from '../lib/auth';

/** Blob URLs per token + URL, so re-renders and reopened dialogs do not download again. */
const cache = new Map<string, Promise<string>>();
const CACHE_LIMIT = 300;

function fetchBlobUrl(url: string, token: string): Promise<string> {
  const key = `${token}\n${url}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = fetch(url, { headers: { Authorization: bearer(token)! } }).then(async (res) => {
      if (!res.ok) throw new Error(`${res.status}`);
      return URL.createObjectURL(await res.blob());
    });
    hit.catch(() => cache.delete(key));
    cache.set(key, hit);
    if (cache.size > CACHE_LIMIT) {
      const [oldest, promise] = cache.entries().next().value as [string, Promise<string>];
      cache.delete(oldest);
      void promise.then(
        (u) => URL.revokeObjectURL(u),
        () => undefined,
      );
    }
  }
  return hit;
}

// The src to render: the URL itself when no token is needed, else a blob URL once loaded.
export function useAuthedSrc(url: string | null | undefined): string | undefined {
  const { token } = useAuth();
  const direct = url && !needsAuth(url, token) ? url : undefined;
  const [blob, setBlob] = useState<string | undefined>(undefined);
  useEffect(() => {
    setBlob(undefined);
    if (!url || !token || !needsAuth(url, token)) return;
    let live = true;
    fetchBlobUrl(url, token).then(
      (u) => live && setBlob(u),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [url, token]);
  return direct ?? blob;
}

/** The widths the server resizes run images to (churns_gql/thumbnails.py WIDTHS). */
export const THUMB_WIDTHS = [160, 320, 480, 640, 960, 1280, 1920] as const;

/** The URL of a run image resized to `width` pixels. */
export function sizedUrl(url: string, width: number): string {
  return `${url}${url.includes('?') ? '&' : '?'}w=${width}`;
}

/** srcset candidates below the image's own width, then the original itself. */
export function thumbnailSrcSet(url: string, naturalWidth: number): string {
  const smaller = THUMB_WIDTHS.filter((w) => w < naturalWidth).map((w) => `${sizedUrl(url, w)} ${w}w`);
  return [...smaller, `${url} ${naturalWidth}w`].join(', ');
}

/** The URL for an image drawn at most `cssWidth` CSS px wide on a screen of `dpr` device pixels per px. */
export function fittedUrl(url: string, naturalWidth: number | undefined, cssWidth: number, dpr: number): string {
  const needed = Math.ceil(cssWidth * Math.max(1, dpr));
  const width = THUMB_WIDTHS.find((w) => w >= needed);
  return width === undefined || (naturalWidth !== undefined && width >= naturalWidth) ? url : sizedUrl(url, width);
}

type AuthImageProps = ImgHTMLAttributes<HTMLImageElement> & {
  src: string;
  alt: string;
  /** The widest the image is drawn, in CSS px: the server sends a copy that size instead of the original. */
  displayWidth?: number;
};

// Drop-in replacement for <img> wherever the src comes from the API. With displayWidth the browser
// picks from a srcset; with a token (no srcset possible for header-authenticated fetches) the
// fitting size is fetched directly.
export function AuthImage({ src, alt, displayWidth, ...rest }: AuthImageProps) {
  const { token } = useAuth();
  const natural = typeof rest.width === 'number' ? rest.width : undefined;
  const resizable = displayWidth !== undefined && src.startsWith('/files/');
  const dpr = typeof window === 'undefined' ? 1 : window.devicePixelRatio || 1;
  const wanted = resizable ? fittedUrl(src, natural, displayWidth, dpr) : src;
  const resolved = useAuthedSrc(wanted);
  const srcSet = resizable && natural && !needsAuth(src, token) ? thumbnailSrcSet(src, natural) : undefined;
  const sizes = srcSet ? `(max-width: ${displayWidth}px) 100vw, ${displayWidth}px` : undefined;
  return <img {...rest} src={resolved} srcSet={srcSet} sizes={sizes} alt={alt} />;
}
