"""``HawkAuthenticationPolicy``: Hawk 1 requests signed with a session's credentials."""
from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import quote

from pyramid.httpexceptions import HTTPException
from pyramid.interfaces import ISecurityPolicy

from pyramid_authsuite.hawk import protocol
from pyramid_authsuite.hawk.settings import HawkSettings
from pyramid_authsuite.hawk.sessions import HawkSession, sessions_for
from pyramid_authsuite.identity import Identity
from pyramid_authsuite.policy import NO_CREDENTIALS, AuthSuitePolicy, Verdict, refused, takes_settings_of

logger = logging.getLogger(__name__)

# What the response-signing tween needs, left in the environ by a verified header.
SIGNING_KEY = "authsuite.hawk.signing"
# The session that authenticated the request (for DELETE /hawk-sessions).
SESSION_KEY = "authsuite.hawk.session"

_REFRESH_MEMO_LIMIT = 10_000
# One refusal for an unknown (or expired) session and for a wrong MAC, stale
# timestamp or not: Hawk ids travel in every header (and so in proxy logs),
# and whoever holds one must not learn from us, without the key, whether its
# session is live.
_INVALID = refused("invalid_credentials", "Invalid Hawk credentials: unknown or expired session, or wrong MAC.")
# The key a MAC is computed with when the id names no session, so that
# refusing an unknown id does the same work as refusing a wrong MAC.
_DECOY_KEY = secrets.token_hex(32).encode("ascii")
# Characters a path keeps as they are when re-quoted (RFC 3986 pchar + "/").
_SAFE_PATH_CHARS = "/:@!$&'()*+,;=-._~%"
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=\-._~%]*")


def request_target(environ: dict) -> str:
    """The request target as the client sent it (what Hawk MACs cover).

    Servers that keep it (gunicorn's RAW_URI, REQUEST_URI) are trusted;
    otherwise it is rebuilt from SCRIPT_NAME, PATH_INFO and QUERY_STRING,
    which gives the same string for every URL a client would normally send.
    """
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        return raw
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if _PLAIN_PATH.fullmatch(path) is None:  # most paths need no quoting at all
        path = quote(path.encode("latin-1"), safe=_SAFE_PATH_CHARS)
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _body(request: Any) -> bytes:
    """The request body, without touching the input stream when there is none."""
    environ = request.environ
    if environ.get("CONTENT_LENGTH", "0") in ("", "0") and "HTTP_TRANSFER_ENCODING" not in environ:
        return b""
    return request.body


def host_and_port(environ: dict) -> tuple[str, str]:
    """Host name and port from the Host header (RFC 9110 7.2), as the client signed them."""
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    if host.startswith("["):  # IPv6 literal
        name, _, rest = host.partition("]")
        name += "]"
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    if not port:
        port = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    return name, port


