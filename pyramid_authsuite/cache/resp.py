"""The Redis cache's request path on the wire: RESP packing and reply parsing.

The single commands, the GET + SET NX pair and the MGET of the request path
are packed and their replies parsed here, on the socket of a connection redis-py opened
(and authenticated, selected the DB on, wrapped in TLS): redis-py's packer
and reply parser cost about as much as the round trip itself. The replies
these commands get are simple strings, errors, integers, bulk strings and
nulls (and, for MGET, one array of bulk strings and nulls), in RESP2 or RESP3; RESP3 push messages (and attributes) that the
server may send between replies are read and passed over. Anything else is
refused as an invalid reply, never guessed at.

Failures raise what redis-py raises (its ``ConnectionError``, ``TimeoutError``,
``InvalidResponse``, ``ResponseError``); :mod:`pyramid_authsuite.cache.redis`
turns them into :class:`~pyramid_authsuite.exceptions.CacheUnavailable`.
"""
from __future__ import annotations

import socket
import struct
import sys
from typing import Any, Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def pack(args: tuple) -> bytes:
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


def use_kernel_timeouts(sock: Any) -> None:
    """Move a plain socket's timeout from Python into the kernel.

    With a Python-level timeout, every send and recv is a poll() then the
    call itself; a blocking socket with SO_RCVTIMEO / SO_SNDTIMEO makes one
    system call each, and the same timeout still bounds each of them (it then
    raises BlockingIOError, which :func:`read_more` and :func:`exchange` treat
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


def read_more(sock: socket.socket, data: bytes) -> bytes:
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


def send_packed(connection: Any, packed: bytes) -> None:
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
        use_kernel_timeouts(sock)
    elif connection.health_check_interval:
        connection.check_health()
    try:
        sock.sendall(packed)
    except (socket.timeout, BlockingIOError):
        raise RedisTimeoutError("Timeout writing to the Redis server") from None
    except OSError as error:
        raise RedisConnectionError(f"Error while writing to the Redis server ({error.__class__.__name__})") from None


def receive(
    connection: Any, count: int, fast: Callable[[bytes], Any] | None = None, arrays: bool = False
) -> Any:
    """Read the ``count`` replies to what :func:`send_packed` sent; an error reply raises.

    Replies: bytes (bulk and simple strings), int, or None (null); with
    ``arrays``, also a list of those for an array reply (MGET's). Every reply
    is read before an error reply raises, so the connection stays in step.
    ``fast(data)``, when given, is tried on the first chunk read: it returns
    the answer if the chunk is exactly the replies it expects, else
    :data:`NOT_SIMPLE`, and then the general parser reads them (and the
    answer is the list of replies).
    """
    sock = getattr(connection, "_sock", _NO_SOCKET)
    if sock is _NO_SOCKET:
        # redis-py raises an error reply as it reads it; read the rest too,
        # so that the connection stays in step as it does below.
        replies = []
        for _ in range(count):
            try:
                replies.append(connection.read_response(disable_decoding=False))
            except ResponseError as error:
                replies.append(error)
    elif sock is None:
        # Disconnected since the commands were sent (close() from another
        # thread): the replies are gone with the socket.
        raise RedisConnectionError("Connection closed before the Redis replies were read")
    else:
        data = read_more(sock, b"")
        if fast is not None:
            answer = fast(data)
            if answer is not NOT_SIMPLE:
                return answer
        replies = read_replies(sock, count, data, arrays)
    for reply in replies:
        if isinstance(reply, RedisError):
            raise reply
    return replies


def exchange(
    connection: Any, packed: bytes, count: int, fast: Callable[[bytes], Any] | None = None, arrays: bool = False
) -> Any:
    """Send packed commands on ``connection`` and read their ``count`` replies (see :func:`receive`)."""
    send_packed(connection, packed)
    return receive(connection, count, fast, arrays)


# What a fast reply parser answers when the data is not what it expects.
NOT_SIMPLE = object()
# What attempt answers when the connection was closed under it.
RETRY = object()


def attempt(connection: Any, step: Callable[..., Any], *args: Any) -> Any:
    """``step(connection, *args)``, or :data:`RETRY` after a connection error.

    After a connection error (the server closed it) the connection is dropped
    and the caller tries once more on a new one. An error reply (out of
    memory, wrong type, read-only) is raised and the connection kept: every
    reply was read before it was raised, so the connection is in step, and
    reconnecting (and re-checking the server) on every refused write would
    make a full server costlier to talk to. After anything else (a timeout,
    an interrupted read) replies may be pending on it, so it is never reused,
    and the error is raised.
    """
    try:
        return step(connection, *args)
    except RedisConnectionError:
        connection.disconnect()
        return RETRY
    except ResponseError:
        raise
    except BaseException:
        connection.disconnect()
        raise


def get_then_set_nx_replies(data: bytes) -> Any:
    """``(value or None, stored)`` from the replies to GET then SET ... NX, when
    ``data`` is exactly those two replies in their usual form; else :data:`NOT_SIMPLE`.

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
        return NOT_SIMPLE
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
        return NOT_SIMPLE
    return head[end + 2 : -2], stored


# MGET's usual reply for two keys neither of which is there (RESP2; RESP3).
_TWO_NULLS = (b"*2\r\n$-1\r\n$-1\r\n", b"*2\r\n_\r\n_\r\n")


def array_replies(data: bytes) -> Any:
    """The values (a tuple of bytes or None) from an MGET reply, when ``data`` is
    exactly one array of bulk strings and nulls in their usual form; else :data:`NOT_SIMPLE`.

    Every announced length must account for the bytes up to the next element
    and the last element must end the data, so a value that holds something
    like a reply, or a chunk holding part of the array, never passes: those
    (and push messages, attributes, errors) go to the general parser.
    """
    if data in _TWO_NULLS:
        return (None, None)  # the JWT request path's usual answer: not revoked, no cutoff
    end = data.find(b"\r\n")
    digits = data[1:end]
    if end < 0 or data[:1] != b"*" or not digits.isdigit() or len(digits) > 6:
        return NOT_SIMPLE
    pos = end + 2
    values: list[bytes | None] = []
    for _ in range(int(digits)):
        kind = data[pos : pos + 1]
        if kind == b"_" and data[pos + 1 : pos + 3] == b"\r\n":
            values.append(None)
            pos += 3
            continue
        end = data.find(b"\r\n", pos)
        if kind != b"$" or end < 0:
            return NOT_SIMPLE
        digits = data[pos + 1 : end]
        if digits == b"-1":
            values.append(None)
            pos = end + 2
            continue
        if not digits.isdigit() or len(digits) > 18:  # int() of a huge length raises
            return NOT_SIMPLE
        stop = end + 2 + int(digits)
        if data[stop : stop + 2] != b"\r\n":
            return NOT_SIMPLE
        values.append(data[end + 2 : stop])
        pos = stop + 2
    if pos != len(data):
        return NOT_SIMPLE
    return tuple(values)


def read_replies(sock: socket.socket, count: int, data: bytes = b"", arrays: bool = False) -> list[Any]:
    """Parse ``count`` replies from ``data`` and what follows on ``sock``.

    ``arrays``: a reply may be an array (MGET's) of bulk strings and nulls,
    read as a list of them (a null array as None); any other aggregate, and
    an array nested in one, is refused as without it.
    """
    if not data:
        data = read_more(sock, b"")
    replies: list[Any] = []
    pos = 0
    skip = 0  # elements of push messages and attributes still to pass over
    array: list[Any] | None = None  # the array reply being read, if any
    array_left = 0  # its elements still to read
    try:
        while len(replies) < count or skip or pos < len(data):
            end = data.find(b"\r\n", pos)
            if end < 0:
                data = read_more(sock, data)
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
                        data = read_more(sock, data)
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
                elif kind == 42 and arrays and array is None:
                    if announced > 0:
                        array, array_left = [], announced
                        continue
                    # An empty array, or a null one (RESP2 "*-1"): a reply of its own.
                    reply = [] if announced == 0 else None
                    if len(replies) >= count:
                        raise InvalidResponse("unexpected data after the Redis replies")
                    replies.append(reply)
                    continue
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
            elif array is not None:
                array.append(reply)
                array_left -= 1
                if not array_left:
                    replies.append(array)
                    array = None
            elif len(replies) < count:
                replies.append(reply)
            else:
                raise InvalidResponse("unexpected data after the Redis replies")
    except ValueError:
        raise InvalidResponse("malformed Redis reply") from None
    return replies
