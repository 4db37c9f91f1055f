"""Keys made with ``cryptography`` (not by our code), answers computed from the
README's message format with the standard library and ``cryptography`` directly,
and the demo app configured for challenge-response."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from pyramid_authsuite.challenge.policy import ChallengeAuthenticationPolicy

PASSWORD = "correct horse battery"
SETTINGS = {
    "authsuite.endpoints": "challenges hawk_sessions",
    "multiauth.policies": "challenge hawk basic",
    "multiauth.policy.challenge.use": "pyramid_authsuite.ChallengeAuthenticationPolicy",
    "multiauth.policy.challenge.realm": "challenge-test",
    "multiauth.policy.hawk.use": "pyramid_authsuite.HawkAuthenticationPolicy",
    "multiauth.policy.basic.use": "pyramid_authsuite.BasicAuthenticationPolicy",
}
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def public_pem(private_key: Any) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(private_key: Any) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_keys() -> dict[str, Any]:
    """One client key of each kind, as a client would hold them."""
    return {
        "hmac": secrets.token_hex(32).encode("ascii"),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


def material(kind: str, key: Any) -> bytes:
    """What the server stores for a client key."""
    return key if kind == "hmac" else public_pem(key)


def message(challenge_id: str, key_id: str, challenge: str) -> bytes:
    # Written out from the README, not imported from the protocol module.
    return b"authsuite-challenge-v1\n" + challenge_id.encode() + b"\n" + key_id.encode() + b"\n" + challenge.encode()


def independent_answer(kind: str, key: Any, challenge_id: str, key_id: str, served: str) -> str:
    if kind == "hmac":
        return hmac.new(key, message(challenge_id, key_id, served), hashlib.sha256).hexdigest()
    if kind == "ed25519":
        return base64.b64encode(key.sign(message(challenge_id, key_id, served))).decode()
    plaintext = key.decrypt(base64.b64decode(served), OAEP)
    return base64.urlsafe_b64encode(plaintext).rstrip(b"=").decode()


def header(challenge_id: str, key_id: str, response: str) -> dict[str, str]:
    return {"Authorization": f'Challenge id="{challenge_id}", key_id="{key_id}", response="{response}"'}


def get_challenge(app, key_id: str, status: int = 201, **extra: Any) -> dict[str, Any]:
    response = app.post_json("/challenges", {"key_id": key_id, **extra}, status=status)
    return response.json


def answered(app, kind: str, key: Any, key_id: str) -> dict[str, str]:
    issued = get_challenge(app, key_id)
    return header(issued["challenge_id"], key_id, independent_answer(kind, key, issued["challenge_id"], key_id, issued["challenge"]))


def problem_code(response) -> str:
    assert response.content_type == "application/problem+json", response.content_type
    return json.loads(response.body)["type"].rsplit(":", 1)[1]


def challenge_policy(app) -> ChallengeAuthenticationPolicy:
    return app.app.registry.authsuite_security_policy.get_policy(ChallengeAuthenticationPolicy)
