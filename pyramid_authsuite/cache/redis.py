"""Redis cache backend (``redis://``, ``rediss://``, ``unix://``), shared by every process."""
from __future__ import annotations

import functools
import logging
import math
import threading
import weakref
from typing import Any, Callable, ParamSpec, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from pyramid_authsuite.cache import Cache, CacheUnavailable, check_ttl, decode_value, encode_value

__all__ = ["RedisCache"]

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

_P = ParamSpec("_P")
_T = TypeVar("_T")


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
                reason = error.__class__.__name__
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

    Every failure to talk to Redis (refused, timed out, loading, read-only,
    out of memory, ...) raises :class:`CacheUnavailable`. The client retries a
    command once, without waiting, only after a *connection* error (a pooled
    connection the server had closed); a timeout is not retried. So one
    operation against a dead server fails within about twice
    ``timeout_seconds``, and a command the server may already have run is
    re-run at most once. That re-run only ever errs towards refusal: a
    repeated ``add`` returns False, a repeated ``pop`` finds nothing, a
    repeated ``incr`` counts one more.

    The client connects lazily: constructing a ``RedisCache`` for a server
    that is down succeeds, and the first operation raises.
    """

    def __init__(self, url: str, prefix: str = "authsuite:", timeout_seconds: float = 1.0):
        super().__init__(prefix=prefix)
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

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._client.connection_pool.make_connection()
            self._local.connection = connection
            with self._held_lock:
                self._held.add(connection)
        return connection

    def _pipeline(self, *commands: tuple) -> list[Any]:
        """Send commands in one write on this thread's connection; return their raw replies.

        Like the client's own retry policy: a connection error (a connection
        the server closed, a server restarted) is retried once on a new
        connection; a timeout is not retried. Error replies raise.
        """
        connection = self._connection()
        packed = connection.pack_commands(commands)
        try:
            return self._exchange(connection, packed, len(commands))
        except RedisConnectionError:
            connection.disconnect()
            return self._exchange(connection, packed, len(commands))
        except BaseException:
            # A timeout or an interrupted read leaves replies pending: never reuse it.
            connection.disconnect()
            raise

    @staticmethod
    def _exchange(connection: Any, packed: Any, count: int) -> list[Any]:
        connection.send_packed_command(packed)
        replies = [connection.read_response(disable_decoding=False) for _ in range(count)]
        for reply in replies:
            if isinstance(reply, RedisError):
                raise reply
        return replies

    def _command(self, *args: Any) -> Any:
        """One command on this thread's connection (see :meth:`_pipeline`)."""
        return self._pipeline(args)[0]

    @_unavailable("get_and_add")
    def get_and_add(self, key: str, add_key: str, value: Any, ttl: float) -> tuple[Any, bool]:
        milliseconds = _ttl_ms(ttl)
        found, added = self._pipeline(
            ("GET", self._key(key)),
            ("SET", self._key(add_key), encode_value(value), "PX", milliseconds, "NX"),
        )
        return decode_value(found), added is not None

    @_unavailable("add")
    def add(self, key: str, value: Any, ttl: float) -> bool:
        milliseconds = _ttl_ms(ttl)
        return self._command("SET", self._key(key), encode_value(value), "PX", milliseconds, "NX") is not None

    @_unavailable("get")
    def get(self, key: str) -> Any:
        return decode_value(self._command("GET", self._key(key)))

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
