"""Our own retries for image calls (the SDK's are off): only where OpenAI surely did not process the request.

A 429 is retried after its Retry-After (when that fits the budget), a 5xx answer and a connection that
never opened after a bounded exponential backoff. A timeout, or a connection lost once the request
was sent, is never retried: OpenAI may have processed (and billed) it, and a second call would bill
again. Such failures say "may have been billed" and carry an unknown spend.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx2
import openai

from churns_gql.providers.base import ProviderError
from churns_gql.providers.openai_errors import BILLED_NOTE, after_processing, to_provider_error

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, how long to back off, and the longest Retry-After worth waiting for."""

    attempts: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 20.0
    max_retry_after_s: float = 60.0

    def backoff(self, attempt: int) -> float:
        """The delay after failed attempt number `attempt` (1-based): 1, 2, 4 … s, capped."""
        return min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))


def retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds the answer asks to wait (retry-after-ms, retry-after in seconds or as a date), or None."""
    headers = exc.response.headers
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return None


def _never_sent(exc: openai.APIConnectionError) -> bool:
    """Whether the connection failed before the request went out (so OpenAI never saw it)."""
    return isinstance(exc.__cause__, httpx2.ConnectError)


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    model: str,
    setting: str,
    action: str = "edit",
    policy: RetryPolicy = RetryPolicy(),
    sleep: Sleep = asyncio.sleep,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """`await call()`, retried as the module docstring says; SDK errors become ProviderErrors."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except openai.APITimeoutError as exc:
            raise to_provider_error(exc, model, setting, action) from exc
        except openai.APIConnectionError as exc:
            if not _never_sent(exc):
                error = ProviderError(
                    "unavailable",
                    f"The connection to OpenAI broke during the {action}; {BILLED_NOTE}",
                    spent_usd=None,
                    code="connection_lost",
                )
                raise error from exc
            error, delay = to_provider_error(exc, model, setting, action), policy.backoff(attempt)
        except openai.RateLimitError as exc:
            error = to_provider_error(exc, model, setting, action)
            if exc.code == "insufficient_quota":
                raise error from exc
            wait = retry_after(exc)
            delay = policy.backoff(attempt) if wait is None else wait
            if delay > policy.max_retry_after_s:
                raise error from exc
        except openai.APIStatusError as exc:
            error = to_provider_error(exc, model, setting, action)
            if exc.status_code < 500:
                raise error from exc
            delay = policy.backoff(attempt)
        except openai.OpenAIError as exc:
            # An answer that arrived but could not be read was processed: never send it again.
            raise after_processing(to_provider_error(exc, model, setting, action)) from exc
        if attempt >= policy.attempts:
            raise error
        if on_retry is not None:
            on_retry(f"{error.code} (retried after {delay:.1f} s)")
        await sleep(delay)
