"""pyramid_authsuite: Basic, Hawk, HTTP Message Signatures, JWT and challenge-response
authentication for Pyramid, composed with pyramid_multiauth in one ini file.

Use it with ``pyramid.includes = pyramid_authsuite`` (or
``config.include("pyramid_authsuite")``) and name policies the way
pyramid_multiauth documents::

    multiauth.policies = basic
    multiauth.policy.basic.use = pyramid_authsuite.BasicAuthenticationPolicy
    multiauth.policy.basic.realm = myapi
"""
from __future__ import annotations

from typing import Any

from pyramid.authorization import ACLHelper
from pyramid.exceptions import ConfigurationError
from pyramid.interfaces import PHASE2_CONFIG, IAuthenticationPolicy
from pyramid_multiauth import get_policy_definitions, policy_factory_from_module

from pyramid_authsuite.accounts import AccountStore
from pyramid_authsuite.basic.policy import BasicAuthenticationPolicy
from pyramid_authsuite.cache import Cache, cache_from_url
from pyramid_authsuite.challenge.policy import ChallengeAuthenticationPolicy
from pyramid_authsuite.exceptions import BackendUnavailable, SettingError
from pyramid_authsuite.hawk.policy import HawkAuthenticationPolicy
from pyramid_authsuite.hmac.policy import HMACAuthenticationPolicy
from pyramid_authsuite.identity import Identity
from pyramid_authsuite.jwt.policy import JWTAuthenticationPolicy
from pyramid_authsuite.security import AuthSuiteSecurityPolicy, challenge_view, problem
from pyramid_authsuite.settings import ENDPOINTS, AuthSuiteSettings, parse_settings

__all__ = [
    "BasicAuthenticationPolicy",
    "HawkAuthenticationPolicy",
    "JWTAuthenticationPolicy",
    "HMACAuthenticationPolicy",
    "ChallengeAuthenticationPolicy",
    "AuthSuiteSecurityPolicy",
    "Identity",
    "includeme",
    "make_cache",
    "make_account_store",
    "load_settings",
]


def load_settings(settings: dict[str, Any]) -> AuthSuiteSettings:
    """Parse ``authsuite.*`` settings, turning a bad value into a ConfigurationError."""
    try:
        return parse_settings(settings)
    except SettingError as error:
        raise ConfigurationError(str(error)) from None


def make_cache(settings: AuthSuiteSettings) -> Cache:
    """The cache backend ``authsuite.cache_url`` names, checked once now.

    A Redis server that could evict keys (``maxmemory-policy`` other than
    ``noeviction``) is a ConfigurationError here when
    ``authsuite.cache_eviction_check = refuse``; one that cannot be reached
    yet is not (it is checked on every connection the cache opens).
    """
    from pyramid_authsuite.cache import CacheMisconfigured

    try:
        cache = cache_from_url(
            settings.cache_url,
            prefix=settings.cache_prefix,
            max_entries=settings.cache_max_entries,
            timeout_seconds=settings.cache_timeout_seconds,
            eviction_check=settings.cache_eviction_check,
        )
    except ValueError as error:
        raise ConfigurationError(f"authsuite.cache_url: {error}") from None
    try:
        cache.check_configuration()
    except CacheMisconfigured as error:
        cache.close()
        raise ConfigurationError(f"authsuite.cache_eviction_check: {error}") from None
    return cache


def make_account_store(settings: AuthSuiteSettings) -> AccountStore:
    """The account store ``authsuite.accounts_url`` names, with the configured hashing cost and
    time limits. A missing driver (psycopg) is a one-line ``MissingDatabaseDriver`` naming the setting."""
    from pyramid_authsuite.accounts import MissingDatabaseDriver
    from pyramid_authsuite.accounts.passwords import PasswordHasher
    from pyramid_authsuite.accounts.sql import SQLAccountStore

    try:
        hasher = PasswordHasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_cost,
            parallelism=settings.password_parallelism,
        )
    except ValueError as error:
        raise ConfigurationError(f"authsuite.password_*: {error}") from None
    try:
        return SQLAccountStore(
            settings.accounts_url,
            hasher,
            connect_timeout_seconds=settings.accounts_connect_timeout_seconds,
            timeout_seconds=settings.accounts_timeout_seconds,
        )
    except MissingDatabaseDriver as error:
        # Same class (one line under pserve, see its docstring), naming the setting.
        raise MissingDatabaseDriver(f"authsuite.accounts_url: {error}") from None


