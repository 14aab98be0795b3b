"""OpenAI SDK errors as ProviderErrors a user can act on: what happened, which setting to check, a stable code."""

from __future__ import annotations

import openai

from churns_gql.providers.base import ProviderError

IMAGE_MODEL_SETTING = "CHURNS_OPENAI_IMAGE_MODEL"
"""The setting that names the image model, quoted in errors about it."""

BILLED_NOTE = "the request may have been billed"
"""Said whenever a call failed after OpenAI may have processed it, so the spend is unknown."""

_MAX_MESSAGE_CHARS = 300
_CONTENT_POLICY_CODES = {"moderation_blocked", "content_policy_violation", "content_filter"}
_CONTENT_POLICY_PHRASES = ("safety system", "content policy", "moderation")


def _clean(text: str | None) -> str:
    """`text` with runs of whitespace collapsed and ends stripped."""
    return " ".join((text or "").split())


def _trim(text: str) -> str:
    """`text` on one line, cut to a length fit for a user-facing message."""
    text = _clean(text)
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 1].rstrip() + "…"
    return text


def api_message(exc: openai.APIError) -> str:
    """The API's own message for `exc`, trimmed, or "" when it sent none worth showing."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return _trim(body["message"])
    # Without a JSON body the SDK's message is just "Error code: N", and the raw body may be HTML.
    return ""


def is_content_policy(exc: openai.APIError) -> bool:
    """Whether `exc` says the safety system refused the request."""
    if (exc.code or "") in _CONTENT_POLICY_CODES:
        return True
    message = api_message(exc).lower()
    return any(phrase in message for phrase in _CONTENT_POLICY_PHRASES)


def to_provider_error(
    exc: openai.OpenAIError, model: str, setting: str = IMAGE_MODEL_SETTING, action: str = "edit"
) -> ProviderError:
    """A ProviderError for an SDK error that happened before OpenAI processed anything (nothing spent)."""
    detail = api_message(exc) if isinstance(exc, openai.APIError) else ""
    suffix = f" ({detail})" if detail else ""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("timeout", f"OpenAI did not answer in time; {BILLED_NOTE}", spent_usd=None, code="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            "unavailable",
            "Could not reach OpenAI; check the network or OPENAI_BASE_URL and try again",
            code="connection_error",
        )
    if isinstance(exc, openai.RateLimitError):
        if exc.code == "insufficient_quota":
            return ProviderError(
                "rate_limit",
                "The OpenAI account is out of quota; check its plan and billing",
                code="insufficient_quota",
            )
        return ProviderError(
            "rate_limit", "OpenAI rate limit reached; try again in a minute", code="rate_limit_exceeded"
        )
    if isinstance(exc, openai.AuthenticationError):
        return ProviderError("auth", "OpenAI rejected the API key; check OPENAI_API_KEY", code="invalid_api_key")
    if isinstance(exc, openai.PermissionDeniedError):
        # 403 also means "organization must be verified to use this model", so pass the reason on.
        return ProviderError(
            "auth",
            f"OpenAI denied access to {model}; check OPENAI_API_KEY and {setting}{suffix}",
            code="permission_denied",
        )
    if isinstance(exc, openai.APIError) and is_content_policy(exc):
        return ProviderError(
            "content_policy",
            f"OpenAI's safety system blocked this {action} (code moderation_blocked); "
            "rephrase the request or use a different image",
            code="moderation_blocked",
        )
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return ProviderError(
                "unavailable",
                f"OpenAI is having trouble (HTTP {exc.status_code}); try again shortly",
                code="server_error",
            )
        if exc.status_code == 404:
            return ProviderError(
                "bad_request",
                f"OpenAI does not offer {model} to this account; check {setting}{suffix}",
                code="model_not_found",
            )
        return ProviderError(
            "bad_request",
            f"OpenAI rejected the {action} request{suffix or f' (HTTP {exc.status_code})'}",
            code=exc.code or "invalid_request",
        )
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError(
            "unavailable",
            f"OpenAI answered in an unexpected format; {BILLED_NOTE}",
            spent_usd=None,
            code="bad_response",
        )
    if isinstance(exc, openai.APIError):
        # Errors reported inside an event stream carry no HTTP status: the call was under way.
        return ProviderError(
            "unavailable",
            f"OpenAI reported an error during the {action}; {BILLED_NOTE}{suffix}",
            spent_usd=None,
            code=exc.code or "stream_error",
        )
    return ProviderError("unavailable", "The OpenAI request failed; try again", code="unknown")


def after_processing(error: ProviderError) -> ProviderError:
    """`error` for a failure once the request may have been processed: spend unknown, and the message says so."""
    if error.spent_usd is None:
        return error
    message = error.message if BILLED_NOTE in error.message else f"{error.message}; {BILLED_NOTE}"
    return ProviderError(error.kind, message, spent_usd=None, code=error.code)
