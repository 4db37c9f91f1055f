"""Message components (RFC 9421 section 2): the values a signature covers, read from a request.

Two implementations of one small interface, side by side (``header(name)``,
``body``, ``has_query()``, ``open()`` and ``value(component)``):

* the general view, :class:`_ViewMessage`: any request, through
  :func:`request_view` (a :class:`RequestView` rebuilt from WebOb's public
  attributes) and the ``http-message-signatures`` library's
  ``HTTPSignatureComponentResolver``, which implements the HTTP fields of
  section 2.1 (with the ``sf``, ``key``, ``bs``, ``req`` and ``tr``
  parameters) and the derived components of section 2.2;
* the environ fast view, :class:`_EnvironMessage`: a plain WebOb request
  whose URL parts are in the shapes WSGI servers hand us; it reads the
  environ once and computes ``@method``, ``@authority``, ``@target-uri``,
  ``@path``, ``@query``, ``@scheme``, ``@request-target`` and plain fields
  with the library's formulas, and hands anything else to a library
  resolver.  :func:`_environ_message` declines (returns None) whatever it
  is not sure of, and the general view answers.

The two must give the same values, errors included:
``tests/hmac/test_components.py`` holds them to it, over hand-picked tables
and generated requests.  The URL is rebuilt from WebOb (``wsgi.url_scheme``,
the ``Host`` header validated as a bare ``host[:port]``, ``request.path``
and the raw ``QUERY_STRING``), so a forged ``Host`` cannot move characters
into the path or the query.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from http_message_signatures import HTTPMessageSignaturesException, HTTPSignatureComponentResolver
from http_message_signatures.structures import normalize_header_value
from http_sf.compat import Item
from webob.request import BaseRequest as _WebObRequest

from pyramid_authsuite.hmac.errors import BadSignature, MalformedRequest
from pyramid_authsuite.hmac.model import Component, RequestView

__all__ = ["request_view"]

# host[:port] only: reg-name letters, an IPv4 address or a bracketed IPv6
# literal, then an optional decimal port.  No "/", "?", "#", "@" or "%".
_HOST_RE = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


class _FieldLines:
    """The header interface the library's component resolver reads (``items()``)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        self._pairs = pairs

    def items(self) -> Iterable[tuple[str, str]]:
        return iter(self._pairs)

    def __iter__(self):
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(key.lower() == name.lower() for key, _ in self._pairs)


@dataclass
class _Message:
    """A request as the library's ``HTTPSignatureComponentResolver`` expects it."""

    method: str
    url: str
    headers: Any


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------


def request_view(request: Any) -> RequestView:
    """Build a :class:`RequestView` from a WebOb ``Request``.

    The authority is the ``Host`` header (RFC 9421 section 2.2.3; WebOb falls
    back to ``SERVER_NAME:SERVER_PORT``), checked to be a bare ``host[:port]``
    so that it cannot smuggle a path or a query into the rebuilt URL.
    """
    if isinstance(request, RequestView):
        return request
    host = request.host
    if not _HOST_RE.fullmatch(host or ""):
        raise MalformedRequest("the Host header is not a valid host[:port]")
    scheme = request.scheme
    query = request.query_string
    url = f"{scheme}://{_normalise_authority(scheme, host)}{request.path}" + (f"?{query}" if query else "")
    return RequestView(request.method, url, _environ_headers(request.environ), request.body)


