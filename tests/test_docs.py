"""The README and the changelog are valid reStructuredText (a malformed table renders as an error block)."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def parse_strictly(text: str, source: str = "<text>") -> None:
    """Parse ``text``; docutils raises ``SystemMessage`` on any warning or error."""
    from docutils.core import publish_doctree

    publish_doctree(
        text,
        source_path=source,
        settings_overrides={"halt_level": 2, "report_level": 5, "warning_stream": io.StringIO()},
    )


@pytest.mark.parametrize("name", ["README.rst", "CHANGELOG.rst"])
def test_document_parses_without_warnings(name):
    from docutils.utils import SystemMessage

    try:
        parse_strictly((ROOT / name).read_text(encoding="utf-8"), name)
    except SystemMessage as error:
        pytest.fail(f"{name}: {error}")


def test_a_malformed_table_is_caught():
    from docutils.utils import SystemMessage

    # A middle column's text running into the margin, as a README row once did.
    broken = "=== === ===\na   b   c\n=== === ===\nd   toolong f\n=== === ===\n"
    with pytest.raises(SystemMessage):
        parse_strictly(broken)
