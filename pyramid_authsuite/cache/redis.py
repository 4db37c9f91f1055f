"""Redis cache backend (``redis://``, ``rediss://``, ``unix://``), shared by every process."""
from __future__ import annotations

import functools
import logging
import math
import threading
import weakref
from typing import Any, Callable, ParamSpec, Sequence, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, OutOfMemoryError, RedisError, ResponseError
from redis.retry import Retry

from pyramid_authsuite.cache import (
    Cache,
    CacheFull,
    CacheMisconfigured,
    CacheUnavailable,
    check_ttl,
    decode_value,
    encode_value,
)
from pyramid_authsuite.cache.resp import (
    RETRY,
    array_replies,
    attempt,
    exchange,
    get_then_set_nx_replies,
    pack,
    receive,
    send_packed,
)

__all__ = ["RedisCache", "EVICTION_CHECKS"]

logger = logging.getLogger(__name__)

# Redis keeps expiry times as signed 64-bit milliseconds; stay far below that
# (about 146 million years) so a huge TTL is a ValueError here rather than an
# error reply from the server that would look like an outage.
_MAX_TTL_MS = 2**62

# Add one to a counter and return it, giving it the TTL only when this call
# creates it: a fixed window. One script, so it is atomic. The counter is
# stored as encode_value(count) ("j" + decimal), not as a raw Redis integer,
# so ``get`` reads it like any other value, as the memory backend does. A
# value that is not such an integer, or has more than 15 digits (Lua counts
# in doubles, exact only up to 2**53), is left alone and nil is returned.
_INCR_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current then
    redis.call('SET', KEYS[1], 'j1', 'PX', ARGV[1])
    return 1
end
local digits = string.match(current, '^j(%-?%d+)$')
if not digits or string.len((string.gsub(digits, '^%-', ''))) > 15 then
    return false
end
local count = tonumber(digits) + 1
redis.call('SET', KEYS[1], string.format('j%d', count), 'KEEPTTL')
return count
"""

# Add a member to a set and make its TTL at least ARGV[2] ms, in one step.
# (PEXPIRE GT cannot do it: it treats a key without a TTL as infinite.)
_ADD_MEMBER_SCRIPT = """
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

# What authsuite.cache_eviction_check may say about a server whose
# maxmemory-policy is not noeviction: fail closed, or log and carry on.
EVICTION_CHECKS = ("refuse", "warn")
# The only maxmemory-policy under which Redis never forgets a key before its
# TTL: when full, it refuses writes (OOM errors) instead of evicting.
_SAFE_POLICY = "noeviction"

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _policy_from_reply(reply: Any) -> str | None:
    """The policy from a ``CONFIG GET maxmemory-policy`` reply, or None if it has none.

    RESP3 answers a map, RESP2 a flat list of names and values; a server that
    hides its configuration may answer an empty one.
    """
    if isinstance(reply, dict):
        value = reply.get(b"maxmemory-policy")
    elif isinstance(reply, list) and len(reply) == 2 and reply[0] == b"maxmemory-policy":
        value = reply[1]
    else:
        value = None
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").lower()
    return value.lower() if isinstance(value, str) else None


class _EvictingServer(RedisError):
    """Raised while connecting to a server that may evict keys, when the check refuses it.

    A RedisError, but not a connection error: redis-py and this module retry
    connection errors, and reconnecting to the same server cannot help.
    """


def _is_out_of_memory(error: BaseException) -> bool:
    """Whether an error reply is Redis refusing a write for lack of memory (``-OOM ...``).

    redis-py's own parser raises OutOfMemoryError (the code stripped); the
    request path's parser (:mod:`~pyramid_authsuite.cache.resp`) keeps the
    reply as a plain ResponseError starting with the code, and a script's
    write refused inside Lua reads the same way.
    """
    if isinstance(error, OutOfMemoryError):
        return True
    return isinstance(error, ResponseError) and str(error).startswith("OOM ")