# The two headers PEP 3333 stores without the HTTP_ prefix.
_CGI_HEADERS = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def _environ_headers(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The request headers from a WSGI environ (PEP 3333), as ``request.headers`` has them.

    Read directly because WebOb's ``EnvironHeaders`` translates every environ
    key on each access, which was a fifth of the verification time.  Names
    come out lowercase with ``-``; header names are case-insensitive.
    """
    pairs = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            pairs.append((key[5:].replace("_", "-").lower(), value))
        elif key in _CGI_HEADERS and value:
            pairs.append((_CGI_HEADERS[key], value))
    return pairs


def _normalise_authority(scheme: str, host: str) -> str:
    """RFC 3986 sections 6.2.2.1 and 6.2.3: lowercase host, no default port.

    Clients (urllib3) send ``Host`` without the default port and sign the
    URL as they were given it, usually without it too; WSGI servers and
    ``webob.Request.blank`` may add it back.  The library applies the same
    rule to ``@authority`` (RFC 9421 section 2.2.3); doing it here keeps
    ``@target-uri`` consistent with it.
    """
    host = host.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return host


# What verification reads from a request, in two implementations.  Both have
# ``header(lowercase_name)``, ``body``, ``has_query()``, ``open()`` (called
# where the library's resolver used to be built; raises MalformedRequest as
# its constructor did) and ``value(component)`` (a covered value, unchecked;
# ``_base`` checks it).
#
# * ``_ViewMessage``: any request, through :func:`request_view` and the
#   library's ``HTTPSignatureComponentResolver``, exactly as before.
# * ``_EnvironMessage``: the fast path, for a WebOb request whose URL parts
#   are in the plain shapes below (which cover what WSGI servers hand us): it
#   reads the environ once into ``{lowercase name: [values]}`` and computes the
#   common components itself with the library's formulas
#   (``tests/hmac/test_components.py`` checks them against the library); any
#   other component goes to a library resolver built on first use.

# Character sets of the plain shapes, checked with ``not text.strip(chars)``
# (true when every character of ``text`` is in ``chars``).
_ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# Percent-encoding leaves these alone (``urllib.parse.quote``'s always-safe
# characters plus WebOb's PATH_SAFE), so WebOb's ``request.path`` of a
# SCRIPT_NAME + PATH_INFO of them is the same string; all are valid in a URL path.
_PATH_CHARS = _ALPHANUMERIC + "_.~-/!$&'()*+,;=:@"
# RFC 3986 query characters but "%", which the library's URL grammar accepts as they are.
_QUERY_CHARS = _ALPHANUMERIC + "._~-!$&'()*+,;=:@/?"
# The same with percent-encoded octets, for a query that has some.
_FAST_QUERY_RE = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*")
# A reg-name host (the non-IPv6 part of _HOST_RE) and a port of 1 to 5 digits.
_HOST_NAME_CHARS = _ALPHANUMERIC + "._~-"
_DIGITS = "0123456789"
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_MALFORMED_URL = "the request method or URL cannot be canonicalised"
_UNRESOLVABLE = "a covered component is absent from the request or invalid"

# The environ's keys, in order -> (key, header name, CGI key?) for its header
# keys, as _environ_headers reads them; a memo, since a server sends the same
# few key sets again and again.  Bounded: cleared when full.
_PLANS: dict[tuple, tuple[tuple[str, str, bool], ...] | None] = {}
_PLANS_LIMIT = 256


def _plan(keys: tuple) -> tuple[tuple[str, str, bool], ...] | None:
    """The header keys among ``keys``; None if a key is not an ASCII str (left to the general path)."""
    plan = []
    for key in keys:
        if key.__class__ is not str or not key.isascii():
            return None
        if key.startswith("HTTP_"):
            plan.append((key, key[5:].replace("_", "-").lower(), False))
        elif key in _CGI_HEADERS:
            plan.append((key, _CGI_HEADERS[key], True))
    return tuple(plan)


def _environ_fields(environ: dict) -> dict[str, list[str]] | None:
    """``_environ_headers`` grouped by name, values in the same order; None if a key or value is unusual."""
    keys = tuple(environ)
    plan = _PLANS.get(keys, False)
    if plan is False:
        plan = _plan(keys)
        if len(_PLANS) >= _PLANS_LIMIT:
            _PLANS.clear()
        _PLANS[keys] = plan
    if plan is None:
        return None
    fields: dict[str, list[str]] = {}
    for key, name, cgi in plan:
        value = environ[key]
        if cgi and not value:
            continue
        if value.__class__ is not str:
            return None
        values = fields.get(name)
        if values is None:
            fields[name] = [value]
        else:
            values.append(value)
    return fields


class _ViewMessage:
    """Any request: a :class:`RequestView` and the library's resolver for every value."""

    __slots__ = ("view", "body", "_resolver")

    def __init__(self, view: RequestView):
        self.view = view
        self.body = view.body
        self._resolver: HTTPSignatureComponentResolver | None = None

    def header(self, name: str) -> str | None:
        return self.view.header(name)

    def has_query(self) -> bool:
        try:
            return bool(urlsplit(self.view.url).query)
        except ValueError:  # e.g. an invalid IPv6 literal in Host, which the library refuses too
            raise MalformedRequest(_MALFORMED_URL) from None

    def open(self) -> None:
        self._resolver = _resolver(self.view)

    def value(self, component: Component) -> Any:
        return _library_value(self._resolver, component)


class _EnvironMessage:
    """A WebOb request in the common shape; the URL parts are those the library would parse.

    ``scheme`` is ``http`` or ``https``; ``host`` is lowercase and ``port``
    None or digits (without the scheme's default port, as
    :func:`_normalise_authority` leaves it); ``path`` is empty or starts with
    ``/``; ``query`` is None when the query string is empty.
    """

    __slots__ = ("method", "body", "fields", "scheme", "host", "port", "path", "query", "_library")

    def header(self, name: str) -> str | None:
        values = self.fields.get(name)
        if values is None:
            return None
        return values[0] if len(values) == 1 else ", ".join(values)

    def has_query(self) -> bool:
        return self.query is not None

    def open(self) -> None:
        # What the library's constructor checks that the fast path has not.
        method = self.method
        if not isinstance(method, str) or method != method.upper():
            raise MalformedRequest(_MALFORMED_URL)

    def value(self, component: Component) -> Any:
        name = component.name
        if component.params or name.__class__ is not str:
            return self._library_value(component)
        if name[:1] == "@":
            derived = _FAST_DERIVED.get(name)
            return self._library_value(component) if derived is None else derived(self)
        # RFC 9421 section 2.1: a field's lines, each trimmed (obs-fold
        # unfolded), joined with ", " (the library's HTTPSignatureComponentResolver.resolve).
        values = self.fields.get(name.lower())
        if values is None:
            raise BadSignature(_UNRESOLVABLE)
        if len(values) == 1:
            return normalize_header_value(values[0])
        if name == "set-cookie":
            raise BadSignature(_UNRESOLVABLE)
        return ", ".join([normalize_header_value(value) for value in values])

    # RFC 9421 section 2.2, as the library's get_* methods compute them.
    def _authority_as_sent(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def _query_suffix(self) -> str:
        return "" if self.query is None else "?" + self.query

    def _method(self) -> str:
        return self.method

    def _scheme(self) -> str:
        return self.scheme

    def _authority(self) -> str:
        port = self.port
        if port and port.lstrip("0") == _DEFAULT_PORTS[self.scheme]:
            return self.host
        return f"{self.host}:{port}" if port else self.host

    def _target_uri(self) -> str:
        path = self.path if self.method == "OPTIONS" else (self.path or "/")
        return f"{self.scheme}://{self._authority_as_sent()}{path}{self._query_suffix()}"

    def _path(self) -> str:
        return self.path or "/"

    def _query(self) -> str:
        return "?" + (self.query or "")

    def _request_target(self) -> str:
        if self.method == "CONNECT":
            return self._authority_as_sent()
        return (self.path or "/") + self._query_suffix()

    def _library_value(self, component: Component) -> Any:
        resolver = self._library
        if resolver is None:
            url = f"{self.scheme}://{self._authority_as_sent()}{self.path}{self._query_suffix()}"
            pairs = [(name, value) for name, values in self.fields.items() for value in values]
            try:
                resolver = HTTPSignatureComponentResolver(_Message(self.method, url, _FieldLines(pairs)))
            except (HTTPMessageSignaturesException, ValueError, TypeError):
                raise MalformedRequest(_MALFORMED_URL) from None
            self._library = resolver
        return _library_value(resolver, component)


_FAST_DERIVED: Mapping[str, Callable[[_EnvironMessage], str]] = {
    "@method": _EnvironMessage._method,
    "@authority": _EnvironMessage._authority,
    "@target-uri": _EnvironMessage._target_uri,
    "@path": _EnvironMessage._path,
    "@query": _EnvironMessage._query,
    "@scheme": _EnvironMessage._scheme,
    "@request-target": _EnvironMessage._request_target,
}


# What _environ_message reads from the environ rather than through these
# attributes: a Request class qualifies if it keeps WebOb's.
_WEBOB_ATTRIBUTES = (
    "host", "scheme", "path", "script_name", "path_info", "url_encoding", "query_string", "method",
    "body", "is_body_readable", "content_length",
)
_PLAIN_REQUEST_CLASSES: dict[type, bool] = {}


def _plain_request_class(cls: type) -> bool:
    plain = _PLAIN_REQUEST_CLASSES.get(cls)
    if plain is None:
        plain = issubclass(cls, _WebObRequest) and all(
            getattr(cls, name, None) is getattr(_WebObRequest, name) for name in _WEBOB_ATTRIBUTES
        )
        if len(_PLAIN_REQUEST_CLASSES) < 64:
            _PLAIN_REQUEST_CLASSES[cls] = plain
    return plain


def _environ_message(request: Any) -> _EnvironMessage | None:
    """The fast path's view of a WebOb request, or None when it is not in the plain shape.

    Reads the environ as WebOb's ``Request`` attributes do, without side
    effects, until it is sure :func:`request_view` would succeed and build
    the same URL and headers; then the method and the body (``request.body``
    unless the environ says there is none).
    """
    if not _plain_request_class(request.__class__):
        return None
    environ = request.environ
    if environ.__class__ is not dict or "webob.url_encoding" in environ:
        return None
    scheme = environ.get("wsgi.url_scheme")
    host = environ.get("HTTP_HOST")
    if scheme.__class__ is not str or scheme not in _DEFAULT_PORTS or host.__class__ is not str:
        return None
    name, colon, port = host.partition(":")
    if not name or name.strip(_HOST_NAME_CHARS):
        return None
    if colon and (not 0 < len(port) <= 5 or port.strip(_DIGITS)):
        return None
    path = environ.get("SCRIPT_NAME", "")
    path_info = environ.get("PATH_INFO")
    if path.__class__ is not str or path_info.__class__ is not str:
        return None
    path += path_info
    if path and (path[0] != "/" or path.strip(_PATH_CHARS)):
        return None
    query = environ.get("QUERY_STRING", "")
    if query.__class__ is not str:
        return None
    if query and query.strip(_QUERY_CHARS) and _FAST_QUERY_RE.fullmatch(query) is None:
        return None
    fields = _environ_fields(environ)
    if fields is None:
        return None
    message = _EnvironMessage()
    message.scheme = scheme
    message.host = name.lower()
    # _normalise_authority: the default port is dropped from the URL.
    message.port = port if colon and port != _DEFAULT_PORTS[scheme] else None
    message.path = path
    message.query = query or None
    message.fields = fields
    message.method = environ.get("REQUEST_METHOD", "GET")
    # WebOb's Request.body is b"" without reading when is_body_readable is
    # false: a CONTENT_LENGTH of 0, or none and no readable-input flag.
    length = environ.get("CONTENT_LENGTH")
    if length == "0" or (
        (length is None or length == "")
        and not environ.get("wsgi.input_terminated", environ.get("webob.is_body_readable", False))
    ):
        message.body = b""
    else:
        message.body = request.body
    message._library = None
    return message


def _message(request: Any) -> _ViewMessage | _EnvironMessage:
    if not isinstance(request, RequestView):
        message = _environ_message(request)
        if message is not None:
            return message
    return _ViewMessage(request_view(request))


# --------------------------------------------------------------------------
# The library's resolver
# --------------------------------------------------------------------------


def _resolver(view: RequestView) -> HTTPSignatureComponentResolver:
    try:
        return HTTPSignatureComponentResolver(_Message(view.method, view.url, _FieldLines(view.headers)))
    except (HTTPMessageSignaturesException, ValueError, TypeError):
        raise MalformedRequest(_MALFORMED_URL) from None


def _library_value(resolver: HTTPSignatureComponentResolver, component: Component) -> Any:
    node = Item(component.name)
    node.params.update(component.params)
    try:
        return resolver.resolve(node)
    except (HTTPMessageSignaturesException, ValueError, TypeError, KeyError, UnicodeError):
        # RFC 9421 section 2.5: a component that cannot be resolved fails
        # the whole signature (e.g. a covered header that is absent).
        raise BadSignature(_UNRESOLVABLE) from None
