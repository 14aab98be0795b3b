"""Persisted documents: Apollo's automatic persisted queries in Redis, or only a trusted manifest's documents."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from churns_gql.error_codes import ErrorCode

log = logging.getLogger("churns_gql.persisted")

NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
"""Apollo's message for an unknown hash: clients (apollo-link, urql) resend the document when they see it."""
KEY_PREFIX = "churns:apq:"
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Apollo answers a miss with 200 and forbids caching it, so a GET miss is not cached by a proxy.
_NO_CACHE = {"Cache-Control": "private, no-cache, must-revalidate"}


class DocumentRefused(Exception):
    """The request's document cannot be had or is not allowed; carries the status and code to answer with."""

    def __init__(self, status: int, message: str, code: ErrorCode, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})

    def as_error(self) -> dict[str, Any]:
        """The refusal as one GraphQL error object."""
        return {"message": self.message, "extensions": {"code": self.code.value}}


def document_hash(query: str) -> str:
    """The persisted-query id of a document: the hex SHA-256 of its UTF-8 text."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def load_manifest(path: Path) -> dict[str, str]:
    """A trusted-documents manifest (`{sha256: document}`); every key must be its document's hash."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a trusted-documents manifest is a JSON object of sha256 -> document")
    manifest: dict[str, str] = {}
    for key, document in raw.items():
        digest = key.removeprefix("sha256:")
        if not isinstance(document, str) or document_hash(document) != digest:
            raise ValueError(f"{path}: the entry {key!r} is not the SHA-256 of its document")
        manifest[digest] = document
    return manifest


def _requested_hash(extensions: Mapping[str, Any] | None) -> str | None:
    """The sha256Hash of `extensions.persistedQuery`, checked to be version 1 and a hex SHA-256."""
    persisted = (extensions or {}).get("persistedQuery") if isinstance(extensions, Mapping) else None
    if persisted is None:
        return None
    if not isinstance(persisted, Mapping) or persisted.get("version") != 1:
        raise DocumentRefused(400, "Unsupported persisted query version (only version 1 is)", ErrorCode.BAD_REQUEST)
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise DocumentRefused(400, "persistedQuery.sha256Hash must be a lowercase hex SHA-256", ErrorCode.BAD_REQUEST)
    return digest


class PersistedDocuments:
    """Turns a request's (query, extensions) into the document to run, registering or refusing as configured.

    Without a manifest, any document may be registered under its hash (kept `ttl_s` in Redis). With one,
    only its documents run, whether sent by hash or in full; nothing is registered.
    """

    def __init__(self, redis_url: str, *, ttl_s: int, max_bytes: int, trusted: Mapping[str, str] | None = None) -> None:
        self.redis_url = redis_url
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.trusted = dict(trusted) if trusted is not None else None
        self._redis: Redis | None = None

    @property
    def redis(self) -> Redis:
        """The Redis client, made on first use (on the running loop)."""
        if self._redis is None:
            self._redis = Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2)
        return self._redis

    async def close(self) -> None:
        """Close the Redis connections."""
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The document to execute; raises DocumentRefused for a miss, a hash mismatch or an untrusted document."""
        digest = _requested_hash(extensions)
        if query is not None:
            if digest is not None and document_hash(query) != digest:
                raise DocumentRefused(400, "provided sha does not match query", ErrorCode.BAD_REQUEST)
            if self.trusted is not None:
                if (digest or document_hash(query)) not in self.trusted:
                    raise DocumentRefused(403, "only the server's trusted documents may run here", ErrorCode.FORBIDDEN)
            elif digest is not None:
                await self._register(digest, query)
            return query
        if digest is None:
            return None
        found = self.trusted.get(digest) if self.trusted is not None else await self._lookup(digest)
        if found is None:
            raise DocumentRefused(200, NOT_FOUND_MESSAGE, ErrorCode.PERSISTED_QUERY_NOT_FOUND, _NO_CACHE)
        return found

    async def _register(self, digest: str, query: str) -> None:
        """Keep a document under its hash; an oversized one is not kept (the size limit refuses it anyway)."""
        if self.max_bytes > 0 and len(query) > self.max_bytes:
            return
        try:
            await self.redis.set(KEY_PREFIX + digest, query.encode("utf-8"), ex=self.ttl_s)
        except Exception as exc:  # the request still runs: it carried its document
            log.warning("could not register a persisted query: %s", exc.__class__.__name__)

    async def _lookup(self, digest: str) -> str | None:
        """The registered document of a hash; with Redis unreachable it is a miss (the client resends the text)."""
        try:
            value = await self.redis.get(KEY_PREFIX + digest)
        except Exception as exc:
            log.warning("could not look up a persisted query: %s", exc.__class__.__name__)
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else value


def from_settings(settings: Any) -> PersistedDocuments:
    """The app's persisted documents: a trusted manifest when CHURNS_TRUSTED_DOCUMENTS names one."""
    trusted = load_manifest(settings.trusted_documents) if settings.trusted_documents else None
    return PersistedDocuments(
        settings.redis_url, ttl_s=settings.apq_ttl_s, max_bytes=settings.max_query_bytes, trusted=trusted
    )
