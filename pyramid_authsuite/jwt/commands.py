"""``authsuite issue-token``: an access token for an account, signed as ``POST /tokens`` signs it."""
from __future__ import annotations

import argparse
from typing import Any


def jwt_policies_from_ini(ini: str, settings: dict[str, Any], name: str | None = None) -> list[tuple[str, Any]]:
    """Build the ini's JWT policies (``multiauth.policy.<name>.*``) as the server would: ``[(name, policy)]``.

    In ``multiauth.policies`` order; only the one called ``name`` if given.
    """
    from pyramid.path import DottedNameResolver
    from pyramid_multiauth import get_policy_definitions

    from pyramid_authsuite.exceptions import SettingError
    from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy
    from pyramid_authsuite.scripts.cli import CommandError

    definitions = get_policy_definitions(settings)
    resolver = DottedNameResolver()
    found = []
    for policy_name in settings.get("multiauth.policies", "").split():
        definition = dict(definitions.get(policy_name, {}))
        use = definition.pop("use", None)
        if use is None or (name is not None and policy_name != name):
            continue
        try:
            factory = resolver.maybe_resolve(use)
        except ImportError:
            continue
        if isinstance(factory, type) and issubclass(factory, JWTAuthenticationPolicy):
            try:
                found.append((policy_name, factory(**definition)))
            except SettingError as error:
                raise CommandError(f"bad configuration in {ini}: multiauth.policy.{policy_name}.{error.key}: {error.message}") from None
    if not found:
        which = f"named {name!r} " if name else ""
        raise CommandError(f"{ini} configures no JWT policy {which}(multiauth.policy.<name>.use = pyramid_authsuite.JWTAuthenticationPolicy)")
    return found


def cmd_issue_token(args: argparse.Namespace) -> str:
    """Print an access token (only the token, so ``TOKEN=$(authsuite issue-token ...)`` works)."""
    from pyramid_authsuite.jwt.settings import MAX_ACCESS_TOKEN_TTL_SECONDS, MIN_ACCESS_TOKEN_TTL_SECONDS
    from pyramid_authsuite.scripts.cli import CommandError, _userid, load_ini_settings, open_backends

    userid = _userid(args)
    settings = load_ini_settings(args.ini)
    backends = open_backends(args.ini)
    policies = jwt_policies_from_ini(args.ini, settings, args.policy)
    # The policies only carry the parsed settings and keys: signing is the issuer's.
    signing = [(name, policy.token_issuer) for name, policy in policies if policy.token_issuer.can_issue(backends)]
    if not signing:
        names = ", ".join(repr(name) for name, _ in policies)
        raise CommandError(f"JWT policy {names} has no signing key (it verifies only: jwks_url or a public key)")
    name, issuer = signing[0]
    ttl = args.ttl if args.ttl is not None else issuer.settings.access_token_ttl_seconds
    # The bounds of access_token_ttl_seconds: a token from the CLI is no different from one from POST /tokens.
    if not MIN_ACCESS_TOKEN_TTL_SECONDS <= ttl <= MAX_ACCESS_TOKEN_TTL_SECONDS:
        raise CommandError(
            f"--ttl is {MIN_ACCESS_TOKEN_TTL_SECONDS} to {MAX_ACCESS_TOKEN_TTL_SECONDS} seconds"
            " (the bounds of access_token_ttl_seconds)"
        )
    account = backends.authsuite_accounts.get(userid)
    if account is None or account.disabled:
        raise CommandError(f"no enabled user {userid!r}")
    return issuer.issue_token(backends, account, ttl=ttl)["access_token"]


def register(commands: Any) -> None:
    issue = commands.add(
        "issue-token", cmd_issue_token, "Print a JWT access token for an account (signed as POST /tokens signs)."
    )
    issue.add_argument("--ttl", type=int, help="lifetime in seconds, within the bounds of access_token_ttl_seconds (default: its value)")
    issue.add_argument("--policy", help="the multiauth policy name, when several JWT policies are configured")
