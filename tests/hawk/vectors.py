"""Published Hawk vectors and peer requests the Hawk protocol tests share.

Sources of the fixed vectors:

* the Hawk README (hapijs/hawk, formerly hueniverse/hawk), "Protocol Example"
  and "Payload Validation";
* the Tent protocol's published Hawk test vectors (tent.io/docs/authentication,
  "Test Vectors"), for ``app``, ``Server-Authorization`` and a bewit without ext.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from pyramid_authsuite.hawk import protocol as P

# README "Protocol Example" credentials and request.
README_ID = "dh37fgj492je"
README_KEY = b"werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn"
README_TS = 1353832234
README_NONCE = "j4h3g2"
README_EXT = "some-app-ext-data"
README_RESOURCE = "/resource/1?b=1&a=2"
README_GET_MAC = "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="
README_GET_HEADER = (
    'Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", '
    'ext="some-app-ext-data", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="'
)
README_PAYLOAD = b"Thank you for flying Hawk"
README_PAYLOAD_HASH = "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="
README_POST_MAC = "aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw="
README_POST_HEADER = (
    'Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", '
    'hash="Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY=", ext="some-app-ext-data", '
    'mac="aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw="'
)
README_REQUEST = dict(method="GET", resource=README_RESOURCE, host="example.com", port=8000)

BOTH = frozenset({"sha1", "sha256"})


def verify_readme_get(header: str = README_GET_HEADER, **overrides) -> None:
    args = dict(
        key=README_KEY, algorithm="sha256", now=README_TS, skew_seconds=60, **README_REQUEST
    )
    args.update(overrides)
    P.verify_request(P.parse_authorization(header), **args)


def verify_readme_post(**overrides) -> None:
    args = dict(
        key=README_KEY, algorithm="sha256", method="POST", resource=README_RESOURCE,
        host="example.com", port=8000, now=README_TS, skew_seconds=60,
        content_type="text/plain", body=README_PAYLOAD,
    )
    args.update(overrides)
    P.verify_request(P.parse_authorization(README_POST_HEADER), **args)


def resource_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def header_attributes(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


TENT_KEY = b"HX9QcbD-r3ItFEnRcAuOSg"
TENT_BODY = b'{"type":"https://tent.io/types/status/v0#"}'
TENT_TYPE = "application/vnd.tent.post.v0+json"
TENT_REQUEST = dict(method="POST", resource="/posts", host="example.com", port=443)
TENT_APP_HEADER = (
    'Hawk id="exqbZWtykFZIh2D7cXi9dA", mac="2sttHCQJG9ejj1x7eCi35FP23Miu9VtlaUgwk68DTpM=", '
    'ts="1368996800", nonce="3yuYCD4Z", hash="neQFHgYKl/jFqDINrC21uLS0gkFglTz789rzcSr7HYU=", '
    'app="wn6yzHGe5TLaT-fvOPbAyQ"'
)
TENT_PLAIN_HEADER = (
    'Hawk id="exqbZWtykFZIh2D7cXi9dA", mac="OO2ldBDSw8KmNHlEdTC4BciIl8+uiuCRvCnJ9KkcR3Y=", '
    'ts="1368996800", nonce="3yuYCD4Z"'
)


MOHAWK_CREDS = {"id": "client-7", "key": "a shared secret, 32+ bytes of it!", "algorithm": "sha256"}
FIXED_TS = 1700000000

MOHAWK_REQUESTS = {
    "get-no-hash": dict(url="https://api.example.com/v1/items?limit=10&offset=0", method="GET",
                        always_hash_content=False),
    "get-empty-hash": dict(url="http://example.com/", method="GET", content=b"", content_type=""),
    "post-json-charset": dict(url="https://api.example.com:8443/v1/items", method="POST",
                              content=b'{"name": "caf\xc3\xa9", "n": 1}',
                              content_type="application/json; charset=utf-8"),
    "post-text": dict(url="http://localhost:6543/notes", method="POST",
                      content="Grüße, Hawk".encode("utf-8"), content_type="Text/Plain"),
    "put-ext": dict(url="http://example.com:8000/a/b?x=%20y", method="PUT", content=b"x",
                    content_type="application/octet-stream",
                    ext="user=7; scope=(read,write) [ok] {a|b} ~!@#$%^&*"),
    "app-dlg": dict(url="https://example.com/delegated", method="DELETE", always_hash_content=False,
                    app="app-42", dlg="owner-9"),
    "app-only": dict(url="https://example.com/app", method="PATCH", content=b"[]",
                     content_type="application/json", app="app-42"),
}


GOOD_MAC = README_GET_MAC
GOOD = f'id="a", ts="1353832234", nonce="n", mac="{GOOD_MAC}"'