class HawkAuthenticationPolicy(AuthSuitePolicy):
    """Hawk 1 (``Authorization: Hawk ...`` and ``?bewit=``) against sessions in the cache.

    Sessions come from ``POST /hawk-sessions`` (or :meth:`HawkSessions.create`)
    and are Kinto / requests-hawk compatible:
    ``requests_hawk.HawkAuth(hawk_session=token)`` signs requests we accept.

    Constructor arguments (``multiauth.policy.<name>.<argument>`` in ini):

    ``realm``
        Named in the ``WWW-Authenticate: Hawk realm="..."`` challenge. Default ``authsuite``.
    ``algorithms``
        MAC algorithms accepted, ``sha256`` (default); ``sha1`` only if listed.
    ``timestamp_skew_seconds``
        How far a request's ``ts`` may be from the server's clock. Default 60.
    ``nonce_ttl_seconds``
        How long a nonce is remembered; at least twice the skew, so a request
        cannot be replayed while its timestamp is still acceptable. Default
        twice the skew.
    ``session_ttl_seconds``
        A session's lifetime, sliding: each authenticated request extends it.
        Default 60 days (``60d``).
    ``session_refresh_seconds``
        Each process slides a session's TTL at most this often (one cache
        write saved on most requests). Default 60.
    ``verify_payload``
        Check the body against the header's ``hash`` (and refuse a body
        without one). Default on.
    ``sign_responses``
        Add ``Server-Authorization`` to the response of every request whose
        Hawk header verifies, whatever answers it: a protected view, a public
        one, a 404 or another exception view (see
        :func:`server_authorization_tween_factory`). Default on.

    The arguments are parsed and checked once, by :meth:`HawkSettings.parse
    <pyramid_authsuite.hawk.settings.HawkSettings.parse>`; the frozen result
    is :attr:`settings`, and each value is also an attribute of the policy,
    of the same name, which is what verifying reads.

    Refusals tell nothing to whoever lacks the key: an unknown or expired
    session and a wrong MAC get the same ``invalid_credentials``, and a stale
    timestamp is answered with the signed server time (``ts``, ``tsm``) only
    once the MAC has verified, as the Hawk reference server does.
    """

    scheme = "hawk"
    auth_scheme = "Hawk"

    @takes_settings_of(HawkSettings.parse)
    def __init__(self, realm: str = "authsuite", **settings: Any):
        super().__init__(realm=realm)
        #: The parsed settings (frozen); each value is also a plain attribute below.
        self.settings = settings = HawkSettings.parse(**settings)
        # Copied onto the instance: read on every request, and instance
        # attributes are the fastest lookups (a property would cost a call).
        self.algorithms = settings.algorithms
        self.timestamp_skew_seconds = settings.timestamp_skew_seconds
        self.nonce_ttl_seconds = settings.nonce_ttl_seconds
        self.session_ttl_seconds = settings.session_ttl_seconds
        self.session_refresh_seconds = settings.session_refresh_seconds
        self.verify_payload = settings.verify_payload
        self.sign_responses = settings.sign_responses
        # Hawk ids this process refreshed recently -> when; bounded.
        self._refreshed: dict[str, float] = {}
        # Session reference -> (session, its verdict), both immutable; bounded.
        self._verdicts: dict[str, tuple[HawkSession, Verdict]] = {}

    def verify(self, request: Any) -> Verdict:
        environ = request.environ
        header = environ.get("HTTP_AUTHORIZATION")
        if header is not None and protocol.is_hawk(header):
            return self._verify_header(request, header)
        if header is None and "bewit=" in environ.get("QUERY_STRING", ""):
            return self._verify_bewit(request)
        return NO_CREDENTIALS

    def _verify_header(self, request: Any, header: str) -> Verdict:
        environ = request.environ
        try:
            auth = protocol.parse_authorization(header)
        except protocol.HawkParseError as error:
            return refused("malformed_credentials", f"Malformed Hawk header: {error}.")
        algorithm = "sha256" if len(auth.mac) == 44 else "sha1"
        if algorithm not in self.algorithms:
            return refused("invalid_credentials", f"Hawk algorithm {algorithm} is not accepted here.")
        sessions = sessions_for(request.registry)
        now = time.time()
        if abs(auth.ts - now) > self.timestamp_skew_seconds:
            return self._verify_stale(request, sessions, auth, algorithm, now)
        # The session lookup and the nonce record share one cache round trip,
        # started here and answered below: the request's lines of the
        # normalized string are built while Redis answers. (The response's
        # MAC covers them too, so they are built once.)
        answer = sessions.start_lookup_recording_nonce(auth.id, auth.ts, auth.nonce, self.nonce_ttl_seconds)
        host, port = host_and_port(environ)
        fields = protocol.request_fields(
            auth.ts, auth.nonce, environ["REQUEST_METHOD"], request_target(environ), host, port
        )
        session, fresh = answer()
        verify_payload = self.verify_payload
        try:
            protocol.verify_request_fields(
                auth, fields, _DECOY_KEY if session is None else session.key, algorithm, now,
                self.timestamp_skew_seconds, environ.get("CONTENT_TYPE"),
                _body(request) if verify_payload and session is not None else None, verify_payload,
                self.algorithms,
            )
        except protocol.HawkError as error:
            # A forged request (or one naming no session) must not keep, nor
            # burn, the nonce it named.
            if fresh:
                sessions.forget_nonce(auth.id, auth.ts, auth.nonce)
            if session is not None and isinstance(error, protocol.HawkPayloadError):
                return refused("invalid_payload", "The body does not match the Hawk payload hash.")
            return _INVALID
        if session is None:  # the decoy key cannot verify, but never let it in
            if fresh:
                sessions.forget_nonce(auth.id, auth.ts, auth.nonce)
            return _INVALID
        # Reported only for a valid MAC, so a replay tells a forger nothing.
        if not fresh:
            return refused("replayed_request", "This Hawk request was already received (replay).")
        self._slide(sessions, session, now)
        environ[SESSION_KEY] = session
        if self.sign_responses:
            environ[SIGNING_KEY] = (session.key, algorithm, auth, fields, self.algorithms)
        return self._verdict_for(session)

    def _verify_stale(
        self, request: Any, sessions: Any, auth: protocol.HawkAuthorization, algorithm: str, now: float
    ) -> Verdict:
        """A header whose ``ts`` is outside the skew: the MAC first, then the clock.

        As ``lib/server.js`` ``authenticate`` does, only a request whose MAC
        verifies gets the signed server time (``ts``, ``tsm``) to correct its
        clock; an unknown session and a wrong MAC get the same plain refusal.
        No nonce is recorded (nor looked at): the request is refused either way.
        """
        environ = request.environ
        session = sessions.lookup(auth.id)
        host, port = host_and_port(environ)
        fields = protocol.request_fields(
            auth.ts, auth.nonce, environ["REQUEST_METHOD"], request_target(environ), host, port
        )
        try:
            # verify_request_fields checks the MAC before the timestamp; the
            # payload is not looked at for a request refused anyway.
            protocol.verify_request_fields(
                auth, fields, _DECOY_KEY if session is None else session.key, algorithm, now,
                self.timestamp_skew_seconds, None, None, False, self.algorithms,
            )
        except protocol.HawkStaleTimestamp as stale:
            if session is not None:
                return refused(
                    "stale_timestamp", "Stale Hawk timestamp; see ts and tsm in WWW-Authenticate.",
                    challenge=stale.challenge,
                )
        except protocol.HawkError:
            pass
        return _INVALID

    def _verify_bewit(self, request: Any) -> Verdict:
        environ = request.environ
        try:
            resource, value = protocol.strip_bewit(request_target(environ))
            if value is None:
                return NO_CREDENTIALS
            bewit = protocol.parse_bewit(value)
        except protocol.HawkParseError as error:
            return refused("malformed_credentials", f"Malformed bewit: {error}.")
        # What can be refused without the session is refused before looking
        # it up, so that no answer depends on whether the id names one.
        method = environ["REQUEST_METHOD"]
        if method != "GET" and method != "HEAD":
            return refused("invalid_credentials", "Signed URLs are valid for GET and HEAD only.")
        algorithm = "sha256" if len(bewit.mac) == 44 else "sha1"
        if algorithm not in self.algorithms:
            return refused("invalid_credentials", f"Hawk algorithm {algorithm} is not accepted here.")
        session = sessions_for(request.registry).lookup(bewit.id)
        host, port = host_and_port(environ)
        try:
            protocol.verify_bewit(
                bewit,
                key=_DECOY_KEY if session is None else session.key,
                algorithm=algorithm,
                method=method,
                resource=resource,
                host=host,
                port=port,
                now=time.time(),
                allowed_algorithms=self.algorithms,
            )
        except protocol.HawkBewitExpired:
            # Raised only after the MAC verified (so never for the decoy key).
            if session is not None:
                return refused("expired_bewit", "This signed URL has expired.")
            return _INVALID
        except protocol.HawkError:
            return _INVALID
        if session is None:
            return _INVALID
        return self._verdict_for(session)

    def _verdict_for(self, session: HawkSession) -> Verdict:
        """The (immutable) verdict for a session's requests, built once per session."""
        # Keyed by reference and checked by identity: the sessions' decode
        # memo hands out one object per stored record, and hashing the
        # session's fields costs more than this.
        memo = self._verdicts.get(session.ref)
        if memo is not None and memo[0] is session:
            return memo[1]
        principals = {f"role:{role}" for role in session.roles}
        if session.tenant:
            principals.add(f"tenant:{session.tenant}")
        principals.add("scheme:hawk")
        verdict = Verdict(identity=Identity(session.userid, self.scheme, frozenset(principals)))
        if len(self._verdicts) >= _REFRESH_MEMO_LIMIT:
            self._verdicts.clear()
        self._verdicts[session.ref] = (session, verdict)
        return verdict

    def _slide(self, sessions: Any, session: HawkSession, now: float) -> None:
        last = self._refreshed.get(session.ref)
        if last is not None and now - last < self.session_refresh_seconds:
            return
        if len(self._refreshed) >= _REFRESH_MEMO_LIMIT:
            self._refreshed.clear()
        self._refreshed[session.ref] = now
        sessions.refresh(session, self.session_ttl_seconds)


