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
import sys

import pytest
import redis.connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pyramid_authsuite.cache.resp import (
    NOT_SIMPLE,
    get_then_set_nx_replies,
    pack,
    read_replies,
    receive,
    use_kernel_timeouts,
)
from tests.servers import call_bounded


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


@settings(derandomize=True, database=None, deadline=None, max_examples=200)
@given(
    st.sampled_from(["GET", "SET", "DEL", "PEXPIRE", "EVALSHA", b"SET"]),
    st.lists(st.text(max_size=12) | st.binary(max_size=12) | st.integers(-(2**70), 2**70), max_size=6),
)
def test_generated_commands_pack_as_redis_py_packs_them(command, args):
    # (bools are left out: redis-py refuses them, and no caller passes one.)
    assert pack((command, *args)) == redis_py_pack(command, *args)


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
# receive(): error replies, closed and silent peers, on real sockets
# ---------------------------------------------------------------------------


@pytest.fixture
def socket_pair():
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_an_error_reply_is_raised_after_every_reply_is_read(socket_pair):
    ours, theirs = socket_pair
    theirs.sendall(b"-OOM command not allowed\r\n+OK\r\n")
    with pytest.raises(ResponseError, match="OOM"):
        receive(_Connection(ours), 2)
    # The connection is in step: the next reply read is the next command's.
    theirs.sendall(b":5\r\n")
    assert receive(_Connection(ours), 1) == [5]


def test_a_connection_closed_before_reading_is_a_connection_error():
    with pytest.raises(RedisConnectionError):
        receive(_Connection(None), 2)


def test_a_peer_closing_mid_reply_is_a_connection_error(socket_pair):
    ours, theirs = socket_pair
    theirs.sendall(b"$5\r\nhel")
    theirs.shutdown(socket.SHUT_WR)
    with pytest.raises(RedisConnectionError):
        receive(_Connection(ours), 2, get_then_set_nx_replies)


@pytest.mark.parametrize("kernel", [True, False], ids=["kernel-timeouts", "python-timeouts"])
def test_a_silent_peer_is_a_timeout(socket_pair, kernel):
    ours, theirs = socket_pair
    ours.settimeout(0.05)
    if kernel:
        use_kernel_timeouts(ours)
        if sys.platform.startswith("linux"):
            assert ours.gettimeout() is None  # the kernel's SO_RCVTIMEO bounds the read now
    theirs.sendall(b"$5\r\nhello\r\n")  # the first reply only: the second never comes
    with pytest.raises(RedisTimeoutError):
        call_bounded(lambda: receive(_Connection(ours), 2, get_then_set_nx_replies))


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


# ---------------------------------------------------------------------------
# The GET + SET NX fast parser against the general parser: generated replies (hypothesis)
# ---------------------------------------------------------------------------

