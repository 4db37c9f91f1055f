"""Real server processes for tests, on free 127.0.0.1 ports, stopped by pid:
``pserve``; a TCP proxy that can fall silent; a throwaway PostgreSQL cluster
(that the fail-closed tests may stop with ``SIGSTOP``, unlike the shared one)."""
from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port


def script(name: str) -> str:
    """A console script installed next to this Python (``authsuite``, ``pserve``)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        pytest.skip(f"{name} is not installed next to this Python (pip install -e .)")
    return path


class PserveServers:
    """Starts ``pserve INI http_port=<free port>`` processes and stops them all.

    The ini's ``[server:main]`` must listen on ``127.0.0.1:%(http_port)s``.
    """

    def __init__(self, ini: Path):
        self.ini = ini
        self.processes: list[subprocess.Popen] = []

    def start(self) -> str:
        """Start one more server; return its base URL once it answers."""
        port = free_port()
        server = subprocess.Popen([script("pserve"), str(self.ini), f"http_port={port}"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.processes.append(server)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(base + "/", timeout=1)
                return base
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("pserve did not start: " + server.stdout.read().decode(errors="replace"))
                time.sleep(0.1)

    def stop(self) -> None:
        for server in self.processes:
            server.terminate()
        for server in self.processes:
            server.wait(timeout=10)


def call_bounded(function, seconds: float = 30):
    """``function()``, failing the test instead of hanging it if it has not
    returned within ``seconds`` (a hang guard, not a timing assertion).

    The call runs on a daemon thread, so that a call that never returns
    (the bug under test) does not keep pytest from exiting either.
    """
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as error:  # handed to the test below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"still blocked after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class SilentProxy:
    """A TCP proxy on a free 127.0.0.1 port in front of ``upstream`` that can fall silent.

    While :meth:`silence` is in force it still accepts connections (the kernel
    completes the handshake and acknowledges whatever the client sends) but
    forwards nothing in either direction, on new and on established
    connections alike: a peer that acknowledges and never answers, as a wedged
    pooler or a stopped server is. :meth:`resume` lets the held bytes through.
    """

    def __init__(self, upstream: tuple[str, int], *, silent: bool = False):
        self.upstream = upstream
        self._flowing = threading.Event()
        if not silent:
            self._flowing.set()
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._accepted = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def silence(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def accepted(self) -> int:
        """How many client connections the proxy has accepted so far."""
        with self._lock:
            return self._accepted

    def close(self) -> None:
        self._closed = True
        self._flowing.set()  # let the pumps see the end
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        with self._lock:
            self._accepted += 1
        self._flowing.wait()  # silent: not even connected upstream yet
        try:
            server = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        self._track(server)
        threading.Thread(target=self._pump, args=(server, client), daemon=True).start()
        self._pump(client, server)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._closed:
                self._flowing.wait()
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    break
                self._flowing.wait()  # fell silent meanwhile: hold the bytes
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


class ThrowawayPostgres:
    """A private PostgreSQL cluster (initdb + pg_ctl) in a temporary folder, on a free port.

    For tests that stop the server or its backends, which must never touch the
    shared one. Run as the ``postgres`` user when this process is root
    (``initdb`` refuses root). Trust authentication, loopback only, no fsync.
    """

    def __init__(self) -> None:
        self.port = 0
        self.folder = ""

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start a throwaway PostgreSQL")
            prefix = [runuser, "-u", "postgres", "--"]
        subprocess.run(prefix + list(command), check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if not (POSTGRES_BIN / "initdb").exists():
            pytest.skip(f"no PostgreSQL server binaries in {POSTGRES_BIN}")
        self.folder = tempfile.mkdtemp(prefix="authsuite-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        data = os.path.join(self.folder, "data")
        self._run(str(POSTGRES_BIN / "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                  "--no-sync", "--locale=C", "-E", "UTF8")
        self.port = free_port()
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   f"-c fsync=off -c full_page_writes=off")
        self._run(str(POSTGRES_BIN / "pg_ctl"), "-D", data, "-o", options, "-l",
                  os.path.join(self.folder, "log"), "-w", "-t", "60", "start")

    def postmaster_pid(self) -> int:
        with open(os.path.join(self.folder, "data", "postmaster.pid")) as pid_file:
            return int(pid_file.readline())

    def pids(self) -> list[int]:
        """The postmaster and all its children (backends and auxiliary processes)."""
        parent = self.postmaster_pid()
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        # "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
                        ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid == parent:
                    children.append(int(entry))
        return [parent] + children

    def signal_all(self, signum: int) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        if not self.folder:
            return
        try:
            try:
                self.signal_all(signal.SIGCONT)  # a stopped cluster cannot shut down
            except OSError:
                pass  # no postmaster.pid: it is not running
            self._run(str(POSTGRES_BIN / "pg_ctl"), "-D", os.path.join(self.folder, "data"),
                      "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = ""
