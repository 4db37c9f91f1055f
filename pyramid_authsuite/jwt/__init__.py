"""JWT bearer tokens: RFC 6750 ``Authorization: Bearer``, RFC 7519 tokens, RFC 8725 rules.

- :mod:`.protocol`: parsing and verifying a compact JWS and its claims (no Pyramid);
- :mod:`.keys`: the configured keys (secret, PEM files, ``keys`` for rotation, JWKS);
- :mod:`.settings`: :class:`~pyramid_authsuite.jwt.settings.JWTSettings`, the configuration parsed once;
- :mod:`.policy`: :class:`~pyramid_authsuite.jwt.policy.JWTAuthenticationPolicy`, verification;
- :mod:`.issuer`: :class:`~pyramid_authsuite.jwt.issuer.TokenIssuer`, signing, revocation, JWKS (no policy needed);
- :mod:`.views`: ``POST /tokens``, ``DELETE /tokens/current``, ``GET /.well-known/jwks.json``;
- :mod:`.commands`: ``authsuite issue-token``.
"""
