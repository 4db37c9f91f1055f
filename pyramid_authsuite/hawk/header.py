"""The ``Authorization: Hawk`` header: its grammar, the general parser and its fast twins.

Follows ``lib/utils.js`` ``parseAuthorizationHeader`` of the reference
implementation (hapijs/hawk) and is stricter where it is lax (see
:func:`parse_authorization`).

Two parsers give the same answers, side by side so that they change
together (``tests/hawk/test_header.py`` holds them to it, with generated
headers):

* :func:`_parse_general` -- any layout the grammar allows: attributes in any
  order, blanks around the commas, any case of the scheme;
* :func:`_parse_fast` -- the two layouts the common clients send, each
  matched by one anchored expression with every check of the general parser
  built in; it returns ``None`` (declines) for anything else, never a
  different answer.

:func:`parse_authorization` tries the fast one, then the general one. The
attribute value grammar (:data:`_VALUE_RE`, :data:`_TS_RE`,
:data:`_DIGEST_B64_RE`) is also what bewits and the headers we write are
checked against. No Pyramid or WebOb imports.

This is the server's hot path: the regular expressions are compiled once, are
anchored and have no nested quantifiers over overlapping character sets (so
no catastrophic backtracking), and every input is bounded before it is
scanned.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from pyramid_authsuite.hawk.errors import HawkParseError, HawkSchemeError

__all__ = ["MAX_HEADER_LENGTH", "HawkAuthorization", "is_hawk", "parse_authorization"]

#: An Authorization header longer than this is refused before it is scanned
#: (the same bound as the reference ``Utils.limits.maxMatchLength``).
MAX_HEADER_LENGTH = 4096

_ATTRIBUTE_NAMES = frozenset({"id", "ts", "nonce", "hash", "ext", "mac", "app", "dlg"})
# The attribute value alphabet of ``parseAuthorizationHeader``: printable
# ASCII less '"' and '\' -- i.e. space, !, #..[ and ]..~ as ranges.
_VALUE = r'[ !#-\[\]-~]'
# A whole attribute list, validated in one C-level pass: `name="value"`
# separated by commas with optional SP/HTAB around them, optional trailing
# SP/HTAB. At most 8 attributes exist, so the repetition is bounded too.
# Each repetition ends in a literal ',' that a value cannot contain
# unquoted, so the engine backtracks at most once per attribute.
_HEADER_RE = re.compile(
    rf'[ \t]*(?:[a-z]+="{_VALUE}*"[ \t]*,[ \t]*){{0,7}}[a-z]+="{_VALUE}*"[ \t]*'
)
# Once _HEADER_RE has validated the layout, this extracts the pairs in order;
# values contain no '"', so matches cannot straddle two attributes.
_PAIR_RE = re.compile(r'([a-z]+)="([^"]*)"')
_VALUE_RE = re.compile(rf"{_VALUE}+")
# The layouts the common clients send, matched in one pass with every check of
# the general path built in (known names, each once, non-empty values from
# the alphabet, ts and digests well-formed, dlg only after app): each accepts
# a subset of what the general path accepts, and the same attributes, so it
# only saves time. mohawk and requests-hawk send
# ``mac, [hash], id, ts, nonce, [ext], [app, [dlg]]``; the reference
# (hawk.js) and our client send ``id, ts, nonce, [hash], [ext], mac, [app, [dlg]]``.
_FAST_DIGEST = r"(?:[A-Za-z0-9+/]{27}=|[A-Za-z0-9+/]{43}=)"
_FAST_TS = r"(?:0|[1-9][0-9]{0,9})"
_FAST_TAIL = rf'(?:, ext="({_VALUE}+)")?'
_FAST_APP = rf'(?:, app="({_VALUE}+)"(?:, dlg="({_VALUE}+)")?)?'
_MOHAWK_LAYOUT_RE = re.compile(
    rf'Hawk mac="({_FAST_DIGEST})"(?:, hash="({_FAST_DIGEST})")?, id="({_VALUE}+)", ts="({_FAST_TS})", '
    rf'nonce="({_VALUE}+)"{_FAST_TAIL}{_FAST_APP}'
)
_REFERENCE_LAYOUT_RE = re.compile(
    rf'Hawk id="({_VALUE}+)", ts="({_FAST_TS})", nonce="({_VALUE}+)"(?:, hash="({_FAST_DIGEST})")?'
    rf'{_FAST_TAIL}, mac="({_FAST_DIGEST})"{_FAST_APP}'
)
# Seconds since the epoch: no sign, no leading zero (so that str(int(ts)) is
# the text the client MACed), at most 10 digits (until year 2286).
_TS_RE = re.compile(r"0|[1-9][0-9]{0,9}")
_MAX_TS = 9_999_999_999
# Standard base64 of a 20-byte (SHA-1) or 32-byte (SHA-256) digest.
_DIGEST_B64_RE = re.compile(r"[A-Za-z0-9+/]{27}=|[A-Za-z0-9+/]{43}=")


class HawkAuthorization(NamedTuple):
    """The attributes of a parsed ``Authorization: Hawk`` header."""

    id: str
    ts: int
    nonce: str
    mac: str
    hash: str | None = None
    ext: str | None = None
    app: str | None = None
    dlg: str | None = None

    def __repr__(self) -> str:
        # Keep the MAC out of logs and tracebacks.
        return (
            f"HawkAuthorization(id={self.id!r}, ts={self.ts}, nonce={self.nonce!r}, "
            f"mac=<redacted>, hash={self.hash!r}, ext={self.ext!r}, app={self.app!r}, "
            f"dlg={self.dlg!r})"
        )


# tuple.__new__ on the NamedTuple class: what its generated __new__ does, minus a call.
_new_authorization = tuple.__new__


def is_hawk(header: str | None) -> bool:
    """Whether the header names the Hawk scheme (case-insensitive token)."""
    return header is not None and header[:5].split(" ", 1)[0].lower() == "hawk"


def parse_authorization(header: str) -> HawkAuthorization:
    """Parse ``Hawk id="...", ts="...", nonce="...", ..., mac="..."``.

    Follows ``lib/utils.js`` ``parseAuthorizationHeader`` and is stricter
    where it is lax: the header is bounded (:data:`MAX_HEADER_LENGTH`) and
    ASCII; the scheme is ``Hawk`` (any case) and a space; attributes are
    ``id ts nonce hash ext mac app dlg``, each at most once, non-empty, in
    quotes, with values from the spec's alphabet (printable ASCII but ``"``
    and ``\\``) and separated by commas with optional blanks; ``id``, ``ts``,
    ``nonce`` and ``mac`` are required (``lib/server.js`` "Missing
    attributes"); ``ts`` is 1-10 digits without leading zero; ``mac`` and
    ``hash`` are standard base64 of a SHA-1 or SHA-256 digest; ``dlg``
    requires ``app`` (without ``app``, ``generateNormalizedString`` leaves
    ``dlg`` out of the MAC, so it would be unauthenticated). A trailing comma,
    which the reference tolerates, is refused like any other garbage.

    Every problem raises :class:`HawkParseError` with a message that echoes
    nothing from the header.
    """
    auth = _parse_fast(header)
    return auth if auth is not None else _parse_general(header)


def _parse_fast(header: str) -> HawkAuthorization | None:
    """What :func:`_parse_general` returns for ``header``, when it has a fast layout; else ``None``.

    ``header``
        Anything: a value that is not a ``str`` of at most
        :data:`MAX_HEADER_LENGTH` characters, or not in one of the two
        layouts, is declined (``None``), never refused: refusing is the
        general parser's job, and this one never raises.

    The layouts are the two the common clients send (see
    ``_MOHAWK_LAYOUT_RE`` and ``_REFERENCE_LAYOUT_RE``): one fullmatch, the
    groups already checked, no dictionary.
    """
    if type(header) is not str or len(header) > MAX_HEADER_LENGTH:
        return None
    match = _MOHAWK_LAYOUT_RE.fullmatch(header)
    if match is not None:
        mac, hash_, id_, ts, nonce, ext, app, dlg = match.groups()
        return _new_authorization(HawkAuthorization, (id_, int(ts), nonce, mac, hash_, ext, app, dlg))
    match = _REFERENCE_LAYOUT_RE.fullmatch(header)
    if match is not None:
        id_, ts, nonce, hash_, ext, mac, app, dlg = match.groups()
        return _new_authorization(HawkAuthorization, (id_, int(ts), nonce, mac, hash_, ext, app, dlg))
    return None


def _parse_general(header: str) -> HawkAuthorization:
    """:func:`parse_authorization` for any layout the grammar allows, one check at a time.

    ``header``
        The ``Authorization`` value; anything else than a ``str`` is refused.

    Validates the whole attribute list with one anchored expression, then
    reads the pairs in order and checks names, duplicates, empty values
    and the typed attributes (:func:`_build_authorization`).
    """
    if not isinstance(header, str):
        raise HawkParseError("Authorization header is not text")
    if len(header) > MAX_HEADER_LENGTH:
        raise HawkParseError("Authorization header too long")
    if not header.isascii():
        # Checked before the scheme: str.lower() folds some non-ASCII
        # letters (KELVIN SIGN) onto ASCII ones.
        raise HawkParseError("Authorization header contains non-ASCII characters")
    after_scheme = header[4:5]
    if header[:4].lower() != "hawk" or after_scheme not in ("", " ", "\t"):
        # "Hawkish ..." is some other scheme.
        raise HawkSchemeError("not a Hawk Authorization header")
    if after_scheme != " ":
        # RFC 7235 section 2.1: exactly SP between the scheme and its parameters.
        if not after_scheme:
            raise HawkParseError("Hawk header without attributes")
        raise HawkParseError("malformed Hawk header")
    if _HEADER_RE.fullmatch(header, 5) is None:
        raise HawkParseError("malformed Hawk header")
    attributes: dict[str, str] = {}
    for name, value in _PAIR_RE.findall(header, 5):
        if name not in _ATTRIBUTE_NAMES:
            raise HawkParseError("unknown Hawk attribute")
        if name in attributes:
            raise HawkParseError("duplicate Hawk attribute")
        if not value:
            raise HawkParseError("empty Hawk attribute")
        attributes[name] = value
    return _build_authorization(attributes)


def _build_authorization(attributes: dict[str, str]) -> HawkAuthorization:
    """Check the required and typed attributes of a parsed header."""
    get = attributes.get
    id_, ts, nonce, mac = get("id"), get("ts"), get("nonce"), get("mac")
    if id_ is None or ts is None or nonce is None or mac is None:
        raise HawkParseError("missing required Hawk attribute (id, ts, nonce, mac)")
    if _TS_RE.fullmatch(ts) is None:
        raise HawkParseError("Hawk ts is not a timestamp in seconds")
    if _DIGEST_B64_RE.fullmatch(mac) is None:
        raise HawkParseError("Hawk mac is not a base64 digest")
    hash_ = get("hash")
    if hash_ is not None and _DIGEST_B64_RE.fullmatch(hash_) is None:
        raise HawkParseError("Hawk hash is not a base64 digest")
    app, dlg = get("app"), get("dlg")
    if dlg is not None and app is None:
        raise HawkParseError("Hawk dlg without app")
    return HawkAuthorization(id_, int(ts), nonce, mac, hash_, get("ext"), app, dlg)

