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

// Drop-in replacement for <img> wherever the src comes from the API.
export function AuthImage({ src, alt, ...rest }: ImgHTMLAttributes<HTMLImageElement> & { src: string; alt: string }) {
  const resolved = useAuthedSrc(src);
  return <img {...rest} src={resolved} alt={alt} />;
}
