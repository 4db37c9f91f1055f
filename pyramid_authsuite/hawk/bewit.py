"""Bewits: one URI authorized for GET and HEAD until it expires (README "Single URI Authorization").

``lib/client.js`` ``getBewit`` (:func:`make_bewit`; ``lib/uri.js`` in old
releases) and ``lib/server.js`` ``authenticateBewit`` (:func:`strip_bewit`,
:func:`parse_bewit`, :func:`verify_bewit`). The value is base64url of
``id\\exp\\mac\\ext``: the reference strips the padding, mohawk keeps it, so
both are read (:mod:`pyramid_authsuite._b64` with ``padded=True``). No
Pyramid or WebOb imports.
"""
from __future__ import annotations

from typing import Collection, NamedTuple

from pyramid_authsuite import _b64
from pyramid_authsuite.hawk.errors import (
    HawkBewitExpired,
    HawkBewitMethodError,
    HawkMACError,
    HawkParseError,
)
from pyramid_authsuite.hawk.header import _DIGEST_B64_RE, _MAX_TS, _TS_RE, _VALUE_RE
from pyramid_authsuite.hawk.mac import (
    _KIND_PREFIX,
    DEFAULT_ALLOWED_ALGORITHMS,
    _normalized,
    calculate_mac,
    verify_mac,
)

__all__ = [
    "MAX_BEWIT_LENGTH",
    "MAX_RESOURCE_LENGTH",
    "Bewit",
    "make_bewit",
    "parse_bewit",
    "strip_bewit",
    "verify_bewit",
]

#: Bound on a request target given to :func:`strip_bewit` (it is scanned).
MAX_RESOURCE_LENGTH = 4096
#: Bound on an encoded bewit value.
MAX_BEWIT_LENGTH = 4096
# JavaScript line terminators: the reference bewit regex's '.' stops at them.
_LINE_TERMINATORS = ("\n", "\r", "\u2028", "\u2029")


class Bewit(NamedTuple):
    """A decoded bewit: ``id\\exp\\mac\\ext``."""

    id: str
    exp: int
    mac: str
    ext: str

    def __repr__(self) -> str:
        return f"Bewit(id={self.id!r}, exp={self.exp}, mac=<redacted>, ext={self.ext!r})"


