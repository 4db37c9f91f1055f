"""The Redis request path on the wire (:mod:`pyramid_authsuite.cache.resp`), without a server.

Packing is compared with redis-py's own packer; the general reply parser
(``read_replies``) is checked over hand-picked tables at every chunk size;
the fast parser of the GET + SET NX reply pair (``get_then_set_nx_replies``)
over hand-picked tables, and against the general parser over generated
replies (hypothesis): for the same bytes it answers exactly what the general
parser answers, or declines (``NOT_SIMPLE``) — never another value, never an
exception the general parser would not raise.  What needs a running Redis
(round trips, RESP2 and RESP3 connections, closed connections, a silent
server) is in ``test_redis.py``.
"""
from __future__ import annotations

import socket

import pytest
import redis.connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError

from pyramid_authsuite.cache.resp import NOT_SIMPLE, get_then_set_nx_replies, pack, read_replies, receive


class _ChunkedSocket:
    """Hands out ``data`` ``size`` bytes per recv(), then EOF."""

    def __init__(self, data: bytes, size: int):
        self.data, self.size = data, size

    def recv(self, limit):
        chunk, self.data = self.data[: self.size], self.data[self.size :]
        return chunk


class _Connection:
    """What receive() needs of a redis-py connection: its socket."""

    def __init__(self, sock):
        self._sock = sock


# ---------------------------------------------------------------------------
# Packing
# ---------------------------------------------------------------------------


def redis_py_pack(*args) -> bytes:
    """The same command as redis-py packs it (its pure-Python packer, which a
    connection that is never connected still has)."""
    return b"".join(redis.connection.Connection().pack_command(*args))


@pytest.mark.parametrize(
    "args",
    [
        ("GET", "authsuite:key"),
        ("SET", "caf\u00e9", b"\x00\r\n$-1\r\n", "PX", 60_000, "NX"),
        ("SET", "k", b"", "PX", 1),
        ("INCRBY", "counter", -5),
        ("DEL", b"\xff\xfe"),
    ],
    ids=repr,
)
def test_pack_matches_redis_py(args):
    assert pack(args) == redis_py_pack(*args)


def test_pack_layout():
    # str as UTF-8 (length in bytes), bytes as they are, int in decimal.
    assert pack(("SET", "\u00e9", b"\r\n", 12)) == b"*4\r\n$3\r\nSET\r\n$2\r\n\xc3\xa9\r\n$2\r\n\r\n\r\n$2\r\n12\r\n"


# ---------------------------------------------------------------------------
# The general reply parser: hand-picked tables
# ---------------------------------------------------------------------------

PUSH = b">4\r\n$6\r\nMOVING\r\n:1\r\n*2\r\n:15\r\n%1\r\n+k\r\n,1.5\r\n=7\r\ntxt:a\r\n\r\n"
ATTRIBUTE = b"|1\r\n+ttl\r\n#t\r\n"
WIRE_REPLIES = [
    (b"$5\r\nhello\r\n+OK\r\n", 2, [b"hello", b"OK"]),
    (b"$-1\r\n_\r\n", 2, [None, None]),
    (b"$0\r\n\r\n:1\r\n", 2, [b"", 1]),
    (b"$4\r\n\r\n\r\n\r\n", 1, [b"\r\n\r\n"]),
    (PUSH + b"$2\r\nhi\r\n" + PUSH + b":0\r\n" + PUSH, 2, [b"hi", 0]),
    (ATTRIBUTE + b"+OK\r\n", 1, [b"OK"]),
    (b">1\r\n" + ATTRIBUTE + b"(123\r\n" + b":-2\r\n", 1, [-2]),
]
INVALID_WIRE_REPLIES = [
    (b"*1\r\n$1\r\na\r\n", 1),  # an array: no command here answers one
    (b"%0\r\n", 1),
    (b",1.5\r\n", 1),  # a double outside a push message
    (b"=5\r\ntxt:a\r\n", 1),
    (b"$5\r\nhello!!\r\n", 1),  # length and terminator disagree
    (b"$x\r\n", 1),
    (b"?\r\n", 1),
    (b"+OK\r\n+OK\r\n", 1),  # more replies than commands
]


