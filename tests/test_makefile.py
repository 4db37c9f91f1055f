"""The README's two commands (``make serve``, ``make test``) started at the same time.

The Makefile is run for real, by make, in a copy of the project's build files;
only the Python it calls is a stand-in (a shell script) so that the test needs
no network and can see what was called and whether two installs overlapped.
The stand-in's ``pip install`` takes a moment and notices when another one is
running in the same venv, which is what broke ``.venv`` before the lock.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("flock") is None, reason="needs make and flock (util-linux)"
)

# `python3 -m venv [--clear] DIR` makes DIR/bin/python, itself this script.
FAKE_PYTHON = r"""#!/bin/sh
log="$FAKE_LOG"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    shift 2
    [ "$1" = "--clear" ] && { rm -rf "$2"; shift; }
    echo "venv $1" >> "$log"
    mkdir -p "$1/bin"
    cp "$0" "$1/bin/python"
    printf '#!/bin/sh\necho serving\n' > "$1/bin/pserve"
    chmod +x "$1/bin/python" "$1/bin/pserve"
    exit 0
fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
    here="$(dirname "$0")"
    if ! mkdir "$here/../pip-running" 2>/dev/null; then
        echo "OVERLAP" >> "$log"; exit 1
    fi
    echo "pip $*" >> "$log"
    sleep 0.5
    rmdir "$here/../pip-running"
    exit 0
fi
if [ "$1" = "-m" ] && [ "$2" = "pytest" ]; then
    echo "pytest" >> "$log"; exit 0
fi
echo "unexpected: $*" >> "$log"; exit 2
"""


@pytest.fixture
def project(tmp_path):
    for name in ("Makefile", "setup.cfg", "setup.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    python = tmp_path / "fake-python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    log = tmp_path / "calls.log"
    log.touch()
    return tmp_path, python, log


def run_make(project_dir: Path, python: Path, log: Path, *targets: str) -> subprocess.Popen:
    env = dict(os.environ, FAKE_LOG=str(log), MAKEFLAGS="")
    return subprocess.Popen(
        ["make", "--no-print-directory", f"PYTHON={python}", *targets],
        cwd=project_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=120)
    return process.returncode, output


def test_serve_and_test_started_together_build_one_venv(project):
    project_dir, python, log = project
    serve = run_make(project_dir, python, log, "serve")
    test = run_make(project_dir, python, log, "test")
    (serve_status, serve_out), (test_status, test_out) = finish(serve), finish(test)
    calls = log.read_text().splitlines()
    assert serve_status == 0, serve_out
    assert test_status == 0, test_out
    assert "OVERLAP" not in calls
    assert [call for call in calls if call.startswith("venv")] == ["venv .venv"]
    assert "serving" in serve_out and "pytest" in calls
    assert (project_dir / ".venv" / ".installed").exists()


def test_a_second_install_does_nothing(project):
    project_dir, python, log = project
    assert finish(run_make(project_dir, python, log, "install"))[0] == 0
    calls_after_first = log.read_text()
    assert finish(run_make(project_dir, python, log, "install"))[0] == 0
    assert log.read_text() == calls_after_first


def test_an_interrupted_install_is_started_again_from_scratch(project):
    project_dir, python, log = project
    # What an interrupted build leaves: a venv without the stamp, and junk in it.
    (project_dir / ".venv" / "bin").mkdir(parents=True)
    (project_dir / ".venv" / "half-installed").touch()
    status, output = finish(run_make(project_dir, python, log, "install"))
    assert status == 0, output
    assert not (project_dir / ".venv" / "half-installed").exists()
    assert (project_dir / ".venv" / ".installed").exists()


def test_a_changed_setup_cfg_reinstalls_without_a_new_venv(project):
    project_dir, python, log = project
    assert finish(run_make(project_dir, python, log, "install"))[0] == 0
    stamp = project_dir / ".venv" / ".installed"
    old = stamp.stat().st_mtime - 10
    os.utime(stamp, (old, old))
    log.write_text("")
    assert finish(run_make(project_dir, python, log, "install"))[0] == 0
    calls = log.read_text().splitlines()
    assert not [call for call in calls if call.startswith("venv")]
    assert [call for call in calls if call.startswith("pip") and "-e" in call]


def test_clean_keeps_the_demo_data(project):
    project_dir, python, log = project
    assert finish(run_make(project_dir, python, log, "install"))[0] == 0
    (project_dir / "authsuite.sqlite").write_bytes(b"accounts and the server secret")
    status, output = finish(run_make(project_dir, python, log, "clean"))
    assert status == 0, output
    assert not (project_dir / ".venv").exists()
    assert (project_dir / "authsuite.sqlite").read_bytes() == b"accounts and the server secret"

