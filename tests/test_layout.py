"""The package's import rules (README, "Development"), checked on the source.

- protocol modules (each scheme's ``protocol.py`` and whatever it imports from
  its own folder) import nothing from Pyramid, Cornice or WebOb;
- schemes (``basic``, ``hawk``, ``hmac``, ``jwt``, ``challenge``) do not
  import each other;
- shared modules (everything outside the scheme folders except the places
  that assemble the package: ``__init__``, ``demo``, ``revocation``,
  ``scripts/``) import no scheme;
- the identity-lifecycle packages (``admin/``, ``mfa/``, ``oauth/``) use the
  schemes' public pieces (the JWT issuer, Hawk sessions, the account store),
  never a scheme's policy module;
- no module is over 600 lines.

Every import is read from the syntax tree, those inside functions included,
so a lazy import cannot hide a dependency.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pyramid_authsuite"
SCHEMES = ("basic", "hawk", "hmac", "jwt", "challenge")
# Modules that put the package together, and so may name every scheme.
ASSEMBLERS = ("pyramid_authsuite", "pyramid_authsuite.demo", "pyramid_authsuite.scripts", "pyramid_authsuite.revocation")
# Packages built on the schemes: they may import a scheme's public modules, not its policy.
LIFECYCLE = ("pyramid_authsuite.admin", "pyramid_authsuite.mfa", "pyramid_authsuite.oauth")
WEB_FRAMEWORK = ("pyramid", "cornice", "pyramid_multiauth")
MAX_LINES = 600
# Modules still over the bound, each waiting on its split (issue 11: hawk's
# header parsing and the client plumbing every client shares). The test fails
# when one of them gets under the bound, so the list can only shrink.
OVERSIZED: set[str] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, name: str, is_package: bool) -> set[str]:
    """Every module ``source`` imports (absolute names; relative ones resolved)."""
    found: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def scheme_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "pyramid_authsuite" and parts[1] in SCHEMES else None


def is_under(module: str, prefixes) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def violations(modules: dict[str, tuple[set[str], int]]) -> list[str]:
    """The broken rules, given each module's imports and line count."""
    problems = []
    protocol_modules = set()
    for name in modules:
        if name.rsplit(".", 1)[-1] == "protocol" and scheme_of(name):
            pending = [name]
            while pending:
                current = pending.pop()
                if current in protocol_modules:
                    continue
                protocol_modules.add(current)
                pending.extend(
                    other for other in modules[current][0]
                    if other in modules and scheme_of(other) == scheme_of(name)
                )
    for name, (imported, lines) in sorted(modules.items()):
        if lines > MAX_LINES and name not in OVERSIZED:
            problems.append(f"{name} has {lines} lines (at most {MAX_LINES})")
        own_scheme = scheme_of(name)
        for other in sorted(imported):
            other_scheme = scheme_of(other)
            if name in protocol_modules and is_under(other, WEB_FRAMEWORK):
                problems.append(f"protocol module {name} imports {other}")
            if own_scheme and other_scheme and other_scheme != own_scheme:
                problems.append(f"scheme {own_scheme} imports scheme {other_scheme} ({name} -> {other})")
            if own_scheme is None and other_scheme and is_under(name, LIFECYCLE):
                if other.split(".")[2:3] == ["policy"]:
                    problems.append(f"{name} imports the {other_scheme} policy ({other})")
            elif own_scheme is None and other_scheme and not (name in ASSEMBLERS or is_under(name, ASSEMBLERS[2:])):
                problems.append(f"shared module {name} imports scheme {other_scheme} ({other})")
    return problems


def package_modules() -> dict[str, tuple[set[str], int]]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        name = module_name(path)
        modules[name] = (imports_of(source, name, path.name == "__init__.py"), len(source.splitlines()))
    return modules


def test_the_package_keeps_its_import_rules():
    assert violations(package_modules()) == []


def test_the_list_of_oversized_modules_only_shrinks():
    modules = package_modules()
    assert [name for name in sorted(OVERSIZED) if name in modules and modules[name][1] <= MAX_LINES] == []


def test_every_scheme_has_a_protocol_module_that_was_checked():
    modules = package_modules()
    for scheme in SCHEMES:
        assert f"pyramid_authsuite.{scheme}.protocol" in modules


@pytest.mark.parametrize(
    "module, source, broken",
    [
        ("pyramid_authsuite.hawk.protocol", "from pyramid.request import Request", "protocol module"),
        ("pyramid_authsuite.hawk.protocol", "def f():\n    import cornice", "protocol module"),
        ("pyramid_authsuite.jwt.views", "x = 1\n" * 700, "has 700 lines"),
        ("pyramid_authsuite.jwt.policy", "from pyramid_authsuite.hawk import sessions", "scheme jwt imports scheme hawk"),
        ("pyramid_authsuite.jwt.policy", "from ..hawk import sessions", "scheme jwt imports scheme hawk"),
        ("pyramid_authsuite.cache.memory", "import pyramid_authsuite.basic.policy", "shared module"),
        ("pyramid_authsuite.policy", "from .challenge import protocol", "shared module"),
        ("pyramid_authsuite.admin.views", "from pyramid_authsuite.jwt.policy import X", "imports the jwt policy"),
        ("pyramid_authsuite.admin.views", "from pyramid_authsuite.jwt import policy", "imports the jwt policy"),
    ],
)
def test_a_broken_rule_is_reported(module, source, broken):
    modules = package_modules()
    modules[module] = (
        imports_of(source, module, False) | modules.get(module, (set(), 0))[0], len(source.splitlines())
    )
    assert any(broken in problem for problem in violations(modules))


def test_a_helper_module_of_a_protocol_is_held_to_the_protocol_rule():
    modules = package_modules()
    modules["pyramid_authsuite.hawk.protocol"] = (
        modules["pyramid_authsuite.hawk.protocol"][0] | {"pyramid_authsuite.hawk.header_helper"}, 10
    )
    modules["pyramid_authsuite.hawk.header_helper"] = ({"pyramid.response"}, 10)
    assert "protocol module pyramid_authsuite.hawk.header_helper imports pyramid.response" in violations(modules)


def test_lifecycle_packages_may_use_public_scheme_modules():
    modules = package_modules()
    modules["pyramid_authsuite.admin.views"] = ({"pyramid_authsuite.hawk.sessions", "pyramid_authsuite.jwt.issuer"}, 10)
    assert not [problem for problem in violations(modules) if "admin.views" in problem]


def test_assemblers_may_name_every_scheme():
    modules = package_modules()
    modules["pyramid_authsuite.scripts.cli"] = ({"pyramid_authsuite.hawk.sessions"}, 10)
    assert not [problem for problem in violations(modules) if "scripts.cli" in problem]
