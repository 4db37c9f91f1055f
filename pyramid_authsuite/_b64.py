"""base64url (RFC 4648 section 5), written once for every scheme.

The schemes meet it in three forms:

* unpadded and canonical: challenge ids and answers, JWK members, the
  segments of a JWT (RFC 7515 section 2 "Base64url Encoding": no ``=``) --
  :func:`b64url_decode` with its defaults;
* unpadded, any spelling of the last character -- ``canonical=False``, for
  callers where nothing is keyed on the spelling;
* padded or not: Hawk bewits, which the reference implementation sends
  without padding and mohawk with it (``padded=True`` tolerates up to two
  trailing ``=``).

Every form refuses characters outside the base64url alphabet (``+``, ``/``,
blanks, newlines, non-ASCII: RFC 4648 section 3.3 lets a decoder refuse
them, and a lenient one gives two spellings to one value) and lengths no
encoding has (``len % 4 == 1``). Errors are ``ValueError`` with a message that
echoes nothing of the input.

Hot paths that hold many segments (a JWT's three) can translate a whole
string once with :data:`URL_TO_STANDARD` (or a table from
:func:`url_to_standard_table` that keeps their own separators), look for
:data:`INVALID` once, and decode each piece with :func:`decode_translated`.
Stdlib only: no scheme and no web framework is imported here.
"""
from __future__ import annotations

import binascii

__all__ = [
    "INVALID",
    "URL_TO_STANDARD",
    "b64url_decode",
    "basic_credentials",
    "b64url_encode",
    "decode_translated",
    "url_to_standard_table",
]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: The byte every character outside the alphabet is translated to: ``!``,
#: which no base64 text holds, so one ``in`` test finds any of them.
INVALID = ord("!")
# Padding to append to an unpadded standard-base64 text, by its length % 4
# (1 is no encoding's length and is refused before this is used).
_PADDING = (b"", b"", b"==", b"=")
# a2b_base64 wants the standard alphabet: "-" and "_" become "+" and "/".
_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")


def url_to_standard_table(keep: bytes = b"") -> bytes:
    """A ``bytes.translate`` table: base64url to standard base64, anything else to :data:`INVALID`.

    ``keep``
        Bytes outside the alphabet to leave as they are (``b"."`` for a
        compact JWS, so the whole token is checked and translated in one C
        pass, then split on the dots).

    One translation does both the alphabet check and the conversion; the
    caller then tests ``INVALID in translated`` once.
    """
    if INVALID in keep or any(byte in _ALPHABET or byte in b"+/=" for byte in keep):
        raise ValueError("keep only separators outside the base64 alphabets")
    return bytes(
        {ord("-"): ord("+"), ord("_"): ord("/")}.get(byte, byte if byte in _ALPHABET or byte in keep else INVALID)
        for byte in range(256)
    )


#: :func:`url_to_standard_table` keeping nothing: the plain alphabet check.
URL_TO_STANDARD = url_to_standard_table()


def decode_translated(segment: bytes) -> bytes:
    """Decode an unpadded segment already translated with a table of :func:`url_to_standard_table`.

    ``segment``
        Standard-alphabet bytes the caller has already checked hold no
        :data:`INVALID` (nor any byte it kept).

    Refuses (``ValueError``) the lengths no encoding has; any spelling of the
    last character is accepted (the non-canonical ones carry non-zero unused
    bits, which are dropped).
    """
    remainder = len(segment) % 4
    if remainder == 1:
        raise ValueError("invalid base64url length")
    # The alphabet is checked and the padding is right: a2b_base64 cannot
    # fail, but its error is a ValueError too.
    return binascii.a2b_base64(segment + _PADDING[remainder])


def b64url_encode(data: bytes, *, padded: bool = False) -> str:
    """base64url text of ``data``.

    ``data``
        The bytes to encode (or a bytes-like object).
    ``padded``
        Keep the ``=`` padding (RFC 4648 section 5 form); by default it is
        stripped, as JOSE, challenge-response and the Hawk reference's bewits
        write it.
    """
    text = binascii.b2a_base64(data, newline=False).translate(_TO_URL)
    if not padded:
        text = text.rstrip(b"=")
    return text.decode("ascii")


def b64url_decode(text: str, *, padded: bool = False, canonical: bool = True) -> bytes:
    """Strictly decode base64url ``text``; ``ValueError`` if it is not.

    ``text``
        A ``str`` (anything else is refused).
    ``padded``
        Tolerate up to two trailing ``=`` (what mohawk's bewits carry),
        whether or not they are the right number, after at least one
        character of the alphabet; by default any ``=`` is refused.
    ``canonical``
        Refuse the spellings whose unused bits are not zero, so that one
        value has one text (what :func:`b64url_encode` writes). ``False``
        accepts them, dropping those bits.
    """
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("not base64url")
    raw = text.encode("ascii")
    if padded and raw[-1:] == b"=":
        stripped = raw.rstrip(b"=")
        if len(raw) - len(stripped) > 2 or not stripped:
            raise ValueError("not base64url")
        raw = stripped
    translated = raw.translate(URL_TO_STANDARD)
    if INVALID in translated:
        raise ValueError("not base64url")
    data = decode_translated(translated)
    if canonical and len(raw) % 4 and binascii.b2a_base64(data, newline=False).rstrip(b"=") != translated:
        raise ValueError("not canonical base64url")
    return data


def basic_credentials(userid: str, password: str) -> str:
    """``Basic <base64(userid ":" password)>``, the credentials as UTF-8 (RFC 7617 section 2.1).

    Standard base64 (RFC 4648 section 4), not base64url: Basic is the one
    scheme here that uses it. Arguments: ``userid`` and ``password``; the
    caller checks what it needs (a client refuses a ``:`` in the user-id).
    """
    return "Basic " + binascii.b2a_base64(f"{userid}:{password}".encode("utf-8"), newline=False).decode("ascii")