@pytest.mark.parametrize(("wire", "count", "expected"), WIRE_REPLIES)
def test_reply_parser_at_every_chunk_size(wire, count, expected):
    for size in range(1, len(wire) + 1):
        assert read_replies(_ChunkedSocket(wire, size), count) == expected


def test_reply_parser_returns_error_replies_in_place():
    replies = read_replies(_ChunkedSocket(b"-WRONGTYPE no\r\n+OK\r\n", 3), 2)
    assert isinstance(replies[0], ResponseError) and replies[1] == b"OK"


@pytest.mark.parametrize(("wire", "count"), INVALID_WIRE_REPLIES)
def test_reply_parser_refuses_what_it_does_not_expect(wire, count):
    with pytest.raises(InvalidResponse):
        read_replies(_ChunkedSocket(wire, len(wire)), count)


def test_reply_parser_end_of_stream_is_a_connection_error():
    with pytest.raises(RedisConnectionError):
        read_replies(_ChunkedSocket(b"$5\r\nhel", 4), 1)


# ---------------------------------------------------------------------------
# The GET + SET NX fast parser: hand-picked tables
# ---------------------------------------------------------------------------

# GET then SET ... NX replies, as the fast parser must answer them, at every
# chunk size (a chunk that holds only part of them goes to the general parser).
GET_THEN_SET_NX = [
    (b"$5\r\nhello\r\n+OK\r\n", (b"hello", True)),
    (b"$5\r\nhello\r\n$-1\r\n", (b"hello", False)),
    (b"$5\r\nhello\r\n_\r\n", (b"hello", False)),
    (b"$-1\r\n+OK\r\n", (None, True)),
    (b"_\r\n_\r\n", (None, False)),
    (b"$0\r\n\r\n+OK\r\n", (b"", True)),
    # Values that end like a reply, or hold one.
    (b"$5\r\n+OK\r\n\r\n+OK\r\n", (b"+OK\r\n", True)),
    (b"$10\r\nab$-1\r\n_\r\n\r\n$-1\r\n", (b"ab$-1\r\n_\r\n", False)),
    (b"$3\r\n_\r\n\r\n_\r\n", (b"_\r\n", False)),
    # A push message first: the general parser passes over it.
    (PUSH + b"$2\r\nhi\r\n+OK\r\n", (b"hi", True)),
]


@pytest.mark.parametrize(("wire", "expected"), GET_THEN_SET_NX)
def test_get_then_set_nx_replies_at_every_chunk_size(wire, expected):
    for size in range(1, len(wire) + 1):
        answer = receive(_Connection(_ChunkedSocket(wire, size)), 2, get_then_set_nx_replies)
        if isinstance(answer, list):  # the general parser's answer: [value, b"OK" or None]
            answer = (answer[0], answer[1] is not None)
        assert answer == expected, size


@pytest.mark.parametrize(
    "data",
    [
        b"$5\r\nhel",  # part of the first reply
        b"$5\r\nhello\r\n",  # the first reply only
        b"$5\r\nxx+OK\r\n",  # the first reply's value ends like the second reply
        b"$6\r\nhello\r\n+OK\r\n",  # announced length and data disagree
        b"$x\r\nhello\r\n+OK\r\n",
        b"-WRONGTYPE no\r\n+OK\r\n",  # an error reply
        b"$" + b"1" * 5000 + b"\r\n+OK\r\n",  # a length int() would refuse
        b"+OK\r\n",
        b"",
    ],
)
def test_get_then_set_nx_fast_parser_leaves_the_rest_to_the_general_one(data):
    assert get_then_set_nx_replies(data) is NOT_SIMPLE