# Seeded (derandomize) and bounded, so the run is the same every time and
# takes a few seconds; no example database, no deadline (a busy machine).
# Every strategy is built once, at import: hypothesis validates a strategy
# the first time it is drawn from, and one built per draw costs that each time.
GENERATED = settings(
    derandomize=True, database=None, deadline=None, max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def general_outcome(data: bytes):
    """What the general parser makes of ``data`` as the first chunk of the two
    replies, the stream ending after it (as ``receive`` calls it when the fast
    parser declines): ``("replies", [...])`` with error replies as
    ``("error reply", message)``, or ``("raises", exception type)``.

    It reads from a real socket whose peer has shut its side: reading past
    ``data`` is the end of the stream, a redis-py ``ConnectionError``.
    """
    ours, theirs = socket.socketpair()
    try:
        theirs.shutdown(socket.SHUT_WR)
        try:
            replies = read_replies(ours, 2, data)
        except Exception as error:  # every exception is an outcome to compare
            return "raises", type(error)
    finally:
        ours.close()
        theirs.close()
    return "replies", [("error reply", str(reply)) if isinstance(reply, ResponseError) else reply for reply in replies]


def assert_fast_agrees_or_declines(data: bytes) -> str:
    """The fast parser's answer for ``data`` is the general parser's, or it declines.

    Returns what it did ("answered", "declined", or "raised" what the general
    parser raises too), so a test can insist on an answer.
    """
    try:
        answer = get_then_set_nx_replies(data)
    except Exception as error:
        # receive() would raise this instead of what the general parser does:
        # only the same kind of failure is acceptable (anything else would not
        # become CacheUnavailable, or would fail where the general parser answers).
        outcome = general_outcome(data)
        assert outcome[0] == "raises" and isinstance(error, outcome[1]), (data, error, outcome)
        return "raised"
    if answer is NOT_SIMPLE:
        return "declined"
    assert type(answer) is tuple and len(answer) == 2, (data, answer)
    value, stored = answer
    assert value is None or type(value) is bytes, (data, answer)
    assert stored is True or stored is False, (data, answer)
    # The general parser's replies for the pair: the value, then b"OK" or a null.
    assert general_outcome(data) == ("replies", [value, b"OK" if stored else None]), (data, answer)
    return "answered"


def mostly(usual, unusual, odds: int = 4):
    """``usual``, and about one time in ``odds`` ``unusual``.

    (Hypothesis favours the simplest choice, 0, and shrinks towards it: that one is ``usual``.)
    """
    return st.integers(0, odds - 1).flatmap(lambda n: unusual if n == odds - 1 else usual)


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


# Values: any bytes, and bytes made of pieces of the protocol (a value that
# ends like a reply, or holds one, must never be split there).
PROTOCOL_PIECES = [
    b"\r\n", b"\r", b"\n", b"$-1\r\n", b"_\r\n", b"+OK\r\n", b"$", b"-1", b"0", b"5", b"12", b"OK",
    b"+", b"_", b"-ERR x\r\n", b">1\r\n", b"|1\r\n", b"$3\r\n", b":1\r\n", b"\x00", b"\xff",
]
VALUES = st.binary(max_size=40) | st.lists(st.sampled_from(PROTOCOL_PIECES), max_size=8).map(b"".join)
# The usual replies: GET's (a bulk string, or a RESP2 / RESP3 null), then SET NX's.
USUAL_GETS = st.one_of(st.sampled_from([b"$-1\r\n", b"_\r\n"]), VALUES.map(bulk))
USUAL_SET_NX = st.sampled_from([b"+OK\r\n", b"$-1\r\n", b"_\r\n"])
# Other replies the general parser accepts (or refuses) in their place.
OTHER_REPLIES = st.one_of(
    VALUES.map(lambda value: b"$0%d\r\n%b\r\n" % (len(value), value)),  # a length with a leading zero
    VALUES.map(lambda value: b"$ %d\r\n%b\r\n" % (len(value), value)),  # ... with a space (int() takes it)
    VALUES.map(lambda value: b"$+%d\r\n%b\r\n" % (len(value), value)),  # ... with a sign
    st.sampled_from([
        b"$-2\r\n", b"+OK\r\n", b"+QUEUED\r\n", b"$2\r\nOK\r\n", b":1\r\n", b":-7\r\n",
        b"-ERR wrong\r\n", b"-OOM command not allowed\r\n", b"-WRONGTYPE no\r\n", b"!5\r\nERR x\r\n",
        b",1.5\r\n", b"#t\r\n", b"(12\r\n", b"=7\r\ntxt:abc\r\n", b"*1\r\n$1\r\na\r\n", b"%0\r\n", b"~0\r\n",
        b"*-1\r\n", b"$-1\r\n_\r\n",
    ]),
)
# RESP3 out-of-band data: push messages (any time), attributes (before a reply).
PUSH_ELEMENTS = st.one_of(
    VALUES.map(bulk),
    st.sampled_from([
        b":1\r\n", b"+k\r\n", b",1.5\r\n", b"#f\r\n", b"(99\r\n", b"_\r\n", b"$-1\r\n", b"=7\r\ntxt:a\r\n\r\n",
        b"*2\r\n:15\r\n+x\r\n", b"%1\r\n+k\r\n:1\r\n", b"~1\r\n+m\r\n", b"*0\r\n",
    ]),
)
PUSHES = st.one_of(
    st.sampled_from([PUSH, ATTRIBUTE, b">0\r\n"]),
    st.lists(PUSH_ELEMENTS, min_size=1, max_size=4).map(
        lambda elements: b">%d\r\n" % len(elements) + b"".join(elements)
    ),
)
# Built once (see above): the replies, and what may come around them.
FIRST_REPLIES = mostly(USUAL_GETS, OTHER_REPLIES)
SECOND_REPLIES = mostly(USUAL_SET_NX, OTHER_REPLIES)
AROUND = mostly(st.just(b""), PUSHES)


@st.composite
def reply_pairs(draw) -> bytes:
    """Two replies as a GET then a SET NX may get them, now and then with others
    in their place and push messages or attributes around them."""
    first = draw(FIRST_REPLIES)
    second = draw(SECOND_REPLIES)
    return draw(AROUND) + first + draw(AROUND) + second + draw(AROUND)


MUTATIONS = st.sampled_from(
    ["truncate", "append", "length", "terminator", "type", "flip", "insert", "delete", "prefix"]
)
APPENDED = st.sampled_from([b"+OK\r\n", b"$-1\r\n", b"_\r\n", b"\r\n", b"x", PUSH]) | st.binary(min_size=1, max_size=8)
PREFIXED = st.sampled_from([b"+OK\r\n", b"$-1\r\n", b"_\r\n", b"\r\n", b"$"]) | st.binary(min_size=1, max_size=8)
INSERTED = st.sampled_from([b"\r", b"\n", b"\r\n", b"$", b"0", b"_"]) | st.binary(min_size=1, max_size=2)
ABSURD_LENGTHS = st.sampled_from([
    b"", b"-", b"-0", b"x", b"1" * 18, b"9" * 19, b"1" * 5000, b"0" * 19 + b"3",
    b"1_0", b"\xd9\xa3", b"\xb2",  # int() takes "1_0"; an Arabic-Indic and a superscript digit
])
OTHER_TERMINATORS = (
    st.sampled_from([b"\n\r", b"\r\r", b"\n\n", b"\rx", b"x\n", b"OK", b"\r", b""]) | st.binary(max_size=3)
).filter(lambda terminator: terminator != b"\r\n")
TYPE_BYTES = st.sampled_from(b"$+-:_!=,#(*%~>|?x\r").map(lambda byte: bytes([byte]))


@st.composite
def mutated(draw, wire: bytes) -> bytes:
    """``wire`` cut short, extended, with its announced length changed, or a byte changed."""
    kind = draw(MUTATIONS)
    if kind == "truncate":
        return wire[: draw(st.integers(0, max(len(wire) - 1, 0)))]
    if kind == "append":
        return wire + draw(APPENDED)
    if kind == "prefix":
        return draw(PREFIXED) + wire
    if kind == "length":
        # The first announced length (the one the fast parser trusts) made wrong.
        if not wire.startswith(b"$") or b"\r\n" not in wire:
            return wire
        end = wire.index(b"\r\n")
        digits = wire[1:end]
        off_by = st.integers(-3, 3).filter(bool).map(lambda delta: b"%d" % (int(digits) + delta))
        length = draw(off_by | ABSURD_LENGTHS if digits.isdigit() and len(digits) < 10 else ABSURD_LENGTHS)
        return b"$" + length + wire[end:]
    if kind == "terminator":
        # The two bytes after the first bulk string's value (which must be CRLF) made something else.
        end = wire.find(b"\r\n")
        digits = wire[1:end]
        if not wire.startswith(b"$") or not digits.isdigit() or len(digits) > 9:
            return wire
        stop = end + 2 + int(digits)
        return wire[:stop] + draw(OTHER_TERMINATORS) + wire[stop + 2 :]
    if kind == "type":
        # One reply's type byte (the first byte, or one after a CRLF) made another.
        starts = [0] + [index + 2 for index in range(len(wire) - 2) if wire[index : index + 2] == b"\r\n"]
        start = draw(st.sampled_from(starts))
        return wire[:start] + draw(TYPE_BYTES) + wire[start + 1 :]
    position = draw(st.integers(0, len(wire)))
    if kind == "insert":
        return wire[:position] + draw(INSERTED) + wire[position:]
    if position == len(wire):
        return wire
    if kind == "delete":
        return wire[:position] + wire[position + 1 :]
    return wire[:position] + bytes([draw(st.integers(0, 255))]) + wire[position + 1 :]  # flip


@GENERATED
@given(
    st.one_of(st.just(None), VALUES),
    st.sampled_from([(b"+OK\r\n", True), (b"$-1\r\n", False), (b"_\r\n", False)]),
    st.booleans(),
)
def test_usual_pairs_are_answered_by_the_fast_parser_and_their_prefixes_agree_or_decline(value, second, resp3_null):
    wire, stored = second
    first = bulk(value) if value is not None else (b"_\r\n" if resp3_null else b"$-1\r\n")
    wire = first + wire
    # Whole, in one chunk: the fast parser answers it (that is what it is for).
    assert assert_fast_agrees_or_declines(wire) == "answered"
    assert get_then_set_nx_replies(wire) == (value, stored)
    # Cut short anywhere: a chunk that holds part of the replies.
    for cut in range(len(wire)):
        assert_fast_agrees_or_declines(wire[:cut])
    # Read in chunks of any size, through receive(): the same answer either way.
    for size in range(1, len(wire) + 1):
        answer = receive(_Connection(_ChunkedSocket(wire, size)), 2, get_then_set_nx_replies)
        if isinstance(answer, list):
            answer = (answer[0], answer[1] is not None)
        assert answer == (value, stored), size


@settings(GENERATED, max_examples=600)
@given(reply_pairs())
def test_generated_replies_fast_parser_agrees_or_declines(wire):
    assert_fast_agrees_or_declines(wire)


@settings(GENERATED, max_examples=1000)
@given(st.data())
def test_mutated_replies_fast_parser_agrees_or_declines(data):
    wire = data.draw(reply_pairs())
    assert_fast_agrees_or_declines(data.draw(mutated(wire)))


@settings(GENERATED, max_examples=300)
@given(st.binary(max_size=40) | st.lists(st.sampled_from(PROTOCOL_PIECES), max_size=10).map(b"".join))
def test_garbage_fast_parser_agrees_or_declines(data):
    assert_fast_agrees_or_declines(data)


# Announced lengths of the first bulk string: right, off by a little, with
# leading zeros, long (int() refuses more than 4300 digits), or not a number.
LENGTH_FIELDS = st.one_of(
    st.integers(-3, 3).map(lambda delta: ("off by", delta)),
    st.integers(0, 30).map(lambda zeros: ("zeros", zeros)),
    st.sampled_from([17, 18, 19, 20, 4300, 4301, 5000]).map(lambda digits: ("ones", digits)),
    st.sampled_from([b"", b"-", b"-0", b"-1", b"x", b"+2", b" 2", b"2 ", b"1_0", b"\xd9\xa3", b"\xb2", b"9" * 19]).map(
        lambda field: ("field", field)
    ),
)


@GENERATED
@given(VALUES, USUAL_SET_NX, LENGTH_FIELDS)
def test_wrong_lengths_fast_parser_agrees_or_declines(value, second, length):
    kind, amount = length
    if kind == "off by":
        field = b"%d" % (len(value) + amount)
    elif kind == "zeros":
        field = b"0" * amount + b"%d" % len(value)
    elif kind == "ones":
        field = b"1" * amount
    else:
        field = amount
    assert_fast_agrees_or_declines(b"$" + field + b"\r\n" + value + b"\r\n" + second)
