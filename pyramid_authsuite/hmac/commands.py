"""``authsuite sign``: the signature headers for a request, to paste into curl."""
from __future__ import annotations

import argparse
import shlex
from typing import Any


def load_signing_key(source: str, algorithm: str) -> Any:
    """The key ``--key`` names (``env:NAME``, ``file:PATH`` or a literal), for ``algorithm``."""
    from pyramid_authsuite.exceptions import SettingError
    from pyramid_authsuite.scripts.cli import CommandError
    from pyramid_authsuite.settings import as_secret

    try:
        material = as_secret("--key", source)
    except SettingError as error:
        raise CommandError(str(error)) from None
    if algorithm == "hmac-sha256":
        return material
    from pyramid_authsuite.keys import KeyMaterialError, load_private_pem

    try:
        return load_private_pem(material, ("ed25519",))
    except KeyMaterialError as error:
        if error.reason == "kind":
            raise CommandError(f"--key: {error}") from None
        raise CommandError("--key: not a PEM private key (authsuite gen-keypair --kind ed25519 writes one)") from None


def cmd_sign(args: argparse.Namespace) -> str:
    from urllib.parse import urlsplit

    from pyramid_authsuite.hmac.protocol import sign_request
    from pyramid_authsuite.scripts.cli import CommandError

    if urlsplit(args.url).scheme not in ("http", "https"):
        raise CommandError(f"not an http(s) URL: {args.url}")
    body = b""
    if args.data is not None:
        if args.data.startswith("@"):
            try:
                with open(args.data[1:], "rb") as handle:
                    body = handle.read()
            except OSError as error:
                raise CommandError(f"cannot read {args.data[1:]}: {error.strerror}") from None
        else:
            body = args.data.encode("utf-8")
    components = ["@method", "@authority", "@target-uri"] + (["content-digest"] if body else [])
    try:
        headers = sign_request(
            args.method.upper(), args.url, {}, body, keyid=args.keyid,
            key=load_signing_key(args.key, args.algorithm), algorithm=args.algorithm, components=components,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    # One line, so that `eval "curl $(authsuite sign ...) URL"` works.
    return " ".join(f"-H {shlex.quote(f'{name}: {value}')}" for name, value in headers.items())


def register(commands: Any) -> None:
    sign = commands.add(
        "sign", cmd_sign, "Print RFC 9421 signature headers for a request, as curl -H options.", ini=False, user=False
    )
    sign.add_argument("--keyid", required=True)
    sign.add_argument("--key", required=True, help="env:NAME, file:PATH or a literal (secret, or Ed25519 private key PEM)")
    sign.add_argument("--algorithm", default="hmac-sha256", choices=("hmac-sha256", "ed25519"))
    sign.add_argument("--data", help="the body: a string, or @FILE (sign exactly what curl will send)")
    sign.add_argument("method", metavar="METHOD")
    sign.add_argument("url", metavar="URL")