def make_bewit(
    id: str,  # noqa: A002 - the spec's name
    key: bytes | str,
    algorithm: str,
    *,
    method: str = "GET",
    resource: str,
    host: str,
    port: int | str,
    expiry: int,
    ext: str = "",
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> str:
    """A bewit for ``resource`` valid until ``expiry`` (``lib/client.js`` ``getBewit``).

    The MAC covers ``hawk.1.bewit`` with ``ts=expiry``, an empty nonce and
    method ``GET`` (always, even for HEAD); the bewit is URL-safe base64,
    padding stripped, of ``id\\expiry\\mac\\ext``. ``method`` only guards
    against issuing a bewit for anything but GET/HEAD. ``id`` and ``ext``
    must use the attribute alphabet (which has no ``\\``), else ``ValueError``.
    """
    if method not in ("GET", "HEAD"):
        raise ValueError("bewits are for GET and HEAD requests only")
    if not id or _VALUE_RE.fullmatch(id) is None:
        raise ValueError("bewit id must be non-empty Hawk attribute text")
    if ext and _VALUE_RE.fullmatch(ext) is None:
        raise ValueError("bewit ext contains characters not allowed in a Hawk attribute")
    if isinstance(expiry, bool) or not isinstance(expiry, int) or not 0 < expiry <= _MAX_TS:
        raise ValueError("bewit expiry must be a positive timestamp in seconds")
    mac = calculate_mac(
        key,
        algorithm,
        _normalized(_KIND_PREFIX["bewit"], expiry, "", "GET", resource, host, port, None, ext, None, None),
        allowed_algorithms=allowed_algorithms,
    )
    raw = f"{id}\\{expiry}\\{mac}\\{ext}".encode("ascii")
    return _b64.b64url_encode(raw)


def strip_bewit(resource: str) -> tuple[str, str | None]:
    """Split ``resource`` into ``(resource without the bewit, bewit value)``.

    Does what ``lib/server.js`` ``authenticateBewit`` does with its regex
    ``^(\\/.*)([\\?&])bewit\\=([^&$]*)(?:&(.+))?$``: the *last* ``?bewit=`` or
    ``&bewit=`` whose value (up to the next ``&``) contains no ``$`` and is
    not followed by a bare trailing ``&`` is removed, together with the
    ``&`` after it, keeping the separator before it: ``/r?bewit=X&a=1`` ->
    ``/r?a=1``, ``/r?a=1&bewit=X`` -> ``/r?a=1``. Returns ``(resource, None)``
    when there is no bewit (or the resource does not start with ``/``).
    Raises :class:`HawkParseError` for an empty bewit, a resource over
    :data:`MAX_RESOURCE_LENGTH`, or one with line terminators (which the
    reference regex cannot match consistently).
    """
    if len(resource) > MAX_RESOURCE_LENGTH:
        raise HawkParseError("resource too long")
    if not resource.startswith("/"):
        return resource, None
    for terminator in _LINE_TERMINATORS:
        if terminator in resource:
            raise HawkParseError("resource contains line terminators")
    index = resource.rfind("bewit=")
    # index >= 2: the part before the separator is at least "/".
    while index >= 2:
        separator = resource[index - 1]
        if separator == "?" or separator == "&":
            start = index + 6
            ampersand = resource.find("&", start)
            if ampersand < 0:
                value, rest, matched = resource[start:], "", True
            else:
                value, rest = resource[start:ampersand], resource[ampersand + 1 :]
                matched = rest != ""  # the regex's (.+) needs one character
            if matched and "$" not in value:  # [^&$] stops at '$'
                if not value:
                    raise HawkParseError("empty bewit")
                head = resource[: index - 1]
                return (f"{head}{separator}{rest}" if rest else head), value
        # An earlier occurrence: the regex's greedy (\/.*) backtracks leftwards.
        index = resource.rfind("bewit=", 0, index + 5)
    return resource, None


def parse_bewit(value: str) -> Bewit:
    """Decode a bewit value (``lib/server.js`` ``authenticateBewit``), strictly.

    The value is bounded (:data:`MAX_BEWIT_LENGTH`) URL-safe base64 (up to
    two ``=`` of padding tolerated) of ASCII ``id\\exp\\mac\\ext``: exactly
    four parts, ``id`` non-empty attribute text, ``exp`` a timestamp like a
    header's ``ts``, ``mac`` a base64 SHA-1/SHA-256 digest, ``ext`` attribute
    text or empty. Anything else raises :class:`HawkParseError`.
    """
    if not isinstance(value, str) or not value:
        raise HawkParseError("empty bewit")
    if len(value) > MAX_BEWIT_LENGTH:
        raise HawkParseError("bewit too long")
    try:
        # Any spelling of the last character: nothing is keyed on a bewit's
        # text (the MAC covers its decoded fields), as with the reference.
        text = _b64.b64url_decode(value, padded=True, canonical=False).decode("ascii")
    except ValueError:  # UnicodeDecodeError is a ValueError
        raise HawkParseError("invalid bewit encoding") from None
    parts = text.split("\\")
    if len(parts) != 4:
        raise HawkParseError("invalid bewit structure")
    id_, exp, mac, ext = parts
    if _VALUE_RE.fullmatch(id_) is None:
        raise HawkParseError("invalid bewit id")
    if _TS_RE.fullmatch(exp) is None:
        raise HawkParseError("invalid bewit expiry")
    if _DIGEST_B64_RE.fullmatch(mac) is None:
        raise HawkParseError("invalid bewit mac")
    if ext and _VALUE_RE.fullmatch(ext) is None:
        raise HawkParseError("invalid bewit ext")
    return Bewit(id_, int(exp), mac, ext)


def verify_bewit(
    bewit: Bewit,
    *,
    key: bytes | str,
    algorithm: str,
    method: str,
    resource: str,
    host: str,
    port: int | str,
    now: float,
    allowed_algorithms: Collection[str] = DEFAULT_ALLOWED_ALGORITHMS,
) -> None:
    """Verify a parsed bewit for a request; return ``None`` or raise.

    ``resource`` is the request target *with the bewit stripped*
    (:func:`strip_bewit`). Order: the method must be GET or HEAD
    (:class:`HawkBewitMethodError`); the algorithm allowed
    (:class:`HawkAlgorithmError`); the MAC, computed with method ``GET`` and
    an empty nonce, must match (:class:`HawkMACError`); then the bewit must
    not have expired, i.e. ``exp > now`` (:class:`HawkBewitExpired`;
    ``authenticateBewit`` refuses ``exp * 1000 <= now``). Bewits have no
    nonce and may be replayed until they expire (README "Bewit Limitations").
    """
    if method != "GET" and method != "HEAD":
        raise HawkBewitMethodError("bewits only authorize GET and HEAD")
    expected = calculate_mac(
        key,
        algorithm,
        _normalized(
            _KIND_PREFIX["bewit"], bewit.exp, "", "GET", resource, host, port, None, bewit.ext, None, None
        ),
        allowed_algorithms=allowed_algorithms,
    )
    if not verify_mac(expected, bewit.mac):
        raise HawkMACError("bewit MAC mismatch")
    if bewit.exp <= now:
        raise HawkBewitExpired("bewit expired")
