"""Run files in an S3-compatible bucket (AWS, MinIO, moto) through obstore.

Credentials, region and endpoint come from the standard AWS variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL). A PUT
replaces an object whole, so every write is atomic without a temp name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from churns_gql.blob_store import BlobInfo, Opened

if TYPE_CHECKING:
    from obstore.store import ClientConfig


def _meta_info(key: str, meta: Any) -> BlobInfo:
    """BlobInfo from obstore's object metadata."""
    return BlobInfo(key, int(meta["size"]), meta["last_modified"].timestamp(), str(meta.get("e_tag") or ""))


class S3BlobStore:
    """Keys under `s3://bucket/prefix`."""

    def __init__(self, store: S3Store) -> None:
        self.store = store

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        """A store for `s3://bucket/prefix`, configured from the environment."""
        parsed = urlparse(url)
        if not parsed.netloc:
            raise ValueError(f"an S3 storage URL names a bucket: s3://bucket/prefix, not {url!r}")
        config: dict[str, Any] = {}
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            # A custom endpoint (MinIO, moto) addresses buckets by path, and may be plain HTTP on a private network.
            config |= {"endpoint": endpoint, "virtual_hosted_style_request": False}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        client: ClientConfig | None = {"allow_http": True} if endpoint and endpoint.startswith("http://") else None
        prefix = parsed.path.strip("/") or None
        store = S3Store(parsed.netloc, prefix=prefix, region=region, client_options=client, **config)
        return cls(store)

    def read(self, key: str) -> bytes:
        """The object's bytes; raises FileNotFoundError."""
        try:
            return bytes(obstore.get(self.store, key).bytes())
        except (NotFoundError, FileNotFoundError) as exc:
            raise FileNotFoundError(key) from exc

    def write(self, key: str, data: bytes) -> None:
        """One PUT."""
        obstore.put(self.store, key, data)

    def delete(self, key: str) -> None:
        """DELETE (S3 answers success for a missing key too)."""
        with contextlib.suppress(NotFoundError, FileNotFoundError):
            obstore.delete(self.store, key)

    def delete_tree(self, prefix: str) -> None:
        """Delete every object under `prefix/`."""
        keys = [info.key for info in self.list(prefix)]
        for start in range(0, len(keys), 1000):
            obstore.delete(self.store, keys[start : start + 1000])

    def write_tree(self, prefix: str, files: dict[str, bytes]) -> None:
        """PUT each file; a run's rows commit only after, and a failure deletes what was written."""
        if self.list(prefix):
            raise FileExistsError(prefix)
        try:
            for relative, data in files.items():
                self.write(f"{prefix}/{relative}", data)
        except BaseException:
            self.delete_tree(prefix)
            raise

    def info(self, key: str) -> BlobInfo | None:
        """HEAD of the object, None when it does not exist."""
        try:
            return _meta_info(key, obstore.head(self.store, key))
        except (NotFoundError, FileNotFoundError):
            return None

    def list(self, prefix: str) -> list[BlobInfo]:
        """Every object under `prefix/`."""
        found = []
        for chunk in obstore.list(self.store, prefix.rstrip("/") + "/", chunk_size=1000):
            found += [_meta_info(meta["path"], meta) for meta in chunk]
        return found

    def folders(self, prefix: str) -> dict[str, float]:
        """Sub-folders of `prefix` with the newest object time in each."""
        newest: dict[str, float] = {}
        for info in self.list(prefix):
            name = info.key[len(prefix.rstrip("/")) + 1 :].split("/", 1)[0]
            if "/" in info.key[len(prefix.rstrip("/")) + 1 :]:
                newest[name] = max(newest.get(name, 0.0), info.mtime)
        return newest

    def probe(self) -> None:
        """List one key: fails when the endpoint, the credentials or the bucket are wrong (a HEAD would not)."""
        next(iter(obstore.list(self.store, "runs/", chunk_size=1)), None)

    def local_path(self, key: str) -> Path | None:
        """Objects are not on this machine's disk."""
        return None

    async def open(self, key: str) -> Opened | None:
        """One GET: the metadata and the body of the same object version (a HEAD first could describe another)."""
        try:
            result = await obstore.get_async(self.store, key)
        except (NotFoundError, FileNotFoundError):
            return None
        stream = result.stream(min_chunk_size=256 * 1024)

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in stream:
                yield bytes(chunk)

        async def close() -> None:
            """Dropping the stream ends the download."""

        return Opened(_meta_info(key, result.meta), chunks(), close)
