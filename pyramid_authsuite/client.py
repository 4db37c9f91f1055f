"""The HTTP plumbing every scheme's client shares.

Written once here, used by :mod:`pyramid_authsuite.hawk.client`,
:mod:`pyramid_authsuite.challenge.client`, :mod:`pyramid_authsuite.hmac.client`
and the admin clients (and any client to come). It imports no scheme and no
Pyramid: the standard library and ``requests`` only (the ``client`` extra).
The response readers (:func:`read_problem`, :func:`response_challenges`,
:func:`header_values`) take a ``requests`` or an ``httpx`` response alike::

    from pyramid_authsuite.client import UTF8BasicAuth, read_problem, response_challenges

    response = requests.get(url, auth=UTF8BasicAuth("zoë", "pässword"), timeout=10)
    if response.status_code == 401:
        for challenge in response_challenges(response):
            print(challenge.scheme, challenge.params, challenge.token68)
        print(read_problem(response))

What is here:

* :func:`parse_challenges`: a ``WWW-Authenticate`` (or ``Server-Authorization``)
  value as challenges, RFC 9110 section 11.6.1; :func:`response_challenges`
  for every such header field of a response;
* :func:`read_problem`: the RFC 9457 problem document of a response, and
  :class:`ServerRefusedError`, what a client raises when the server refused;
* :class:`UTF8BasicAuth`: RFC 7617 Basic credentials encoded as UTF-8 (the
  ``charset="UTF-8"`` our server announces; ``requests``' own ``HTTPBasicAuth``
  encodes ``str`` as Latin-1);
* :class:`NoAuth`, and :func:`request_body` for auth classes that sign the body.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Union

import requests
from requests.auth import AuthBase

from pyramid_authsuite._b64 import basic_credentials

if TYPE_CHECKING:
    import httpx

#: What the response readers take: both clients' responses have ``headers``
#: (case-insensitive), ``json()`` and ``status_code``.
AnyResponse = Union[requests.Response, "httpx.Response"]

__all__ = [
    "MAX_HEADER_LENGTH",
    "AnyResponse",
    "PROBLEM_TYPE_PREFIX",
    "Challenge",
    "NoAuth",
    "Problem",
    "ServerRefusedError",
    "UTF8BasicAuth",
    "basic_authorization",
    "header_values",
    "parse_challenges",
    "read_problem",
    "request_body",
    "response_challenges",
]

#: A header value longer than this is refused before parsing (as the server
#: bounds what it reads: 4096 for Basic and Hawk).
MAX_HEADER_LENGTH = 4096
#: The start of the ``type`` of every problem document the package serves
#: (``pyramid_authsuite.security.PROBLEM_TYPE_PREFIX``, a test holds them
#: equal): the rest is the refusal code. Repeated here so that a client
#: imports no Pyramid.
PROBLEM_TYPE_PREFIX = "tag:pyramid-authsuite,2026:"

# RFC 9110 5.6.2 token; 11.2 token68; 5.6.4 quoted-string (qdtext and
# quoted-pair; header text arrives as Latin-1, so obs-text is 0x80-0xFF).
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TOKEN68_RE = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_QUOTED_RE = re.compile(r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x20-\x7e\x80-\xff])*)"')
_QUOTED_PAIR_RE = re.compile(r"\\(.)")
_OWS = " \t"
_PROBLEM_CONTENT_TYPES = ("application/problem+json", "application/json")


# --------------------------------------------------------------------------
# WWW-Authenticate (RFC 9110 11.6.1)
# --------------------------------------------------------------------------


class Challenge(tuple):
    """One challenge: ``scheme``, ``params`` and ``token68``.

    A pair ``(scheme, params)`` (it compares equal to one, and unpacks as
    one), with the ``token68`` credential as an attribute: RFC 9110 11.1 gives
    a challenge either a token68 or auth-params, never both. ``scheme`` is as
    sent (compare it case-insensitively); param names are lower-cased (they
    are case-insensitive), values unquoted.
    """

    scheme: str = property(itemgetter(0))  # type: ignore[assignment]
    params: dict[str, str] = property(itemgetter(1))  # type: ignore[assignment]

    def __new__(cls, scheme: str, params: dict[str, str] | None = None, token68: str | None = None) -> "Challenge":
        challenge = super().__new__(cls, (scheme, {} if params is None else params))
        challenge.token68 = token68
        return challenge

    def __repr__(self) -> str:
        extra = f", token68={self.token68!r}" if self.token68 is not None else ""
        return f"Challenge({self.scheme!r}, {self.params!r}{extra})"


def _skip(value: str, position: int, characters: str) -> int:
    end = len(value)
    while position < end and value[position] in characters:
        position += 1
    return position


def _auth_param(value: str, name: str, position: int, params: dict[str, str]) -> int:
    """Read the value of ``name=`` at ``position`` into ``params``; where the element ends."""
    position = _skip(value, position, _OWS)  # BWS after "="
    quoted = _QUOTED_RE.match(value, position)
    if quoted is not None:
        param, position = _QUOTED_PAIR_RE.sub(r"\1", quoted.group(1)), quoted.end()
    else:
        plain = _TOKEN_RE.match(value, position)
        if plain is None:
            raise ValueError("malformed challenge parameter")
        param, position = plain.group(), plain.end()
    name = name.lower()
    if name in params:
        # Ambiguous (which realm?): RFC 9110 11.2 says each name appears once.
        raise ValueError("duplicate challenge parameter")
    params[name] = param
    position = _skip(value, position, _OWS)
    if position < len(value) and value[position] != ",":
        raise ValueError("challenge parameters must be separated by commas")
    return position


def parse_challenges(value: str) -> list[Challenge]:
    """The challenges of one ``WWW-Authenticate`` value (RFC 9110 section 11.6.1).

    Arguments:

    ``value``
        The header value: ``#challenge``, where ``challenge = auth-scheme
        [ 1*SP ( token68 / #auth-param ) ]``. Several challenges may share a
        value (as they do when ``requests`` folds several header fields with
        ``", "``); empty list elements are skipped.

    Returns a list of :class:`Challenge`. Raises ``ValueError`` (naming no
    part of the value) for a value over :data:`MAX_HEADER_LENGTH` characters,
    an auth-param with no challenge before it or after a token68, a bad
    token or quoted-string, a missing comma, or a param given twice in one
    challenge. Linear in the length of the value.
    """
    if len(value) > MAX_HEADER_LENGTH:
        raise ValueError("header too long")
    challenges: list[Challenge] = []
    current: Challenge | None = None
    position, end = 0, len(value)
    while True:
        position = _skip(value, position, _OWS + ",")
        if position >= end:
            return challenges
        token = _TOKEN_RE.match(value, position)
        if token is None:
            raise ValueError("malformed challenge")
        after = _skip(value, token.end(), _OWS)
        if after < end and value[after] == "=":
            # "name=value" after a comma: one more param of the current challenge.
            if current is None or current.token68 is not None:
                raise ValueError("challenge parameter outside a challenge")
            position = _auth_param(value, token.group(), after + 1, current.params)
            continue
        current = Challenge(token.group())
        challenges.append(current)
        if after >= end or value[after] == ",":
            position = after  # a scheme alone
            continue
        if after == token.end():
            raise ValueError("malformed challenge")  # "Scheme" glued to something
        # After "Scheme SP": a token68, or the challenge's first param.
        token68 = _TOKEN68_RE.match(value, after)
        if token68 is not None:
            rest = _skip(value, token68.end(), _OWS)
            if rest >= end or value[rest] == ",":
                current.token68 = token68.group()
                position = rest
                continue
        name = _TOKEN_RE.match(value, after)
        equals = _skip(value, name.end(), _OWS) if name is not None else end
        if name is None or equals >= end or value[equals] != "=":
            raise ValueError("malformed challenge")
        position = _auth_param(value, name.group(), equals + 1, current.params)


def header_values(response: AnyResponse, name: str) -> list[str]:
    """Each field value of header ``name`` in ``response``, as received.

    Arguments: ``response`` (``requests`` or ``httpx``), and the header
    ``name``. urllib3 and httpx keep repeated fields apart (a comma inside a
    quoted-string then cannot be mistaken for a separator); a ``requests``
    response built by hand has only ``response.headers``, whose value is used
    as it is.
    """
    # httpx: Headers.get_list keeps each field (its .get joins them with ", ").
    get_list = getattr(response.headers, "get_list", None)
    if get_list is not None:
        return [str(value) for value in get_list(name)]
    raw_headers = getattr(getattr(response, "raw", None), "headers", None)
    getlist = getattr(raw_headers, "getlist", None)
    if getlist is not None:
        values = getlist(name)
        if values:
            return [str(value) for value in values]
    value = response.headers.get(name)
    return [value] if value is not None else []


def response_challenges(response: AnyResponse, header: str = "WWW-Authenticate") -> list[Challenge]:
    """Every challenge of every ``header`` field of ``response``, in order.

    Arguments: ``response`` (``requests`` or ``httpx``), and ``header``
    (``WWW-Authenticate`` by default;
    ``Proxy-Authenticate`` has the same syntax). A malformed field is skipped
    whole (a client then acts on the challenges it can read, as it would if
    that field were absent); its neighbours still count.
    """
    challenges: list[Challenge] = []
    for value in header_values(response, header):
        try:
            challenges.extend(parse_challenges(value))
        except ValueError:
            continue
    return challenges


# --------------------------------------------------------------------------
# problem+json (RFC 9457)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem document (section 3.1's members; a member of the wrong type is ``None``).

    ``code`` is the package's refusal code (``invalid_credentials``,
    ``rate_limited``, ...), read from a ``type`` that starts with
    :data:`PROBLEM_TYPE_PREFIX`; ``None`` for another server's type.
    ``document`` is the whole JSON object, extension members included.
    """

    type: str | None
    title: str | None
    status: int | None
    detail: str | None
    code: str | None
    document: dict[str, Any]


def read_problem(response: AnyResponse) -> Problem | None:
    """The problem document ``response`` carries, or ``None``.

    Arguments: ``response`` (``requests`` or ``httpx``; its body read). Read when the ``Content-Type`` is
    ``application/problem+json`` (or ``application/json``, which some
    proxies and older servers send) and the body is a JSON object; anything
    else (HTML from a proxy, an empty body, a JSON list, bytes that are not
    JSON) is ``None``, never an exception.
    """
    content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if content_type not in _PROBLEM_CONTENT_TYPES:
        return None
    try:
        document = response.json()
    except ValueError:  # requests' and json's JSONDecodeError, and bad UTF-8
        return None
    if not isinstance(document, dict):
        return None

    def text(member: str) -> str | None:
        found = document.get(member)
        return found if isinstance(found, str) else None

    type_ = text("type")
    status = document.get("status")
    code = None
    if type_ is not None and type_.startswith(PROBLEM_TYPE_PREFIX):
        code = type_[len(PROBLEM_TYPE_PREFIX):] or None
    return Problem(
        type=type_,
        title=text("title"),
        # bool is an int in Python, never a status.
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        detail=text("detail"),
        code=code,
        document=document,
    )


class ServerRefusedError(requests.HTTPError):
    """The server refused what a client asked (an unexpected status), or answered nonsense.

    Arguments: ``message``, and ``response`` when there is one. Attributes:
    ``status_code`` (``None`` without a response), ``problem`` (the problem
    document as a ``dict`` when the server sent one, else ``None``), ``code``
    (the package's refusal code from its ``type``, or ``None``) and
    ``detail`` (the problem's ``detail``, else its ``title``, else the
    reason phrase). With a response, the message ends ``: HTTP <status>:
    <detail>``. A ``requests.HTTPError``, so ``except requests.RequestException``
    catches it too.
    """

    def __init__(self, message: str, *, response: requests.Response | None = None):
        problem = read_problem(response) if response is not None else None
        self.status_code: int | None = response.status_code if response is not None else None
        self.problem: dict[str, Any] | None = problem.document if problem is not None else None
        self.code: str | None = problem.code if problem is not None else None
        detail = (problem.detail or problem.title) if problem is not None else None
        self.detail: str = str(detail or (response.reason if response is not None else "") or "")
        if response is not None:
            message = f"{message}: HTTP {self.status_code}: {self.detail}"
        super().__init__(message, response=response)


# --------------------------------------------------------------------------
# Auth classes
# --------------------------------------------------------------------------


def basic_authorization(userid: str, password: str) -> str:
    """``Basic <base64(userid:password)>`` with the credentials as UTF-8 (RFC 7617 section 2.1).

    Arguments: ``userid`` (no ``:``: it could not be told from the password,
    RFC 7617 section 2; ``ValueError``) and ``password``.
    """
    if ":" in userid:
        raise ValueError("a Basic user-id cannot contain ':' (RFC 7617)")
    return basic_credentials(userid, password)


class UTF8BasicAuth(AuthBase):
    """``auth=UTF8BasicAuth(userid, password)``: Basic credentials as UTF-8 (RFC 7617, ``charset="UTF-8"``).

    Arguments: ``userid`` and ``password``, as :func:`basic_authorization`
    takes them (checked here, so a bad user-id fails before any request).
    ``requests``' ``HTTPBasicAuth`` encodes ``str`` credentials as Latin-1,
    which our server (and RFC 7617's ``charset``) reads as UTF-8: a
    non-ASCII password would never match. Given as a request's ``auth``, it
    also overrides the session's ``auth`` and ``.netrc``.
    """

    def __init__(self, userid: str, password: str):
        self._header = basic_authorization(userid, password)

    def __repr__(self) -> str:
        return "UTF8BasicAuth(...)"  # never the credentials

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers["Authorization"] = self._header
        return prepared


class NoAuth(AuthBase):
    """``auth=NoAuth()``: send a request without credentials.

    Whatever the session's ``auth`` or a ``.netrc`` say (``requests`` only
    skips ``.netrc`` when given an auth): for the calls that fetch
    credentials, which must not carry the ones being made.
    """

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers.pop("Authorization", None)
        return prepared


def request_body(prepared: requests.PreparedRequest, signer: str, covered_by: str) -> bytes:
    """The body about to be sent, as bytes; a ``str`` body is re-encoded in place.

    Arguments: ``prepared``, the request; ``signer`` and ``covered_by``, for
    the error message (``"HawkSessionAuth"``, ``"the Hawk payload hash"``).

    A signature over the body must cover exactly the bytes on the wire.
    urllib3 2 sends a ``str`` body as UTF-8 but urllib3 1 (http.client) as
    Latin-1, so the body is made UTF-8 bytes here and ``Content-Length``
    follows. Raises ``TypeError`` for a file or a generator: the whole body
    must be known before sending.
    """
    body = prepared.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        encoded = body.encode("utf-8")
    elif isinstance(body, (bytearray, memoryview)):
        encoded = bytes(body)
    else:
        raise TypeError(
            f"{signer} cannot sign a {type(body).__name__} body: {covered_by} "
            "covers the whole body, which must be known before sending. Pass bytes or str "
            "(read the file or join the generator first)."
        )
    prepared.body = encoded
    if "Content-Length" in prepared.headers:
        prepared.headers["Content-Length"] = str(len(encoded))
    return encoded
