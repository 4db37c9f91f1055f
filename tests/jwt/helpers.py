"""Keys, PEM files and tokens for the JWT tests. Tokens are made by PyJWT directly, never by our code."""
from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

PASSWORD = "correct horse battery"
SECRET = "an HS256 test secret of more than 32 bytes"  # 42 bytes


@functools.lru_cache(maxsize=None)
def private_key(kind: str, index: int = 0) -> Any:
    """A private key, generated once per test session (RSA generation is slow)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def private_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_pem(key: Any) -> bytes:
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_pems(directory: Path, name: str, key: Any) -> tuple[str, str]:
    """``(private_path, public_path)`` of ``key`` written as PEM files."""
    private_path, public_path = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private_path.write_bytes(private_pem(key))
    public_path.write_bytes(public_pem(key))
    return str(private_path), str(public_path)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "alice", "iat": now, "exp": now + 600}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def token(key: Any, algorithm: str, payload: dict[str, Any] | None = None, **headers: Any) -> str:
    """A token signed by PyJWT itself."""
    return jwt.encode(payload if payload is not None else claims(), key, algorithm=algorithm, headers=headers or None)


def b64(data: bytes | dict) -> str:
    import base64

    if isinstance(data, dict):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def problem_code(response) -> str:
    assert response.content_type == "application/problem+json"
    return response.json["type"].rsplit(":", 1)[1]


def bearer_challenge(response) -> str:
    """The ``WWW-Authenticate: Bearer ...`` challenge of a 401."""
    challenges = [value for value in response.headers.getall("WWW-Authenticate") if value.startswith("Bearer ")]
    assert len(challenges) == 1, response.headers
    return challenges[0]


def jwt_settings(**policy: Any) -> dict[str, Any]:
    """The demo's settings with one JWT policy (``multiauth.policy.jwt.<name>``) beside Basic."""
    settings = {
        "authsuite.endpoints": "tokens jwks",
        "multiauth.policies": "jwt basic",
        "multiauth.policy.jwt.use": "pyramid_authsuite.JWTAuthenticationPolicy",
        "multiauth.policy.jwt.realm": "jwt-test",
        "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
    }
    settings.update({f"multiauth.policy.jwt.{name}": value for name, value in policy.items()})
    return settings
