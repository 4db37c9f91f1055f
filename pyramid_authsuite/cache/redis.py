"""Redis cache backend (``redis://``, ``rediss://``, ``unix://``), shared by every process."""
from __future__ import annotations

import functools
import logging
import math
import socket
import struct
import sys
import threading
import weakref
from typing import Any, Callable, ParamSpec, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
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


# -- The request path's wire protocol ------------------------------------------
#
# The single commands and the GET + SET NX pair of the request path are packed
# and their replies parsed here, on the socket of a connection redis-py opened
# (and authenticated, selected the DB on, wrapped in TLS): redis-py's packer
# and reply parser cost about as much as the round trip itself. The replies
# these commands get are simple strings, errors, integers, bulk strings and
# nulls, in RESP2 or RESP3; RESP3 push messages (and attributes) that the
# server may send between replies are read and passed over. Anything else is
# refused as an invalid reply, never guessed at.


def _pack(args: tuple) -> bytes:
    """One command in RESP (arguments: str as UTF-8, bytes as they are, int in decimal)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode("utf-8")
        elif isinstance(arg, int):
            arg = b"%d" % arg
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


_READ_SIZE = 65536
# Linux's SO_RCVTIMEO / SO_SNDTIMEO take a struct timeval of two C longs.
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_NO_SOCKET = object()
# Aggregate types -> elements per announced count: array '*', push '>',
# set '~', map '%' and attribute '|' (key-value pairs).
_AGGREGATES = {42: 1, 62: 1, 126: 1, 37: 2, 124: 2}
# Scalar types only expected inside push messages and attributes:
# double ',', boolean '#', big number '('.
_OTHER_SCALARS = frozenset({44, 35, 40})


def _use_kernel_timeouts(sock: Any) -> None:
    """Move a plain socket's timeout from Python into the kernel.

    With a Python-level timeout, every send and recv is a poll() then the
    call itself; a blocking socket with SO_RCVTIMEO / SO_SNDTIMEO makes one
    system call each, and the same timeout still bounds each of them (it then
    raises BlockingIOError, which :func:`_read_more` and :func:`_exchange` treat
    as the timeout it is). TLS sockets, other platforms and sockets without a
    timeout are left as they are.
    """
    if not _KERNEL_TIMEOUTS or type(sock) is not socket.socket:
        return
    timeout = sock.gettimeout()
    if timeout is None or timeout <= 0:
        return
    seconds = int(timeout)
    microseconds = int((timeout - seconds) * 1_000_000)
    if seconds == 0 and microseconds == 0:
        microseconds = 1  # a zero timeval means "wait forever" to the kernel
    timeval = struct.pack("@ll", seconds, microseconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    sock.settimeout(None)


def _read_more(sock: socket.socket, data: bytes) -> bytes:
    """``data`` plus what the server sends next; errors as redis-py raises them."""
    try:
        chunk = sock.recv(_READ_SIZE)
    except (socket.timeout, BlockingIOError):
        raise RedisTimeoutError("Timeout reading from the Redis server") from None
    except OSError as error:
        raise RedisConnectionError(f"Error while reading from the Redis server ({error.__class__.__name__})") from None
    if not chunk:
        raise RedisConnectionError("Connection closed by the Redis server")
    return data + chunk if data else chunk


def _send_packed(connection: Any, packed: bytes) -> None:
    """Send packed commands on ``connection`` (connecting it first if needed).

    Failures raise what redis-py would: ``ConnectionError`` (retried once by
    the caller) or ``TimeoutError`` (not retried).
    """
    sock = getattr(connection, "_sock", _NO_SOCKET)
    if sock is _NO_SOCKET:
        # A connection class without a plain socket: let redis-py do it all.
        connection.send_packed_command([packed])
        return
    if sock is None:
        # redis-py connects: socket, TLS, AUTH, SELECT, HELLO, and its errors.
        connection.connect()
        sock = connection._sock
        _use_kernel_timeouts(sock)
    elif connection.health_check_interval:
        connection.check_health()
    try:
        sock.sendall(packed)
    except (socket.timeout, BlockingIOError):
        raise RedisTimeoutError("Timeout writing to the Redis server") from None
    except OSError as error:
        raise RedisConnectionError(f"Error while writing to the Redis server ({error.__class__.__name__})") from None


def _receive(connection: Any, count: int, fast: Callable[[bytes], Any] | None = None) -> Any:
    """Read the ``count`` replies to what :func:`_send_packed` sent; an error reply raises.

    Replies: bytes (bulk and simple strings), int, or None (null). Every reply
    is read before an error reply raises, so the connection stays in step.
    ``fast(data)``, when given, is tried on the first chunk read: it returns
    the answer if the chunk is exactly the replies it expects, else
    :data:`_NOT_SIMPLE`, and then the general parser reads them (and the
    answer is the list of replies).
    """
    sock = getattr(connection, "_sock", _NO_SOCKET)
    if sock is _NO_SOCKET:
        replies = [connection.read_response(disable_decoding=False) for _ in range(count)]
    elif sock is None:
        # Disconnected since the commands were sent (close() from another
        # thread): the replies are gone with the socket.
        raise RedisConnectionError("Connection closed before the Redis replies were read")
    else:
        data = _read_more(sock, b"")
        if fast is not None:
            answer = fast(data)
            if answer is not _NOT_SIMPLE:
                return answer
        replies = _read_replies(sock, count, data)
    for reply in replies:
        if isinstance(reply, RedisError):
            raise reply
    return replies


def _exchange(connection: Any, packed: bytes, count: int, fast: Callable[[bytes], Any] | None = None) -> Any:
    """Send packed commands on ``connection`` and read their ``count`` replies (see :func:`_receive`)."""
    _send_packed(connection, packed)
    return _receive(connection, count, fast)


# What a fast reply parser answers when the data is not what it expects.
_NOT_SIMPLE = object()
# What _attempt answers when the connection was closed under it.
_RETRY = object()


def _attempt(connection: Any, step: Callable[..., Any], *args: Any) -> Any:
    """``step(connection, *args)``, or :data:`_RETRY` after a connection error.

    Either way a failed connection is dropped: after a connection error
    (the server closed it) the caller tries once more on a new one; after
    anything else (a timeout, an interrupted read) replies may be pending
    on it, so it is never reused, and the error is raised.
    """
    try:
        return step(connection, *args)
    except RedisConnectionError:
        connection.disconnect()
        return _RETRY
    except BaseException:
        connection.disconnect()
        raise


def _get_then_set_nx_replies(data: bytes) -> Any:
    """``(value or None, stored)`` from the replies to GET then SET ... NX, when
    ``data`` is exactly those two replies in their usual form; else :data:`_NOT_SIMPLE`.

    The usual form: a bulk string or a null (RESP2 ``$-1``, RESP3 ``_``),
    then ``+OK`` or a null. The bulk string's announced length must account
    for every byte before the second reply, so a value that happens to end
    like a reply, or a chunk that holds only part of the replies, never
    passes: those (and push messages, errors) go to the general parser.
    """
    if data.endswith(b"+OK\r\n"):
        stored, head = True, data[:-5]
    elif data.endswith(b"$-1\r\n"):
        stored, head = False, data[:-5]
    elif data.endswith(b"_\r\n"):
        stored, head = False, data[:-3]
    else:
        return _NOT_SIMPLE
    if head == b"$-1\r\n" or head == b"_\r\n":
        return None, stored
    end = head.find(b"\r\n")
    digits = head[1:end]
    if (
        head[:1] != b"$"
        or not digits.isdigit()
        or len(digits) > 18  # int() of a huge length raises; the general parser refuses it
        or len(head) != end + 4 + int(digits)
        or not head.endswith(b"\r\n")
    ):
        return _NOT_SIMPLE
    return head[end + 2 : -2], stored


def _read_replies(sock: socket.socket, count: int, data: bytes = b"") -> list[Any]:
    """Parse ``count`` replies from ``data`` and what follows on ``sock``."""
    if not data:
        data = _read_more(sock, b"")
    replies: list[Any] = []
    pos = 0
    skip = 0  # elements of push messages and attributes still to pass over
    try:
        while len(replies) < count or skip or pos < len(data):
            end = data.find(b"\r\n", pos)
            if end < 0:
                data = _read_more(sock, data)
                continue
            kind = data[pos]
            if kind == 36 or kind == 33 or kind == 61:  # '$' bulk, '!' blob error, '=' verbatim
                length = int(data[pos + 1 : end])
                if length < 0:
                    reply: Any = None
                    pos = end + 2
                else:
                    stop = end + 2 + length
                    while len(data) < stop + 2:
                        data = _read_more(sock, data)
                    if data[stop : stop + 2] != b"\r\n":
                        raise InvalidResponse("malformed Redis reply")
                    reply = data[end + 2 : stop]
                    pos = stop + 2
                    if kind == 33:
                        reply = ResponseError(reply.decode("utf-8", "replace"))
                    elif kind == 61 and not skip:
                        raise InvalidResponse("unexpected Redis reply type")
            elif kind in _AGGREGATES:
                announced = int(data[pos + 1 : end])
                pos = end + 2
                if skip:
                    if kind != 124:  # an attribute only precedes the element it describes
                        skip -= 1
                elif kind == 42 or kind == 126 or kind == 37:
                    raise InvalidResponse("unexpected Redis reply type")  # no command here answers those
                if announced > 0:
                    skip += announced * _AGGREGATES[kind]
                continue
            else:
                line = data[pos + 1 : end]
                pos = end + 2
                if kind == 43:  # '+' simple string
                    reply = line
                elif kind == 58:  # ':' integer
                    reply = int(line)
                elif kind == 95:  # '_' null (RESP3)
                    reply = None
                elif kind == 45:  # '-' error
                    reply = ResponseError(line.decode("utf-8", "replace"))
                elif kind in _OTHER_SCALARS and skip:
                    reply = line
                else:
                    raise InvalidResponse("unexpected Redis reply type")
            if skip:
                skip -= 1
            elif len(replies) < count:
                replies.append(reply)
            else:
                raise InvalidResponse("unexpected data after the Redis replies")
    except ValueError:
        raise InvalidResponse("malformed Redis reply") from None
    return replies


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
        """Send packed commands (:func:`_pack`) in one write on this thread's
        connection; return their ``count`` replies.

        Like the client's own retry policy: a connection error (a connection
        the server closed, a server restarted) is retried once on a new
        connection; a timeout is not retried. Error replies raise.
        """
        connection = self._connection()
        replies = _attempt(connection, _exchange, packed, count)
        return self._retry(connection, packed, count) if replies is _RETRY else replies

    @staticmethod
    def _retry(connection: Any, packed: bytes, count: int, fast: Callable[[bytes], Any] | None = None) -> Any:
        """The one retry: the exchange again on ``connection`` (reconnected), dropped if it fails too."""
        try:
            return _exchange(connection, packed, count, fast)
        except BaseException:
            connection.disconnect()
            raise

    def _command(self, *args: Any) -> Any:
        """One command on this thread's connection (see :meth:`_send`)."""
        return self._send(_pack(args), 1)[0]

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
        if _attempt(connection, _send_packed, packed) is _RETRY:
            # A connection the server had closed: the whole exchange is retried
            # (once, on a new connection) in the second half.
            return functools.partial(self._finish_get_and_add, None, packed)
        # This exchange's mark: only its own second half may read its replies,
        # and only while nothing else has used the connection since.
        exchange = self._local.pending = object()
        return functools.partial(self._finish_get_and_add, exchange, packed)

    @_unavailable("get_and_add")
    def _finish_get_and_add(self, exchange: object | None, packed: bytes) -> tuple[Any, bool]:
        local = self._local
        if exchange is not None:
            if getattr(local, "pending", None) is not exchange:
                # Finished twice, on another thread, or after another command
                # dropped the connection: its replies are gone or not ours.
                raise RuntimeError("start_get_and_add() finished twice or out of turn")
            local.pending = None
            answer = _attempt(local.connection, _receive, 2, _get_then_set_nx_replies)
            if answer is not _RETRY:
                return self._get_and_add_answer(answer)
        # Not sent, or the connection was closed under the reply: once more,
        # on this thread's connection as it is now.
        return self._get_and_add_answer(self._retry(self._connection(), packed, 2, _get_then_set_nx_replies))

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
