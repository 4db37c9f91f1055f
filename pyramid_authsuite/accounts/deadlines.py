"""Client-side deadlines for account-store calls.

``statement_timeout`` makes a slow PostgreSQL give up, and TCP keepalives with
``tcp_user_timeout`` make the kernel drop a peer that has gone away. Neither
helps when the peer is still there but never answers: a stopped backend, a
wedged pooler or proxy, a firewall that swallows replies. The kernel
acknowledges every packet, and psycopg waits in ``poll()`` for an answer
that never comes, holding a worker thread (and a pooled connection) for ever.

So every store call arms a :class:`Deadline`. One watchdog thread per process
sleeps until the earliest deadline; when a call is still running then, it shuts
down the socket of the connection that call is using. The blocked thread wakes
at once with a connection error, SQLAlchemy discards the connection as broken,
and the store raises ``AccountStoreUnavailable``. A call that ends in time
costs a heap push and pop and a ``dup()``/``close()`` of the socket.

The socket is shut down through a duplicate of its file descriptor taken when
the connection is attached: a descriptor number alone could have been closed
and reused by an unrelated socket by the time the deadline passes.
"""
from __future__ import annotations

import heapq
import itertools
import math
import os
import socket
import threading
import time
from typing import Any

__all__ = ["Deadline", "DeadlineExceeded", "Watchdog", "watchdog"]


class DeadlineExceeded(Exception):
    """A connection was handed to a call whose deadline had already passed."""


class Deadline:
    """The deadline of one store call (see :meth:`Watchdog.arm`).

    ``seconds`` is the duration it was armed with; ``expired`` becomes true
    when the watchdog found the call still running at the deadline.
    """

    __slots__ = ("expires_at", "seconds", "expired", "_done", "_fd")

    def __init__(self, expires_at: float, seconds: float):
        self.expires_at = expires_at
        self.seconds = seconds
        self.expired = False
        self._done = False
        # A duplicate of the attached connection's socket descriptor, or -1.
        self._fd = -1


class Watchdog:
    """Shuts down the connection of every call still running at its deadline.

    One instance serves the process (:data:`watchdog`); its thread starts on the
    first :meth:`arm` and again in a forked child (gunicorn's pre-forked workers
    inherit the object but not the thread).
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # Also run in a forked child: the parent's lock may have been held by
        # another thread at the fork, and its thread does not exist here.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        # When the thread will look at the heap next without being woken.
        self._sleeping_until = math.inf

    def arm(self, seconds: float) -> Deadline:
        """Start the deadline of a call that must end within ``seconds``."""
        deadline = Deadline(time.monotonic() + seconds, seconds)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="authsuite-accounts-watchdog", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (deadline.expires_at, next(self._order), deadline))
            # Woken only for a deadline earlier than the one it sleeps until:
            # with one timeout per store, that is about once per timeout
            # period, not once per call.
            if deadline.expires_at < self._sleeping_until:
                self._wake.notify()
        return deadline

    def attach(self, deadline: Deadline, dbapi_connection: Any, *, refuse_late: bool = True) -> None:
        """Make ``dbapi_connection`` (a psycopg connection) the one shut down at ``deadline``.

        Replaces the connection attached before (the pool may reconnect within
        one call). With ``refuse_late``, raises :class:`DeadlineExceeded` when the
        deadline has already passed, so that a call which waited its whole time
        for a connection does not start using it.
        """
        if refuse_late and time.monotonic() >= deadline.expires_at:
            raise DeadlineExceeded
        duplicate = os.dup(dbapi_connection.fileno())
        with self._lock:
            if deadline._done or deadline.expired:
                previous, duplicate = duplicate, -1
            else:
                previous, deadline._fd = deadline._fd, duplicate
        if previous >= 0:
            os.close(previous)
        if duplicate < 0 and refuse_late:
            raise DeadlineExceeded

    def detach(self, deadline: Deadline) -> None:
        """The call gave its connection back: the deadline no longer reaches it."""
        with self._lock:
            attached, deadline._fd = deadline._fd, -1
        if attached >= 0:
            os.close(attached)

    def disarm(self, deadline: Deadline) -> None:
        """The call is over."""
        with self._lock:
            deadline._done = True
            attached, deadline._fd = deadline._fd, -1
            self._drop_done()
        if attached >= 0:
            os.close(attached)

    def _drop_done(self) -> None:
        # Entries of finished calls leave the heap once they reach its top, so
        # that it holds about the running calls only.
        while self._heap and self._heap[0][2]._done:
            heapq.heappop(self._heap)

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                self._drop_done()
                while self._heap and self._heap[0][0] <= now:
                    deadline = heapq.heappop(self._heap)[2]
                    deadline.expired = True
                    self._interrupt(deadline)
                    self._drop_done()
                self._sleeping_until = self._heap[0][0] if self._heap else math.inf
                self._wake.wait(self._sleeping_until - now if self._heap else None)
                self._sleeping_until = -math.inf  # awake: arm() need not notify

    @staticmethod
    def _interrupt(deadline: Deadline) -> None:
        # Under the lock, so that detach/disarm cannot close the duplicate
        # between the check and the shutdown. shutdown() does not block, and
        # acts on the socket itself, which the driver's descriptor shares.
        if deadline._fd < 0:
            return
        sock = socket.socket(fileno=deadline._fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the peer: the blocked read has its error already
        finally:
            sock.detach()  # the descriptor is closed by detach/disarm, as always


#: The process-wide watchdog every store uses.
watchdog = Watchdog()
