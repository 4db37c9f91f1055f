"""MGET on the wire: the general parser's array replies and the fast parser
(``array_replies``), without a server.

As for the GET + SET NX pair (``test_resp.py``): hand-picked tables at every
chunk size, then generated replies (hypothesis), for which the fast parser
answers exactly what the general parser answers, or declines
(``NOT_SIMPLE``), never another value, never an exception the general parser
would not raise. Round trips on real RESP2 and RESP3 connections are in
``test_redis.py`` (``TestRedisCacheWire``).
"""
from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.exceptions import InvalidResponse, ResponseError

from pyramid_authsuite.cache.resp import NOT_SIMPLE, array_replies, read_replies, receive
from tests.cache.test_resp import (
    ATTRIBUTE,
    GENERATED,
    PROTOCOL_PIECES,
    PUSH,
    PUSHES,
    VALUES,
    _ChunkedSocket,
    _Connection,
    bulk,
    mostly,
    mutated,
)

# MGET replies, as both parsers must read them (the general one: [values]).
MGET_REPLIES = [
    (b"*2\r\n$-1\r\n$-1\r\n", (None, None)),
    (b"*2\r\n_\r\n_\r\n", (None, None)),
    (b"*2\r\n$5\r\nhello\r\n$-1\r\n", (b"hello", None)),
    (b"*2\r\n_\r\n$2\r\nj1\r\n", (None, b"j1")),
    (b"*3\r\n$0\r\n\r\n_\r\n$4\r\n*1\r\n\r\n", (b"", None, b"*1\r\n")),
    (b"*1\r\n$12\r\n*2\r\n$-1\r\n_\r\n\r\n", (b"*2\r\n$-1\r\n_\r\n",)),
    (b"*0\r\n", ()),
]


@pytest.mark.parametrize(("wire", "expected"), MGET_REPLIES)
def test_mget_replies_at_every_chunk_size(wire, expected):
    assert array_replies(wire) == expected
    for size in range(1, len(wire) + 1):
        answer = receive(_Connection(_ChunkedSocket(wire, size)), 1, array_replies, True)
        if isinstance(answer, list):  # the general parser's answer: [values]
            answer = tuple(answer[0])
        assert answer == expected, size
        assert read_replies(_ChunkedSocket(wire, size), 1, arrays=True) == [list(expected)]


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (PUSH + b"*2\r\n$-1\r\n$2\r\nhi\r\n", [None, b"hi"]),  # a push message first
        (b"*2\r\n" + ATTRIBUTE + b"$2\r\nhi\r\n_\r\n", [b"hi", None]),  # an attribute before an element
        (b"*-1\r\n", None),  # a RESP2 null array
        (b"*2\r\n:1\r\n+OK\r\n", [1, b"OK"]),
    ],
)
def test_the_general_parser_reads_what_the_fast_one_declines(wire, expected):
    assert array_replies(wire) is NOT_SIMPLE
    for size in range(1, len(wire) + 1):
        assert read_replies(_ChunkedSocket(wire, size), 1, arrays=True) == [expected]


@pytest.mark.parametrize(
    "wire",
    [
        b"*1\r\n*1\r\n$1\r\na\r\n",  # nested arrays: MGET never answers one
        b"*1\r\n%1\r\n+k\r\n+v\r\n",
        b"*1\r\n~0\r\n",
        b"%0\r\n",
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n+OK\r\n",  # more than the one reply
        b"*1\r\n$5\r\nhello!!\r\n",
        b"*x\r\n",
    ],
)
def test_the_general_parser_refuses_other_arrays(wire):
    with pytest.raises(InvalidResponse):
        read_replies(_ChunkedSocket(wire, len(wire)), 1, arrays=True)


def test_without_arrays_an_array_is_still_refused():
    with pytest.raises(InvalidResponse):
        read_replies(_ChunkedSocket(b"*1\r\n$1\r\na\r\n", 64), 1)


def test_an_error_reply_in_place_of_the_array_is_raised_by_receive():
    with pytest.raises(ResponseError):
        receive(_Connection(_ChunkedSocket(b"-LOADING wait\r\n", 64)), 1, array_replies, True)


