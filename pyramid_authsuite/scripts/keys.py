"""``authsuite gen-secret`` and ``authsuite gen-keypair``: key material for every scheme."""
from __future__ import annotations

import argparse
import os
import secrets
from typing import Any

# generate_private_key stays importable from here (bench/jwt_peers.py uses it).
from pyramid_authsuite.keys import generate_private_key, private_pem, public_pem

__all__ = ["KEY_KINDS", "cmd_gen_keypair", "cmd_gen_secret", "generate_private_key", "register", "secret_length"]

#: What ``--kind`` offers: Ed25519, RSA 3072 bits (RFC 8725 and NIST: at least 2048), EC P-256.
KEY_KINDS = ("ed25519", "rsa", "ec")


def cmd_gen_secret(args: argparse.Namespace) -> str:
    """A fresh secret: 32 random bytes as 64 hex characters (what ``env:`` / ``file:`` settings read)."""
    return secrets.token_hex(args.bytes)


def cmd_gen_keypair(args: argparse.Namespace) -> str:
    """Write ``<name>.pem`` (private, mode 0600) and ``<name>.pub.pem`` (public) into ``--out``."""
    from pyramid_authsuite.scripts.cli import CommandError

    os.makedirs(args.out, exist_ok=True)
    name = args.name or f"authsuite-{args.kind}"
    private_path = os.path.join(args.out, f"{name}.pem")
    public_path = os.path.join(args.out, f"{name}.pub.pem")
    for path in (private_path, public_path):
        if os.path.exists(path):
            raise CommandError(f"{path} exists; not overwriting a key")
    key = generate_private_key(args.kind)
    # Created 0600 from the start, so the private key is never readable by others.
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_pem(key))
    with open(public_path, "xb") as handle:
        handle.write(public_pem(key))
    return f"private key: {private_path}\npublic key: {public_path}"


MIN_SECRET_BYTES = 32
MAX_SECRET_BYTES = 128


def secret_length(text: str) -> int:
    """``--bytes``: a whole number in range; the error states the range, not every allowed value."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not MIN_SECRET_BYTES <= number <= MAX_SECRET_BYTES:
        raise argparse.ArgumentTypeError(f"{number} is out of range: give {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}")
    return number


def register(commands: Any) -> None:
    secret = commands.add("gen-secret", cmd_gen_secret, "Print a fresh random secret (hex).", ini=False, user=False)
    secret.add_argument("--bytes", type=secret_length, default=MIN_SECRET_BYTES, metavar="N",
                        help=f"random bytes ({MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}, default {MIN_SECRET_BYTES})")
    pair = commands.add("gen-keypair", cmd_gen_keypair, "Write a new key pair as PEM files.", ini=False, user=False)
    pair.add_argument("--kind", required=True, choices=KEY_KINDS)
    pair.add_argument("--out", default=".", help="directory to write into (default: the current one)")
    pair.add_argument("--name", help="file name stem (default authsuite-<kind>)")
