"""``protocol`` is a re-export: every name it offered before the split is still there, and is the module's own.

The tests of each part live beside it: ``test_errors``, ``test_model``,
``test_components``, ``test_structured``, ``test_base``, ``test_digest``,
``test_verify``, ``test_sign`` (shared vectors and helpers in ``common``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pyramid_authsuite.hmac import base, components, digest, errors, model, protocol, sign, structured, verify

MODULES = (errors, model, components, structured, base, digest, verify, sign)
# What ``from pyramid_authsuite.hmac.protocol import ...`` offered before the
# split: ``__all__`` and the public limits (the policy and the client use some).
PUBLIC = sorted(protocol.__all__) + [
    "Component", "MAX_COMPONENTS", "MAX_KEYID_LENGTH", "MAX_STRUCTURED_FIELD_LENGTH", "MIN_HMAC_KEY_LENGTH",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_protocol_re_exports_each_public_name_from_its_module(name):
    homes = [module for module in MODULES if name in vars(module) and name in getattr(module, "__all__", ())]
    assert len(homes) == 1, name
    assert getattr(protocol, name) is getattr(homes[0], name)


def test_protocol_is_only_a_re_export():
    tree = ast.parse(Path(protocol.__file__).read_text())
    statements = [node for node in tree.body if not isinstance(node, ast.Expr)]  # the docstring
    assert all(isinstance(node, (ast.ImportFrom, ast.Assign)) for node in statements)
    assert {node.module for node in statements if isinstance(node, ast.ImportFrom)} <= {
        "__future__", *(module.__name__ for module in MODULES)
    }


def test_no_hmac_module_imports_pyramid():
    # The protocol modules are tested against the RFCs and peers alone.
    for module in (protocol, *MODULES):
        tree = ast.parse(Path(module.__file__).read_text())
        for node in ast.walk(tree):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            assert not any(name.split(".")[0] in ("pyramid", "cornice") for name in names), module.__name__
