"""Without the ``postgresql`` extra, a PostgreSQL accounts URL is a one-line error
naming the setting and the extra, from the CLI and from ``pserve`` alike (issue 10).

psycopg is made unimportable in a subprocess by a ``sitecustomize`` module that
puts an import blocker first on ``sys.meta_path``: the same
``ModuleNotFoundError`` an install without the extra gives.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import free_port
from tests.servers import script

EXTRA = 'pip install "pyramid_authsuite[postgresql]"'

BLOCKER = '''\
import sys


class _WithoutPsycopg:
    """Imports of psycopg fail as they do when it is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("psycopg", "psycopg_binary", "psycopg_c"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _WithoutPsycopg())
'''


@pytest.fixture
def without_psycopg(tmp_path):
    """Environment variables for a subprocess in which psycopg cannot be imported."""
    folder = tmp_path / "blocker"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), environment.get("PYTHONPATH")]))
    check = subprocess.run([sys.executable, "-c", "import psycopg"], env=environment, capture_output=True, text=True)
    assert check.returncode != 0 and "No module named 'psycopg'" in check.stderr  # the blocker works
    return environment


@pytest.fixture
def ini(tmp_path):
    path = tmp_path / "postgresql.ini"
    path.write_text(textwrap.dedent("""\
        [app:main]
        use = egg:pyramid_authsuite#demo
        pyramid.includes = pyramid_authsuite
        authsuite.cache_url = memory://
        authsuite.accounts_url = postgresql://postgres@127.0.0.1:5432/test
        multiauth.policies = basic
        multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy

        [server:main]
        use = egg:waitress#main
        listen = 127.0.0.1:%(http_port)s
        """))
    return path


def assert_one_line(output: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output, output
    assert len(lines) == 1, output
    assert "authsuite.accounts_url" in lines[0] and EXTRA in lines[0], output
    assert "psycopg" in lines[0]


def test_cli_says_which_extra_to_install(without_psycopg, ini):
    result = subprocess.run(
        [script("authsuite"), "list-users", "--ini", str(ini)],
        env=without_psycopg, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert_one_line(result.stderr)


def test_pserve_says_which_extra_to_install(without_psycopg, ini):
    result = subprocess.run(
        [script("pserve"), str(ini), f"http_port={free_port()}"],
        env=without_psycopg, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert_one_line(result.stdout + result.stderr)


def test_the_error_is_a_configuration_error_that_exits_with_its_message():
    from pyramid.exceptions import ConfigurationError

    from pyramid_authsuite.accounts import MissingDatabaseDriver

    error = MissingDatabaseDriver("authsuite.accounts_url: needs psycopg")
    assert isinstance(error, ConfigurationError)  # what configuration code catches
    assert isinstance(error, SystemExit) and error.code == str(error)  # uncaught: one line, status 1