@pytest.mark.parametrize(
    "data",
    [b"", b"*", b"*2\r\n", b"*2\r\n$-1\r\n", b"*2\r\n$5\r\nhel", b"*2\r\n$-1\r\n$-1\r\n+OK\r\n",
     b"*2\r\n$-2\r\n_\r\n", b"*2\r\n$+1\r\na\r\n_\r\n", b"*" + b"1" * 40 + b"\r\n", b"-ERR x\r\n",
     b"*1\r\n$" + b"9" * 30 + b"\r\nx\r\n", b"*\xb2\r\n", b"*1\r\n$\xb2\r\nab\r\n"],
)
def test_the_fast_parser_declines_what_is_not_one_whole_usual_array(data):
    assert array_replies(data) is NOT_SIMPLE


# ---------------------------------------------------------------------------
# Generated replies: the fast parser agrees with the general one, or declines
# ---------------------------------------------------------------------------


def general_outcome(data: bytes):
    """The general parser on ``data`` as the first chunk, the stream ending after it
    (``("replies", [...])`` or ``("raises", type)``), read from a real socket."""
    ours, theirs = socket.socketpair()
    try:
        theirs.shutdown(socket.SHUT_WR)
        try:
            replies = read_replies(ours, 1, data, arrays=True)
        except Exception as error:  # every exception is an outcome to compare
            return "raises", type(error)
    finally:
        ours.close()
        theirs.close()
    return "replies", replies


def assert_fast_agrees_or_declines(data: bytes) -> str:
    try:
        answer = array_replies(data)
    except Exception as error:
        outcome = general_outcome(data)
        assert outcome[0] == "raises" and isinstance(error, outcome[1]), (data, error, outcome)
        return "raised"
    if answer is NOT_SIMPLE:
        return "declined"
    assert type(answer) is tuple and all(value is None or type(value) is bytes for value in answer), (data, answer)
    assert general_outcome(data) == ("replies", [list(answer)]), (data, answer)
    return "answered"


USUAL_ELEMENTS = st.one_of(st.sampled_from([b"$-1\r\n", b"_\r\n"]), VALUES.map(bulk))
OTHER_ELEMENTS = st.one_of(
    VALUES.map(lambda value: b"$0%d\r\n%b\r\n" % (len(value), value)),
    st.sampled_from([b"$-2\r\n", b"+OK\r\n", b":1\r\n", b"-ERR x\r\n", b",1.5\r\n", b"*1\r\n$1\r\na\r\n",
                     b"%0\r\n", ATTRIBUTE + b"$1\r\na\r\n", b"=7\r\ntxt:abc\r\n"]),
)
ELEMENTS = mostly(USUAL_ELEMENTS, OTHER_ELEMENTS)
AROUND = mostly(st.just(b""), PUSHES)
COUNT_FIELDS = mostly(st.just(None), st.sampled_from([b"-1", b"0", b"02", b" 2", b"+2", b"x", b"", b"1" * 20]))


@st.composite
def mget_replies(draw) -> bytes:
    """An MGET reply of 0 to 4 elements, now and then with odd elements, an odd
    count field, or push messages around it."""
    elements = draw(st.lists(ELEMENTS, max_size=4))
    field = draw(COUNT_FIELDS)
    count = b"%d" % len(elements) if field is None else field
    return draw(AROUND) + b"*" + count + b"\r\n" + b"".join(elements) + draw(AROUND)


@GENERATED
@given(st.lists(st.one_of(st.just(None), VALUES), max_size=5), st.booleans())
def test_usual_arrays_are_answered_by_the_fast_parser_and_their_prefixes_agree_or_decline(values, resp3):
    null = b"_\r\n" if resp3 else b"$-1\r\n"
    wire = b"*%d\r\n" % len(values) + b"".join(null if value is None else bulk(value) for value in values)
    assert assert_fast_agrees_or_declines(wire) == "answered"
    assert array_replies(wire) == tuple(values)
    for cut in range(len(wire)):
        assert_fast_agrees_or_declines(wire[:cut])


@settings(GENERATED, max_examples=600)
@given(mget_replies())
def test_generated_mget_replies_fast_parser_agrees_or_declines(wire):
    assert_fast_agrees_or_declines(wire)


@settings(GENERATED, max_examples=1000)
@given(st.data())
def test_mutated_mget_replies_fast_parser_agrees_or_declines(data):
    wire = data.draw(mget_replies())
    assert_fast_agrees_or_declines(data.draw(mutated(wire)))


@settings(GENERATED, max_examples=300)
@given(st.binary(max_size=40) | st.lists(st.sampled_from([*PROTOCOL_PIECES, b"*2\r\n", b"*1\r\n"]), max_size=10).map(b"".join))
def test_garbage_fast_parser_agrees_or_declines(data):
    assert_fast_agrees_or_declines(data)