def _signing_policies(registry: Any) -> tuple[HawkAuthenticationPolicy, ...]:
    """The Hawk policies of the application's security policy, in order, if one signs responses."""
    security = getattr(registry, "authsuite_security_policy", None) if registry is not None else None
    # Only when ours is the security policy in use (an app may set another).
    if security is None or registry.queryUtility(ISecurityPolicy) is not security:
        return ()
    policies = tuple(policy for _, policy in security.get_policies() if isinstance(policy, HawkAuthenticationPolicy))
    return policies if any(policy.sign_responses for policy in policies) else ()


def server_authorization_tween_factory(handler: Any, registry: Any):
    """A tween adding ``Server-Authorization`` to the response of every request whose Hawk header verifies.

    Arguments: ``handler`` (the rest of the chain) and ``registry`` (the
    application's, whose security policy is complete: Pyramid builds tweens
    after the configuration is committed).

    A view that never asks for the identity (a public page) and a response
    made by an exception view (a 404) leave the request unverified, and the
    client that checks responses (``HawkSessionAuth(...,
    verify_response=True)``, mohawk's ``accept_response``) could not tell
    such a response from a forgery. So when the handler returns and the
    request carries a Hawk header no Hawk policy has judged yet, the tween
    asks the Hawk policies for their verdict, in the security policy's order
    until one accepts it. That records the nonce, as it should: a signed
    request is single use, whatever it asks for. It is done after the
    handler so that the requests views verify anyway pay nothing for it. A
    request whose header does not verify, or that has none, gets no
    ``Server-Authorization``; nor does a request whose view consumed the raw
    input stream (the payload hash then cannot match), nor an exception no
    exception view turns into a response (the server answers 500).
    """
    policies = _signing_policies(registry)

    def server_authorization_tween(request: Any):
        response = handler(request)
        environ = request.environ
        signing = environ.get(SIGNING_KEY)
        if signing is None and policies:
            header = environ.get("HTTP_AUTHORIZATION")
            if header is not None and protocol.is_hawk(header):
                # Memoized verdicts: a policy the view already asked answers
                # from its memo, without verifying (or recording) again.
                for policy in policies:
                    if policy.verdict(request).identity is not None:
                        break
                signing = environ.get(SIGNING_KEY)
        if signing is not None:
            key, algorithm, auth, fields, allowed = signing
            if isinstance(response, HTTPException):
                # Pyramid writes an HTTP exception's default body (a 404's
                # page, negotiated on Accept) only when it is served: write
                # it now, so the payload hash covers what the client gets.
                response.prepare(environ)
            # One pass over the header list instead of WebOb's case-insensitive
            # get and set (each a pass of its own).
            headerlist = response.headerlist
            content_type = None
            replace = False
            for name, value in headerlist:
                lowered = name.lower()
                if lowered == "content-type":
                    content_type = value  # the last one, as WebOb's get() answers
                elif lowered == "server-authorization":
                    replace = True
            value = protocol.server_authorization_fields(
                key, algorithm, auth, fields, content_type, response.body, None, allowed
            )
            if replace:
                response.headers["Server-Authorization"] = value
            else:
                headerlist.append(("Server-Authorization", value))
        return response

    return server_authorization_tween