def backend_unavailable_view(request: Any):
    """A backend outage outside the policies (in an endpoint, say) is a 503 too."""
    return problem(
        503,
        "unavailable",
        "The authentication service is temporarily unavailable.",
        [("Retry-After", str(request.registry.authsuite_settings.retry_after_seconds))],
    )


def includeme(config: Any) -> None:
    """Parse the settings once, build the backends, set the security policy and the challenge view."""
    registry = config.registry
    if getattr(registry, "authsuite_settings", None) is not None:
        # Included twice (pyramid.includes and config.include): Pyramid runs
        # includeme each time, but one set of backends and policies is enough.
        return
    parsed = load_settings(config.get_settings())
    registry.authsuite_settings = parsed
    registry.authsuite_cache = make_cache(parsed)
    registry.authsuite_accounts = make_account_store(parsed)
    # A password change, disabling, a change of roles or tenant and deletion
    # end the account's credentials at once on every process sharing the
    # cache (JWTs issued before, Hawk sessions, remembered Basic logins),
    # whoever makes the change through the store (the CLI, the admin API,
    # application code): see pyramid_authsuite.revocation.
    from pyramid_authsuite.revocation import end_credentials

    registry.authsuite_accounts.on_change(lambda userid: end_credentials(registry, userid))

    built_policies = _configure_multiauth(config)
    config.add_forbidden_view(challenge_view)
    config.add_exception_view(backend_unavailable_view, context=BackendUnavailable)
    config.add_tween("pyramid_authsuite.hawk.policy.server_authorization_tween_factory")
    config.add_view_deriver("pyramid_authsuite.hmac.views.services_view_deriver", name="authsuite_services")
    _configure_endpoints(config, parsed, built_policies)


def _configure_endpoints(config: Any, parsed: AuthSuiteSettings, built_policies: list[Any] | None) -> None:
    """Register the credential endpoints ``authsuite.endpoints`` lists (see ``settings.ENDPOINTS``).

    ``built_policies``: every configured policy, when all were built at
    include time (else None), so an endpoint without its policy can be
    refused now, in one line, rather than from a deferred action.
    """
    if not parsed.endpoints:
        return
    from cornice.pyramidhook import register_service_views

    if not hasattr(config.registry, "cornice_services"):
        config.registry.cornice_services = {}
    from pyramid_authsuite.endpoints import add_endpoint_error_views

    required = {}
    services = []
    for name in parsed.endpoints:
        factory_name, policy_name = ENDPOINTS[name]
        # A factory makes one Cornice service, or a list of them.
        made = config.maybe_dotted(factory_name)(parsed)
        for service in made if isinstance(made, list) else [made]:
            services.append(service)
            register_service_views(config, service)
        if policy_name is not None:
            required[name] = config.maybe_dotted(policy_name)
    add_endpoint_error_views(config, services)

    def check_policies(policies: list[Any]) -> None:
        # Once the policies exist: an endpoint without its scheme is a typo
        # that would otherwise surface as a 500 at the first request.
        for name, policy_class in required.items():
            if not any(isinstance(policy, policy_class) for policy in policies):
                raise ConfigurationError(
                    f"authsuite.endpoints: {name} needs a pyramid_authsuite.{policy_class.__name__} in multiauth.policies"
                )

    if built_policies is not None:
        check_policies(built_policies)
    else:  # some policy comes from an included module: only known at commit time
        config.action(
            None,
            lambda: check_policies([policy for _, policy in config.registry.authsuite_security_policy.get_policies()]),
            order=PHASE2_CONFIG + 1,
        )


