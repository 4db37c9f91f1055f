"""Real server processes for end-to-end tests: ``pserve`` on free 127.0.0.1 ports."""
from __future__ import annotations

import os
import subprocess
import sys
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
