"""The errors the admin clients raise, one class per kind of refusal.

Client side: this module imports no Pyramid (only the shared client plumbing) (the admin clients run in
services that only talk to the admin API). Every error is an
:class:`AuthSuiteError` carrying the server's stable ``code`` (read from the
problem document's ``type``), its ``message`` (the problem's ``detail``) and
the HTTP ``status``::

    try:
        admin.users.get("alice")
    except UserNotFoundError:
        ...
    except RateLimitError as error:
        time.sleep(error.retry_after or 1)

:func:`error_for` picks the class: by code first, then by status (so a code
a newer server adds still lands in the right family); :func:`error_for_response`
reads an answer's problem document for it.
"""
from __future__ import annotations

import datetime
import email.utils
from typing import Any, Mapping

from pyramid_authsuite.client import AnyResponse, read_problem, response_challenges

__all__ = [
    "AuthSuiteError",
    "AuthenticationError",
    "ConflictError",
    "ForbiddenError",
    "KeyExistsError",
    "NotFoundError",
    "PreconditionFailedError",
    "RateLimitError",
    "ServiceUnavailableError",
    "UnexpectedResponseError",
    "UserExistsError",
    "UserNotFoundError",
    "ValidationError",
    "error_for",
    "error_for_response",
    "parse_retry_after",
]

# A Retry-After value longer than this is not read (a date needs 29).
_MAX_RETRY_AFTER_LENGTH = 64
# At most this many field errors are kept from a validation problem.
_MAX_FIELD_ERRORS = 100