def _configure_multiauth(config: Any) -> list[Any] | None:
    """pyramid_multiauth's own ``includeme``, with our security policy class.

    Returns the policies when all of them were built at include time (every
    one named by ``use``), else None.

    The ``multiauth.*`` settings mean exactly what pyramid_multiauth documents.
    What differs: the security policy is :class:`AuthSuiteSecurityPolicy`, the
    default authorization is Pyramid 2's ``ACLHelper`` (no deprecated
    ``IAuthorizationPolicy`` is registered), and a policy's bad setting is a
    ConfigurationError naming ``multiauth.policy.<name>.<key>``.
    """
    settings = config.get_settings()
    authz_name = settings.get("multiauth.authorization_policy")
    authz_policy = config.maybe_dotted(authz_name)() if authz_name else ACLHelper()
    groupfinder = config.maybe_dotted(settings.get("multiauth.groupfinder"))
    definitions = get_policy_definitions(settings)

    # Like pyramid_multiauth: build the factories in reverse order so that
    # included modules earlier in the list override later ones, and collect
    # the policies at commit time, after every include has run. Unlike it,
    # policies named by ``use`` are constructed here, at include time, so a
    # bad setting is a one-line ConfigurationError raised by ``includeme``
    # itself (an error inside a deferred action reaches the operator wrapped
    # in Pyramid's multi-line ConfigurationExecutionError). Each factory is a
    # callable without arguments returning the policy.
    factories = []
    built_policies: list[Any] = []
    deferred = False
    for name in reversed(settings.get("multiauth.policies", "").split()):
        if name in definitions:
            definition = dict(definitions[name])
            if "use" not in definition:
                raise ConfigurationError(f"multiauth.policy.{name}.use is required")
            dotted = definition.pop("use")
            try:
                factory = config.maybe_dotted(dotted)
            except (ImportError, AttributeError, ValueError):
                raise ConfigurationError(f"multiauth.policy.{name}.use: cannot import {dotted!r}") from None
            built = _build_policy(factory, name, definition)
            built_policies.append(built)
            factories.append((lambda built=built: built, name))
        else:
            try:
                factory = policy_factory_from_module(config, name)
            except ImportError:
                raise ConfigurationError(
                    f"multiauth.policies: {name!r} has no multiauth.policy.{name}.* settings and is not importable"
                ) from None
            factories.append((factory, name))
            deferred = True

    policies: list[Any] = []

    def build_policies() -> None:
        for factory, name in factories:
            policy = factory()
            if policy and (not policies or policy is not policies[0]):
                policy._pyramid_multiauth_name = name
                policies.insert(0, policy)

    config.action(None, build_policies, order=PHASE2_CONFIG)
    # As pyramid_multiauth does: swallow the authentication policies that
    # included modules try to register, so they do not fight our policy.
    config.action(IAuthenticationPolicy, lambda: None, order=PHASE2_CONFIG)
    security_policy = AuthSuiteSecurityPolicy(policies, groupfinder, authz_policy)
    config.registry.authsuite_security_policy = security_policy
    config.set_security_policy(security_policy)
    return None if deferred else built_policies


def _build_policy(factory: Any, name: str, kwargs: dict[str, str]) -> Any:
    """``factory(**kwargs)`` for ``multiauth.policy.<name>.*``; a bad setting is a
    one-line ConfigurationError naming ``multiauth.policy.<name>.<key>``."""
    import inspect

    try:
        parameters = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a C callable): let the call judge
        parameters = None
    if parameters is not None and not any(p.kind is p.VAR_KEYWORD for p in parameters):
        accepted = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            # Checked before the call, so a typo reads as the setting it is,
            # not as "__init__() got an unexpected keyword argument".
            raise ConfigurationError(
                f"multiauth.policy.{name}.{unknown[0]}: unknown setting (multiauth.policy.{name}: "
                f"{getattr(factory, '__name__', factory)} takes {', '.join(accepted) or 'no settings'})"
            )
    try:
        return factory(**kwargs)
    except SettingError as error:
        raise ConfigurationError(f"multiauth.policy.{name}.{error.key}: {error.message}") from None
    except (TypeError, ValueError) as error:
        raise ConfigurationError(f"multiauth.policy.{name}: {error}") from None
