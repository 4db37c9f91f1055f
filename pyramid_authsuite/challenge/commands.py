"""``authsuite add-key``, ``list-keys``, ``remove-key`` and ``answer-challenge``."""
from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
from typing import Any

from pyramid_authsuite.challenge import protocol


def _command_error(message: str) -> Exception:
    from pyramid_authsuite.scripts.cli import CommandError

    return CommandError(message)


def _read_source(option: str, source: str) -> bytes:
    """``env:NAME`` or ``file:PATH``; literals are refused, since the command
    line is visible to every user of the machine (``ps``)."""
    from pyramid_authsuite.exceptions import SettingError
    from pyramid_authsuite.settings import as_secret

    if not source.startswith(("env:", "file:")):
        raise _command_error(f"{option}: give env:NAME or file:PATH (a key on the command line would show in ps)")
    try:
        return as_secret(option, source)
    except SettingError as error:
        raise _command_error(str(error)) from None


def _read_file(option: str, path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(1 << 20)
    except OSError as error:
        raise _command_error(f"{option}: cannot read {path}: {error.strerror}") from None


def fingerprint(kind: str, material: bytes) -> str:
    """``SHA256:<base64>`` of a public key's DER, as OpenSSH shows fingerprints; ``-`` for secrets."""
    if kind == "hmac":
        return "-"  # a secret's hash would let anyone holding the list test guesses
    import base64

    from pyramid_authsuite import keys

    der = keys.spki_der(protocol.load_public_key(kind, material))
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def cmd_add_key(args: argparse.Namespace) -> str:
    from pyramid_authsuite.accounts import AccountNotFound, KeyExists
    from pyramid_authsuite.scripts.cli import _userid, open_store

    userid = _userid(args)
    key_id = args.key_id or f"key-{secrets.token_hex(8)}"
    if protocol.KEY_ID_PATTERN.fullmatch(key_id) is None:
        raise _command_error("--key-id: 1 to 128 letters, digits or . _ ~ : @ + -, starting with a letter or digit")
    generated = None
    if args.kind == "hmac":
        if args.public_key_file:
            raise _command_error("--public-key-file is for ed25519 and rsa keys; an hmac key is a shared secret")
        if args.secret:
            material = _read_source("--secret", args.secret)
        else:
            # 64 hex characters; the text itself is the secret (as with gen-secret).
            generated = secrets.token_hex(32)
            material = generated.encode("ascii")
    else:
        if args.secret:
            raise _command_error("--secret is for hmac keys; give --public-key-file for ed25519 and rsa")
        if not args.public_key_file:
            raise _command_error(f"--public-key-file is required for {args.kind} keys (authsuite gen-keypair writes one)")
        material = _read_file("--public-key-file", args.public_key_file)
    try:
        material = protocol.normalize_key_material(args.kind, material)
    except protocol.KeyMaterialError as error:
        raise _command_error(f"refused: {error}") from None
    store = open_store(args.ini)
    try:
        store.add_key(userid, key_id, args.kind, material)
    except AccountNotFound:
        raise _command_error(f"no user {userid!r}") from None
    except KeyExists:
        raise _command_error(f"key id {key_id!r} is taken") from None
    lines = [f"added {args.kind} key {key_id!r} to {userid!r}"]
    if generated is not None:
        lines.append(f"secret: {generated}")
        lines.append("(shown this once: give it to the client, e.g. as env:NAME or file:PATH)")
    elif args.kind != "hmac":
        lines.append(f"fingerprint: {fingerprint(args.kind, material)}")
    return "\n".join(lines)


def cmd_list_keys(args: argparse.Namespace) -> str:
    from pyramid_authsuite.scripts.cli import _userid, open_store

    userid = _userid(args)
    store = open_store(args.ini)
    if store.get(userid) is None:
        raise _command_error(f"no user {userid!r}")
    rows = []
    for key in store.list_keys(userid):
        try:
            print_ = fingerprint(key.kind, key.material)
        except protocol.KeyMaterialError:
            print_ = "(unusable material)"
        rows.append({
            "key_id": key.key_id,
            "kind": key.kind,
            "fingerprint": print_,
            "created_at": key.created_at.isoformat() if key.created_at else None,
        })
    if args.json:
        return json.dumps(rows, indent=2)
    if not rows:
        return f"no keys for {userid!r}"
    return "\n".join(f"{row['key_id']}\t{row['kind']}\t{row['fingerprint']}\t{row['created_at'] or '-'}" for row in rows)


def cmd_remove_key(args: argparse.Namespace) -> str:
    from pyramid_authsuite.scripts.cli import open_store

    if not open_store(args.ini).remove_key(args.key_id):
        raise _command_error(f"no key {args.key_id!r}")
    # Pending challenges for it now fail: the key is looked up at each answer.
    return f"removed key {args.key_id!r}"


def _challenge_fields(args: argparse.Namespace, stdin: Any) -> tuple[str, str, str]:
    """(challenge_id, challenge, algorithm) from --challenge-json, stdin, or the separate options."""
    if args.challenge_id or args.challenge:
        if not (args.challenge_id and args.challenge):
            raise _command_error("give both --challenge-id and --challenge (or the JSON of POST /challenges)")
        return args.challenge_id, args.challenge, args.algorithm or ""
    source = args.challenge_json or "-"
    if source == "-" and getattr(stdin, "isatty", lambda: False)():
        raise _command_error("pipe the JSON of POST /challenges in, or give --challenge-json FILE or --challenge-id and --challenge")
    text = stdin.read(1 << 16) if source == "-" else _read_file("--challenge-json", source).decode("utf-8", "replace")
    try:
        body = json.loads(text)
        fields = body["challenge_id"], body["challenge"], body.get("algorithm", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _command_error("expected the JSON POST /challenges returns ({\"challenge_id\", \"challenge\", \"algorithm\", ...})") from None
    if not all(isinstance(field, str) for field in fields):
        raise _command_error("challenge_id, challenge and algorithm are strings")
    return fields


def cmd_answer_challenge(args: argparse.Namespace, stdin: Any = None) -> str:
    """Print the ``Authorization`` value answering a challenge (for curl)."""
    challenge_id, challenge, algorithm = _challenge_fields(args, stdin or sys.stdin)
    kind = args.kind
    if algorithm:
        try:
            served_kind = protocol.kind_of_algorithm(algorithm)
        except protocol.ChallengeError:
            raise _command_error(f"unknown algorithm {algorithm[:40]!r}") from None
        if kind and kind != served_kind:
            raise _command_error(f"the challenge is for a {served_kind} key, not {kind} (wrong key id?)")
        kind = served_kind
    if not kind:
        raise _command_error("--kind is needed when the challenge's algorithm is not given")
    if protocol.KEY_ID_PATTERN.fullmatch(args.key_id) is None:
        raise _command_error("--key-id: malformed key id")
    try:
        key = protocol.load_private_key(kind, _read_source("--key", args.key))
        response = protocol.answer(kind, key, challenge_id, args.key_id, challenge)
    except protocol.KeyMaterialError as error:
        raise _command_error(f"--key: {error}") from None
    except protocol.ChallengeError as error:
        raise _command_error(str(error)) from None
    except ValueError:
        raise _command_error("the challenge id or the challenge is malformed") from None
    return protocol.authorization_header(challenge_id, args.key_id, response)


def register(commands: Any) -> None:
    add = commands.add("add-key", cmd_add_key, "Register a challenge-response key on an account.")
    add.add_argument("--kind", required=True, choices=protocol.KINDS)
    add.add_argument("--key-id", help="the key id clients send (default: key-<16 random hex digits>)")
    add.add_argument("--public-key-file", help="ed25519 / rsa: the client's public key, PEM (gen-keypair's .pub.pem)")
    add.add_argument("--secret", help="hmac: use this secret (env:NAME or file:PATH, 32+ bytes) instead of generating one")
    listing = commands.add("list-keys", cmd_list_keys, "List an account's challenge-response keys.")
    listing.add_argument("--json", action="store_true", help="print JSON")
    remove = commands.add("remove-key", cmd_remove_key, "Remove a challenge-response key.", user=False)
    remove.add_argument("--key-id", required=True)
    answer = commands.add(
        "answer-challenge", cmd_answer_challenge,
        "Print the Authorization header value answering a challenge (the JSON of POST /challenges on stdin, "
        "or --challenge-json FILE, or --challenge-id and --challenge).",
        ini=False, user=False,
    )
    answer.add_argument("--key-id", required=True)
    answer.add_argument("--key", required=True, help="env:NAME or file:PATH: the hmac secret, or the PEM private key")
    answer.add_argument("--kind", choices=protocol.KINDS, help="the key's kind (default: from the challenge's algorithm)")
    answer.add_argument("--challenge-json", help="file holding the JSON of POST /challenges ('-': stdin, the default)")
    answer.add_argument("--challenge-id")
    answer.add_argument("--challenge", help="the challenge as served (encrypted, for rsa)")
    answer.add_argument("--algorithm", help="the challenge's algorithm, with --challenge-id")