class AuthSuiteError(Exception):
    """The admin API refused a call, or answered what the client cannot read.

    ``code``
        The server's stable refusal code (``user_not_found``,
        ``validation_error``, ...); ``None`` when the answer carried no
        problem document of this package.
    ``message``
        The problem's ``detail`` (else its ``title``, else a sentence the
        client wrote). Never holds a submitted value or a secret.
    ``status``
        The HTTP status (``None`` when there was no answer to read).
    ``problem``
        The whole problem document (a ``dict``), or ``None``.
    """

    def __init__(self, code: str | None, message: str, status: int | None = None,
                 problem: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.problem: dict[str, Any] | None = dict(problem) if problem is not None else None

    def __str__(self) -> str:
        prefix = f"HTTP {self.status}" if self.status is not None else "error"
        return f"{prefix} {self.code or 'unknown'}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class UnexpectedResponseError(AuthSuiteError):
    """An answer the client cannot read: a status it did not expect without a problem document,
    or a body that is not the JSON it should be (a proxy's HTML page, say)."""


class AuthenticationError(AuthSuiteError):
    """401: the credentials were missing, wrong, expired or refused.

    ``challenges`` holds the server's ``WWW-Authenticate`` challenges
    (:class:`pyramid_authsuite.client.Challenge`), so a caller can see which
    schemes the server accepts. A second factor the server asks for (code
    ``otp_required``) arrives as this error too.
    """

    def __init__(self, *args: Any, challenges: list | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.challenges = list(challenges or ())


class ForbiddenError(AuthSuiteError):
    """403: the caller is known but may not do this (not an admin; a tenant admin reaching out)."""


class NotFoundError(AuthSuiteError):
    """404: ``key_not_found``, ``tenant_not_found`` (and the base of :class:`UserNotFoundError`)."""


class UserNotFoundError(NotFoundError):
    """404 ``user_not_found``: no such account (or one the caller may not see)."""


class ConflictError(AuthSuiteError):
    """409: what was asked for exists already."""


class UserExistsError(ConflictError):
    """409 ``userid_taken`` or ``email_taken``."""


class KeyExistsError(ConflictError):
    """409 ``key_id_taken``."""


class ValidationError(AuthSuiteError):
    """400 ``validation_error`` (and 415 ``unsupported_media_type``): the request was refused as written.

    ``errors`` is the server's list of ``{"field": ..., "message": ...}``
    (empty when it sent none); it never echoes the submitted values.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        listed = (self.problem or {}).get("errors")
        self.errors: list[dict[str, str]] = [
            {"field": str(item.get("field", "")), "message": str(item.get("message", ""))}
            for item in (listed if isinstance(listed, list) else [])[:_MAX_FIELD_ERRORS]
            if isinstance(item, dict)
        ]

    @property
    def fields(self) -> list[str]:
        """The names of the fields refused, in the server's order."""
        return [item["field"] for item in self.errors]


class PreconditionFailedError(AuthSuiteError):
    """412 ``precondition_failed``: the ``if_match`` tag is stale (someone changed the account meanwhile)."""


class _RetryLater(AuthSuiteError):
    """An error whose answer said when to try again: ``retry_after``, seconds (``None`` when it did not)."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class RateLimitError(_RetryLater):
    """429 ``rate_limited``: too many calls; ``retry_after`` seconds from the ``Retry-After`` header."""


class ServiceUnavailableError(_RetryLater):
    """503: the server cannot answer now (its cache or database is down); ``retry_after`` as for 429."""


_BY_CODE: dict[str, type[AuthSuiteError]] = {
    "user_not_found": UserNotFoundError,
    "key_not_found": NotFoundError,
    "tenant_not_found": NotFoundError,
    "userid_taken": UserExistsError,
    "email_taken": UserExistsError,
    "key_id_taken": KeyExistsError,
    "validation_error": ValidationError,
    "unsupported_media_type": ValidationError,
    "precondition_failed": PreconditionFailedError,
    "rate_limited": RateLimitError,
    "forbidden": ForbiddenError,
}
_BY_STATUS: dict[int, type[AuthSuiteError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    413: ValidationError,
    415: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def parse_retry_after(value: str | None, now: datetime.datetime | None = None) -> float | None:
    """A ``Retry-After`` value (RFC 9110 section 10.2.3) as seconds to wait, or ``None``.

    ``value``
        The header value: delay-seconds (``"30"``) or an HTTP-date
        (``"Fri, 04 Dec 2026 18:00:00 GMT"``). Anything else, or a value over
        64 characters, is ``None``.
    ``now``
        The time an HTTP-date is measured from (default: now, UTC). A date
        in the past is ``0.0``.
    """
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > _MAX_RETRY_AFTER_LENGTH:
        return None
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:  # RFC 9110: an HTTP-date is always GMT
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return max(0.0, (moment - now).total_seconds())


def error_for(status: int, code: str | None, message: str, problem: Mapping[str, Any] | None = None, *,
              retry_after: str | None = None, challenges: list | None = None) -> AuthSuiteError:
    """The error to raise for a refusal.

    ``status``
        The HTTP status.
    ``code``
        The package's refusal code (from the problem's ``type``), or ``None``.
    ``message``
        What the error says (the problem's ``detail``).
    ``problem``
        The problem document, kept on the error.
    ``retry_after``
        The ``Retry-After`` header value, read for 429 and 503.
    ``challenges``
        The ``WWW-Authenticate`` challenges, kept on a 401's error.

    A 401 is always an :class:`AuthenticationError` and a 429 a
    :class:`RateLimitError`, whatever their code (a Basic lockout's
    ``rate_limited`` is both a code and a status).
    """
    if status == 401:
        return AuthenticationError(code, message, status, problem, challenges=challenges)
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status) or AuthSuiteError
    if issubclass(cls, _RetryLater) or status in (429, 503):
        if not issubclass(cls, _RetryLater):
            cls = RateLimitError if status == 429 else ServiceUnavailableError
        return cls(code, message, status, problem, retry_after=parse_retry_after(retry_after))
    return cls(code, message, status, problem)


def error_for_response(response: AnyResponse) -> AuthSuiteError:
    """The typed error for an answer a call did not expect.

    ``response``
        The answer (``httpx`` or ``requests``, its body read). Its problem
        document gives the code (from ``type``) and the message
        (``detail``); ``Retry-After`` gives a 429's or 503's
        ``retry_after``; a 401 keeps its challenges. A status under 400 is
        an :class:`UnexpectedResponseError` (the call expected another).
    """
    status = response.status_code
    if status < 400:
        return UnexpectedResponseError(
            "unexpected_response", f"The admin API answered HTTP {status}, which this call does not expect.", status)
    problem = read_problem(response)
    message = (problem.detail or problem.title) if problem is not None else None
    # httpx calls it reason_phrase, requests reason.
    reason = getattr(response, "reason_phrase", None) or getattr(response, "reason", None)
    return error_for(
        status,
        problem.code if problem is not None else None,
        message or reason or f"HTTP {status}",
        problem.document if problem is not None else None,
        retry_after=response.headers.get("Retry-After"),
        challenges=response_challenges(response) if status == 401 else None,
    )