def _ttl_ms(ttl: float) -> int:
    """Seconds (int or float) to whole milliseconds, at least 1."""
    ttl = check_ttl(ttl)
    milliseconds = max(1, round(ttl * 1000))
    if milliseconds > _MAX_TTL_MS:
        raise ValueError(f"ttl is too large, got {ttl!r}")
    return milliseconds


def _unavailable(operation: str) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]:
    """Turn every Redis (or socket) failure of a method into CacheUnavailable.

    The original exception is dropped (``from None``) so that no command
    argument, and so no value, can reach a log through the exception chain;
    what is logged is the operation and the error's class only.
    """

    def decorate(method: Callable[_P, _T]) -> Callable[_P, _T]:
        @functools.wraps(method)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            try:
                return method(*args, **kwargs)
            # OSError: a TLS or socket error that the client did not wrap.
            except (RedisError, OSError) as error:
                failure = error
            if isinstance(failure, _EvictingServer):
                # Its message names the policy and the setting, and holds no value.
                raise CacheMisconfigured(f"Redis cache refused: {failure}") from None
            if _is_out_of_memory(failure):
                # maxmemory reached under noeviction: the server refuses the
                # write rather than forgetting anything. Fail closed (503).
                logger.warning("Redis cache full: %s refused (out of memory; maxmemory reached)", operation)
                raise CacheFull(f"Redis cache full: {operation} refused (out of memory)") from None
            reason = failure.__class__.__name__
            logger.warning("Redis cache unavailable: %s failed (%s)", operation, reason)
            raise CacheUnavailable(f"Redis cache unavailable: {operation} failed ({reason})") from None

        return wrapper

    return decorate


class RedisCache(Cache):
    """A cache in Redis, shared by every process that uses the same server, DB and prefix.

    Constructor arguments:

    ``url``
        ``redis://[[user]:[password]@]host:6379/0``, ``rediss://...`` (TLS) or
        ``unix:///path/to/redis.sock?db=0``; query options are passed to the
        redis-py connection pool, except that responses are always bytes.
    ``prefix``
        Prepended to every key (see :class:`~pyramid_authsuite.cache.Cache`).
    ``timeout_seconds``
        Bound on connecting and on each command (socket connect and read
        timeouts, default 1.0).
    ``eviction_check``
        What to do with a server whose ``maxmemory-policy`` is not
        ``noeviction`` (``authsuite.cache_eviction_check``): ``"refuse"``
        (default) or ``"warn"``. See *The eviction check* below.

    Every failure to talk to Redis (refused, timed out, loading, read-only,
    ...) raises :class:`CacheUnavailable`; a write the server refuses for
    lack of memory (``OOM``, maxmemory reached under ``noeviction``) raises
    its subclass :class:`~pyramid_authsuite.exceptions.CacheFull`. The client retries a
    command once, without waiting, only after a *connection* error (a pooled
    connection the server had closed); a timeout is not retried. So one
    operation against a dead server fails within about twice
    ``timeout_seconds``, and a command the server may already have run is
    re-run at most once. That re-run only ever errs towards refusal: a
    repeated ``add`` returns False, a repeated ``pop`` finds nothing, a
    repeated ``incr`` counts one more.

    The client connects lazily: constructing a ``RedisCache`` for a server
    that is down succeeds, and the first operation raises.

    The eviction check
    ------------------
    Under any ``maxmemory-policy`` but ``noeviction``, a Redis server that
    reaches ``maxmemory`` silently deletes keys before their TTL: a nonce (a
    captured request becomes acceptable again), a session, a revocation, a
    lockout counter. So every new connection (the first one, and every
    reconnect, on each thread's connection and in the pool) asks ``CONFIG GET
    maxmemory-policy`` once, right after the handshake; requests on an open
    connection pay nothing. Unless the answer is ``noeviction``:

    - ``refuse``: the connection is dropped, an ERROR is logged naming the
      policy and the setting, and the operation raises
      :class:`~pyramid_authsuite.cache.CacheMisconfigured` (a
      ``CacheUnavailable``: 503). :meth:`check_configuration`, called at
      start-up, raises it too, so the application does not start.
    - ``warn``: a WARNING is logged at each check, and the cache carries on.

    Where ``CONFIG`` is disabled, renamed or denied by an ACL (managed Redis
    services often do that), the policy cannot be known: a WARNING is logged
    once and the cache carries on; check the service's eviction setting by
    hand. A policy changed on a server while connections are open is seen at
    the next reconnect.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "authsuite:",
        timeout_seconds: float = 1.0,
        eviction_check: str = "refuse",
    ):
        super().__init__(prefix=prefix)
        if eviction_check not in EVICTION_CHECKS:
            raise ValueError(f"eviction_check must be one of {', '.join(EVICTION_CHECKS)}, got {eviction_check!r}")
        self.eviction_check = eviction_check
        self._unknown_policy_logged = False
        if (
            isinstance(timeout_seconds, bool)
            or not isinstance(timeout_seconds, (int, float))
            or not math.isfinite(timeout_seconds)
            or not timeout_seconds > 0
        ):
            raise ValueError(f"timeout_seconds must be a positive number, got {timeout_seconds!r}")
        self.timeout_seconds = timeout_seconds
        # URL schemes are case-insensitive (cache_from_url treats them so);
        # redis-py only accepts lower case.
        scheme, separator, rest = url.partition("://")
        self._client = redis.Redis.from_url(
            scheme.lower() + separator + rest,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            # redis-py's default retries timeouts too, ten times with backoff:
            # tens of seconds before a request could get its 503.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            decode_responses=False,
            # Runs on every new connection, in place of redis-py's handshake
            # (which it calls first): the eviction check, once per connection.
            redis_connect_func=self._on_connect,
        )
        # Query-string options override keyword arguments in from_url; stored
        # values are bytes and must come back as bytes.
        if self._client.connection_pool.connection_kwargs.get("decode_responses"):
            self._client.close()
            raise ValueError("the Redis cache URL must not set decode_responses")
        # One connection per thread for the single-command operations on the
        # request path: redis-py's pool checkout and retry wrapper cost about
        # as much as the network round trip itself (measured: 95 µs a GET
        # through the client, 41 µs on a held connection).
        self._local = threading.local()
        self._held: weakref.WeakSet = weakref.WeakSet()
        self._held_lock = threading.Lock()
        self._incr_script = self._client.register_script(_INCR_SCRIPT)
        self._add_member_script = self._client.register_script(_ADD_MEMBER_SCRIPT)

    def __repr__(self) -> str:
        # Never show the URL: it may hold a password.
        return f"<{self.__class__.__name__} prefix={self.prefix!r}>"

    # -- the eviction check (see the class docstring) ---------------------------

    def _on_connect(self, connection: Any) -> None:
        """redis-py's handshake (AUTH, HELLO, SELECT), then the eviction check.

        Raising here makes redis-py drop the new connection and raise on.
        """
        connection.on_connect()
        try:
            connection.send_command("CONFIG", "GET", "maxmemory-policy", check_health=False)
            reply = connection.read_response()
        except ResponseError:
            # CONFIG disabled, renamed or refused by an ACL: the reply was
            # read, so the connection is still in step.
            reply = None
        self._judge_policy(_policy_from_reply(reply))

    def _judge_policy(self, policy: str | None) -> None:
        if policy == _SAFE_POLICY:
            return
        if policy is None:
            if not self._unknown_policy_logged:
                self._unknown_policy_logged = True
                logger.warning(
                    "Redis cache: could not read the server's maxmemory-policy (CONFIG GET is disabled, renamed "
                    "or not permitted); make sure it is noeviction, or the server may evict nonces, sessions "
                    "and revocations before their TTL"
                )
            return
        problem = (
            f"the Redis server's maxmemory-policy is {policy!r}, not 'noeviction': once full it deletes "
            "keys before their TTL (nonces, sessions, revocations, lockout counters)"
        )
        if self.eviction_check == "warn":
            logger.warning("Redis cache: %s; carrying on because authsuite.cache_eviction_check = warn", problem)
            return
        message = (
            f"{problem}; authsuite.cache_eviction_check = refuse (set maxmemory-policy noeviction on the "
            "server, or authsuite.cache_eviction_check = warn to accept the risk)"
        )
        logger.error("Redis cache refused: %s", message)
        raise _EvictingServer(message)

    def check_configuration(self) -> None:
        """Run the eviction check now, on a connection of its own (at start-up).

        Raises :class:`~pyramid_authsuite.cache.CacheMisconfigured` if the
        server may evict keys and ``eviction_check`` is ``"refuse"``. A server
        that cannot be reached is not an error here (the cache connects
        lazily, and checks each connection it opens): a WARNING says so.
        The connection is closed before returning, so that a process forked
        after start-up (a preloading server) shares no socket with it.
        """
        connection = self._client.connection_pool.make_connection()
        try:
            connection.connect()
        except _EvictingServer as error:
            raise CacheMisconfigured(f"Redis cache refused: {error}") from None
        except (RedisError, OSError) as error:
            logger.warning(
                "Redis cache: could not reach the server at start-up to check its maxmemory-policy (%s); "
                "every connection is checked when it opens",
                error.__class__.__name__,
            )
        finally:
            connection.disconnect()

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _connection(self) -> Any:
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = self._client.connection_pool.make_connection()
            local.connection = connection
            local.pending = None
            with self._held_lock:
                self._held.add(connection)
        elif local.pending is not None:
            # A started exchange (start_get_and_add) was never finished: its
            # replies are still on the wire and must never be read as the
            # answer to another command. A new connection is the safe way out.
            local.pending = None
            connection.disconnect()
        return connection

    def _send(self, packed: bytes, count: int) -> list[Any]:
        """Send packed commands (:func:`pack`) in one write on this thread's
        connection; return their ``count`` replies.

        Like the client's own retry policy: a connection error (a connection
        the server closed, a server restarted) is retried once on a new
        connection; a timeout is not retried. Error replies raise.
        """
        connection = self._connection()
        replies = attempt(connection, exchange, packed, count)
        return self._retry(connection, packed, count) if replies is RETRY else replies

    @staticmethod
    def _retry(
        connection: Any, packed: bytes, count: int, fast: Callable[[bytes], Any] | None = None, arrays: bool = False
    ) -> Any:
        """The one retry: the exchange again on ``connection`` (reconnected), dropped if it fails too."""
        try:
            return exchange(connection, packed, count, fast, arrays)
        except BaseException:
            connection.disconnect()
            raise

    def _command(self, *args: Any) -> Any:
        """One command on this thread's connection (see :meth:`_send`)."""
        return self._send(pack(args), 1)[0]

    def _get_and_add_command(self, key: str, add_key: str, value: Any, ttl: float) -> bytes:
        """GET key, then SET add_key value PX ttl NX, packed in one write."""
        milliseconds = _ttl_ms(ttl)
        get_key = (self.prefix + key).encode("utf-8")
        set_key = (self.prefix + add_key).encode("utf-8")
        stored = encode_value(value)
        ms = b"%d" % milliseconds
        return (
            b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n*6\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"
            b"$2\r\nPX\r\n$%d\r\n%b\r\n$2\r\nNX\r\n"
            % (len(get_key), get_key, len(set_key), set_key, len(stored), stored, len(ms), ms)
        )

    @staticmethod
    def _get_and_add_answer(answer: Any) -> tuple[Any, bool]:
        if type(answer) is list:  # from the general parser: [value, b"OK" or None]
            answer = answer[0], answer[1] is not None
        return decode_value(answer[0]), answer[1]

    def get_and_add(self, key: str, add_key: str, value: Any, ttl: float) -> tuple[Any, bool]:
        # The request path's one round trip: both commands packed in one go.
        return self.start_get_and_add(key, add_key, value, ttl)()

    @_unavailable("get_and_add")
    def start_get_and_add(self, key: str, add_key: str, value: Any, ttl: float) -> Callable[[], tuple[Any, bool]]:
        packed = self._get_and_add_command(key, add_key, value, ttl)
        connection = self._connection()
        if attempt(connection, send_packed, packed) is RETRY:
            # A connection the server had closed: the whole exchange is retried
            # (once, on a new connection) in the second half.
            return functools.partial(self._finish_get_and_add, None, packed)
        # This exchange's mark: only its own second half may read its replies,
        # and only while nothing else has used the connection since.
        mark = self._local.pending = object()
        return functools.partial(self._finish_get_and_add, mark, packed)

    @_unavailable("get_and_add")
    def _finish_get_and_add(self, mark: object | None, packed: bytes) -> tuple[Any, bool]:
        local = self._local
        if mark is not None:
            if getattr(local, "pending", None) is not mark:
                # Finished twice, on another thread, or after another command
                # dropped the connection: its replies are gone or not ours.
                raise RuntimeError("start_get_and_add() finished twice or out of turn")
            local.pending = None
            answer = attempt(local.connection, receive, 2, get_then_set_nx_replies)
            if answer is not RETRY:
                return self._get_and_add_answer(answer)
        # Not sent, or the connection was closed under the reply: once more,
        # on this thread's connection as it is now.
        return self._get_and_add_answer(self._retry(self._connection(), packed, 2, get_then_set_nx_replies))

    @_unavailable("add")
    def add(self, key: str, value: Any, ttl: float) -> bool:
        milliseconds = _ttl_ms(ttl)
        return self._command("SET", self._key(key), encode_value(value), "PX", milliseconds, "NX") is not None

    @_unavailable("get")
    def get(self, key: str) -> Any:
        return decode_value(self._command("GET", self._key(key)))

    @_unavailable("get_many")
    def get_many(self, keys: Sequence[str]) -> list[Any]:
        if not keys:
            return []
        # One MGET on this thread's connection, its reply read by the fast
        # parser when it is in the usual form (as GET + SET NX's is).
        packed = pack(("MGET", *[self.prefix + key for key in keys]))
        connection = self._connection()
        answer = attempt(connection, exchange, packed, 1, array_replies, True)
        if answer is RETRY:
            answer = self._retry(connection, packed, 1, array_replies, True)
        values = answer if type(answer) is tuple else answer[0]
        if type(values) not in (tuple, list) or len(values) != len(keys):
            raise InvalidResponse("MGET answered another number of values than keys asked")
        return [None if value is None else decode_value(value) for value in values]

    @_unavailable("set")
    def set(self, key: str, value: Any, ttl: float) -> None:
        milliseconds = _ttl_ms(ttl)
        self._command("SET", self._key(key), encode_value(value), "PX", milliseconds)

    @_unavailable("delete")
    def delete(self, key: str) -> bool:
        return self._command("DEL", self._key(key)) == 1

    @_unavailable("pop")
    def pop(self, key: str) -> Any:
        # GETDEL (Redis >= 6.2): one command, so of concurrent pops exactly
        # one gets the value.
        return decode_value(self._command("GETDEL", self._key(key)))

    @_unavailable("touch")
    def touch(self, key: str, ttl: float) -> bool:
        milliseconds = _ttl_ms(ttl)
        return self._command("PEXPIRE", self._key(key), milliseconds) == 1

    @_unavailable("incr")
    def incr(self, key: str, ttl: float) -> int:
        milliseconds = _ttl_ms(ttl)
        count = self._incr_script(keys=[self._key(key)], args=[milliseconds])
        if count is None:
            raise ValueError("the value stored at this key is not a counter")
        return int(count)

    @_unavailable("add_member")
    def add_member(self, key: str, member: str, ttl: float) -> None:
        milliseconds = _ttl_ms(ttl)
        self._add_member_script(keys=[self._key(key)], args=[str(member), milliseconds])

    @_unavailable("members")
    def members(self, key: str) -> set[str]:
        return {member.decode("utf-8") for member in self._client.smembers(self._key(key))}

    @_unavailable("remove_member")
    def remove_member(self, key: str, member: str) -> bool:
        return self._client.srem(self._key(key), str(member)) == 1

    @_unavailable("close")
    def close(self) -> None:
        """Close the client, every connection in its pool and every thread's held connection."""
        with self._held_lock:
            held = list(self._held)
        for connection in held:
            connection.disconnect()
        self._client.close()
        self._client.connection_pool.disconnect()
